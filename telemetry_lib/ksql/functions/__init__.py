"""Scalar functions of the engine: a pure registry and polars implementations.

- ``registry.py``: parameter type patterns, signatures, ksqlDB's overload resolution (pure).
- ``builtins.py``: :data:`BUILTINS`, every built-in scalar function's overloads (pure).
- ``impl_*.py``: polars implementations, looked up by the signature's ``impl`` key through
  :func:`telemetry_lib.ksql.functions.impl_base.get_impl` (used by ``exec/expressions.py``).
- ``decimal_ops.py``: exact DECIMAL arithmetic and HALF_UP rounding on Int128 (shared with the
  expression compiler); ``datetime_format.py``: Java DateTimeFormatter -> chrono patterns.

Aggregate and table functions are not here yet (engine II).
"""

from __future__ import annotations

from telemetry_lib.ksql.functions.builtins import BUILTINS, build_registry
from telemetry_lib.ksql.functions.registry import FunctionRegistry, FunctionSignature, Resolution

__all__ = ["BUILTINS", "FunctionRegistry", "FunctionSignature", "Resolution", "build_registry"]
