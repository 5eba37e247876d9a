"""Structural rules of ARCHITECTURE.md §3, enforced: imports go downward only, polars stays out
of the SQL front end, each third-party client lives in one package, modules stay small.

Imports inside ``if TYPE_CHECKING:`` blocks are type-only and exempt from the layering rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "telemetry_lib"

# Layers, low to high: a module may import only from its own layer or below. Prefixes are
# matched longest-first. `ksql.runtime.io` sits low on purpose: it is the small I/O protocol
# both the operators and the runtimes depend on (it holds no logic).
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("telemetry_lib.errors", "telemetry_lib.config")),
    (1, ("telemetry_lib.kafka", "telemetry_lib.mongo", "telemetry_lib.ksql.types",
         "telemetry_lib.ksql.errors", "telemetry_lib.ksql.windows", "telemetry_lib.ksql.runtime.io")),
    (2, ("telemetry_lib.ksql.parser", "telemetry_lib.ksql.functions", "telemetry_lib.ksql.serde",
         "telemetry_lib.generator")),
    (3, ("telemetry_lib.ksql.catalog", "telemetry_lib.connectors")),
    (4, ("telemetry_lib.ksql.analyzer",)),
    (5, ("telemetry_lib.ksql.plan",)),
    (6, ("telemetry_lib.ksql.exec", "telemetry_lib.ksql.state")),
    (7, ("telemetry_lib.ksql.runtime",)),
    (8, ("telemetry_lib.ksql.engine", "telemetry_lib.ksql.commands")),
    (9, ("telemetry_lib.ksql.driver",)),
    # qtt/conformance sit with rest: the RQTT runner (qtt/rest_runner.py) serves the REST app.
    (10, ("telemetry_lib.ksql.rest", "telemetry_lib.ksql.client", "telemetry_lib.ksql.cli",
          "telemetry_lib.ksql.server", "telemetry_lib.ksql.qtt", "telemetry_lib.ksql.conformance")),
    (11, ("telemetry_lib.ksql",)),
    (12, ("telemetry_lib.services",)),
    (13, ("telemetry_lib.analytics", "telemetry_lib.charts", "telemetry_lib.demo",
          "telemetry_lib.cli", "telemetry_lib", "telemetry_lib.workbench")),
]

# Third-party clients and the only packages allowed to import them.
CLIENT_HOMES: dict[str, tuple[str, ...]] = {
    "confluent_kafka": ("telemetry_lib.kafka",),
    "pymongo": ("telemetry_lib.mongo",),
    "bson": ("telemetry_lib.mongo",),
    "starlette": ("telemetry_lib.ksql.rest", "telemetry_lib.connectors.rest"),
    "uvicorn": ("telemetry_lib.ksql.rest", "telemetry_lib.connectors.rest", "telemetry_lib.services"),
}
POLARS_FREE = ("telemetry_lib.ksql.parser", "telemetry_lib.ksql.analyzer", "telemetry_lib.ksql.plan")
MAX_LINES = 850  # "no module over ~800 lines": a little slack for docstrings


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    best: tuple[int, int] | None = None
    for level, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (level, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def _runtime_imports(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, int]]:
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    type_only.add(id(sub))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, node.lineno))
    return found


def _modules() -> list[tuple[Path, str, ast.Module]]:
    result = []
    for path in sorted(PACKAGE.rglob("*.py")):
        result.append((path, _module_name(path), ast.parse(path.read_text(), str(path))))
    return result


def test_imports_go_downward_only() -> None:
    violations = []
    for path, module, tree in _modules():
        own = _layer(module)
        for name, line in _runtime_imports(tree, module, path.name == "__init__.py"):
            if not name.startswith("telemetry_lib"):
                continue
            if name == module or module.startswith(name + ".") and name == "telemetry_lib":
                continue
            if _layer(name) > own:
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {name} (layer {_layer(name)} > {own})")
    assert not violations, "upward imports:\n" + "\n".join(violations)


def test_third_party_clients_stay_in_their_package() -> None:
    violations = []
    for path, module, tree in _modules():
        for name, line in _runtime_imports(tree, module, path.name == "__init__.py"):
            top = name.split(".")[0]
            homes = CLIENT_HOMES.get(top)
            if homes and not any(module == h or module.startswith(h + ".") for h in homes):
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {top}")
    assert not violations, "client imports outside their home package:\n" + "\n".join(violations)


def test_sql_front_end_is_polars_free() -> None:
    violations = []
    for path, module, tree in _modules():
        if not module.startswith(POLARS_FREE):
            continue
        for name, line in _runtime_imports(tree, module, path.name == "__init__.py"):
            if name.split(".")[0] == "polars":
                violations.append(f"{path.relative_to(ROOT)}:{line}")
    assert not violations, "polars imported in parser/analyzer/plan:\n" + "\n".join(violations)


def test_modules_stay_small() -> None:
    large = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for path, _, _ in _modules()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert not large, "split these modules by construct:\n" + "\n".join(large)


def test_every_package_declares_its_public_api() -> None:
    missing = [
        str(init.relative_to(ROOT))
        for init in sorted(PACKAGE.rglob("__init__.py"))
        if "__all__" not in init.read_text()
    ]
    assert not missing, "packages without __all__:\n" + "\n".join(missing)
