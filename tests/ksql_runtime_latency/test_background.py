"""Background: one call on a helper thread, its value or its error handed to the joining thread."""

from __future__ import annotations

import threading

import pytest

from telemetry_lib.ksql.runtime.background import Background


def test_result_is_the_calls_value_computed_on_another_thread() -> None:
    caller = threading.get_ident()
    call = Background(lambda: threading.get_ident(), "test-value")
    assert call.result() != caller
    assert call.done()


def test_an_error_is_raised_by_result_not_by_join() -> None:
    def fail() -> int:
        raise ValueError("broker said no")

    call = Background(fail, "test-error")
    call.join()  # waiting alone never raises: the caller decides when to take the error
    assert call.done()
    with pytest.raises(ValueError, match="broker said no"):
        call.result()


def test_done_is_false_while_the_call_runs() -> None:
    release = threading.Event()
    call = Background(lambda: release.wait(10), "test-running")
    assert not call.done()
    release.set()
    assert call.result() is True
