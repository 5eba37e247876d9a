"""The contract between the expression compiler and the polars function implementations.

Owns :class:`Arg`, :data:`Impl`, the implementation table and :func:`implementation` (decorator)
/ :func:`get_impl`. An implementation receives the compiled arguments (polars expressions over
the batch, their SQL types and, for constant arguments, the Python value) and the call's result
type, and returns the result expression, or ``(result, failure)`` where ``failure`` is a String
expression holding an error message on rows where the function failed (ksqlDB: the UDF threw)
and null elsewhere. The compiler turns failures into NULL plus a processing-log entry.

Null handling is each implementation's job and follows the ksqlDB UDF (most return NULL when
any argument is NULL, which polars operations do by themselves).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from telemetry_lib.ksql.errors import InternalError
from telemetry_lib.ksql.types import SqlType

__all__ = ["NOT_CONSTANT", "Arg", "Impl", "ImplResult", "get_impl", "implementation"]

logger = logging.getLogger(__name__)


class _NotConstant:
    def __repr__(self) -> str:
        return "NOT_CONSTANT"


#: ``Arg.constant`` of an argument that is not a literal.
NOT_CONSTANT = _NotConstant()


@dataclass(frozen=True)
class Arg:
    """One compiled argument."""

    expr: pl.Expr
    type: SqlType | None
    constant: object = NOT_CONSTANT

    @property
    def is_constant(self) -> bool:
        return self.constant is not NOT_CONSTANT


ImplResult = pl.Expr | tuple[pl.Expr, pl.Expr | None]
Impl = Callable[[Sequence[Arg], SqlType], ImplResult]

_IMPLS: dict[str, Impl] = {}


def implementation(*keys: str) -> Callable[[Impl], Impl]:
    """Register ``fn`` under each implementation key."""

    def register(fn: Impl) -> Impl:
        for key in keys:
            _IMPLS[key] = fn
        return fn

    return register


def get_impl(key: str) -> Impl:
    """The implementation registered under ``key`` (all ``impl_*`` modules are loaded)."""
    if not _IMPLS:
        _load()
    try:
        return _IMPLS[key]
    except KeyError:
        raise InternalError(f"no implementation registered for function key {key!r}") from None


def _load() -> None:
    from telemetry_lib.ksql.functions import (  # noqa: F401  (imported for registration)
        impl_collections,
        impl_datetime,
        impl_math,
        impl_string,
    )
