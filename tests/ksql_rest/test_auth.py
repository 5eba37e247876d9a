"""Basic auth on the REST server: ksqlDB's 401/403 bodies, open probe paths."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from telemetry_lib.ksql.client import KsqlClient, KsqlServerError
from telemetry_lib.ksql.rest import BasicAuthConfig, RestSettings, create_app, in_memory_backend
from telemetry_lib.ksql.rest.serve import ServerThread


@pytest.fixture()
def url() -> Iterator[str]:
    auth = BasicAuthConfig(
        users={"alice": "s3cret", "bob": "pw"},
        roles={"alice": frozenset({"admin"}), "bob": frozenset({"viewer"})},
        allowed_roles=frozenset({"admin"}),
    )
    app = create_app(in_memory_backend(), settings=RestSettings(auth=auth))
    with ServerThread(app) as server:
        yield server.url


def test_missing_and_wrong_credentials_get_401(url: str) -> None:
    for auth in (None, ("alice", "wrong"), ("nobody", "x")):
        response = httpx.get(url + "/info", auth=auth)
        assert response.status_code == 401
        assert response.json() == {
            "@type": "generic_error",
            "error_code": 40100,
            "message": "Unauthorized",
        }
        assert response.headers["www-authenticate"].startswith("Basic realm=")


def test_user_without_allowed_role_gets_403(url: str) -> None:
    response = httpx.post(url + "/ksql", json={"ksql": "SHOW STREAMS;"}, auth=("bob", "pw"))
    assert response.status_code == 403
    assert response.json() == {
        "@type": "generic_error",
        "error_code": 40300,
        "message": "Forbidden",
    }


def test_valid_user_and_open_probes(url: str) -> None:
    assert httpx.get(url + "/chc/ready").json() == {}
    client = KsqlClient(url, api_key="alice", api_secret="s3cret")
    assert client.list_streams() == []
    with pytest.raises(KsqlServerError) as caught:
        KsqlClient(url, api_key="alice", api_secret="nope").list_streams()
    assert caught.value.error_code == 40100
