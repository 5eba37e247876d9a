"""The scalar-function registry: signatures, overload resolution, implicit casts (pure, no polars).

Owns: parameter type patterns (:class:`PType` and friends), :class:`FunctionSignature`,
:class:`FunctionRegistry` and its :meth:`~FunctionRegistry.resolve`, which reproduces ksqlDB's
``UdfIndex`` rules and error wording:

1. Find every overload whose parameters accept the argument types *without* implicit casts
   (an untyped NULL accepts anything; generics bind to the first type they meet and must then
   match exactly). If none, try again allowing implicit casts (numeric widening
   INTEGER < BIGINT < DECIMAL < DOUBLE, and STRING to DATE/TIME/TIMESTAMP).
2. Rank candidates: non-variadic beats variadic, then more declared parameters, then fewer
   generic parameters. A unique best wins; a tie raises
   ``Function 'f' cannot be resolved due to ambiguous method parameters (...)``.
3. No candidate: ``Function 'f' does not accept parameters (...)``.

The polars implementations live in ``functions/impl_*.py``; a signature names its
implementation by the ``impl`` key. :data:`BUILTINS` (in ``functions/builtins.py``) is the
registry of every built-in function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from telemetry_lib.ksql.errors import AnalysisError
from telemetry_lib.ksql.types import (
    BaseType,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlPrimitive,
    SqlStruct,
    SqlType,
)

__all__ = [
    "FunctionRegistry",
    "FunctionSignature",
    "LambdaArg",
    "PAny",
    "PArray",
    "PBase",
    "PGeneric",
    "PIntervalUnit",
    "PLambda",
    "PMap",
    "PStruct",
    "PType",
    "Resolution",
    "UnitArg",
    "base_can_implicitly_cast",
    "parse_ptype",
    "return_type",
    "substitute",
]

logger = logging.getLogger(__name__)

# ksqlDB's numeric widening order (SqlBaseType declaration order restricted to numbers).
_NUMERIC_RANK = {BaseType.INTEGER: 0, BaseType.BIGINT: 1, BaseType.DECIMAL: 2, BaseType.DOUBLE: 3}
_TIME_BASES = (BaseType.DATE, BaseType.TIME, BaseType.TIMESTAMP)


# --------------------------------------------------------------------------------------
# Parameter type patterns
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PType:
    """Base of parameter type patterns."""

    def text(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class PBase(PType):
    """A primitive base type; DECIMAL matches any precision/scale."""

    base: BaseType

    def text(self) -> str:
        return self.base.value


@dataclass(frozen=True)
class PGeneric(PType):
    """A type variable (``T``, ``U``, ``K``, ``V``)."""

    name: str

    def text(self) -> str:
        return self.name


@dataclass(frozen=True)
class PArray(PType):
    element: PType

    def text(self) -> str:
        return f"ARRAY<{self.element.text()}>"


@dataclass(frozen=True)
class PMap(PType):
    key: PType
    value: PType

    def text(self) -> str:
        return f"MAP<{self.key.text()}, {self.value.text()}>"


@dataclass(frozen=True)
class PStruct(PType):
    """Any STRUCT."""

    def text(self) -> str:
        return "STRUCT<>"


@dataclass(frozen=True)
class PAny(PType):
    """Any type (no binding)."""

    def text(self) -> str:
        return "ANY"


@dataclass(frozen=True)
class PIntervalUnit(PType):
    """A time unit keyword argument (``DAYS``, ``HOURS``, ...)."""

    def text(self) -> str:
        return "INTERVALUNIT"


@dataclass(frozen=True)
class PLambda(PType):
    """A lambda taking ``inputs`` and returning ``result``."""

    inputs: tuple[PType, ...]
    result: PType

    def text(self) -> str:
        return f"LAMBDA<({', '.join(p.text() for p in self.inputs)}) => {self.result.text()}>"


@dataclass(frozen=True)
class LambdaArg:
    """An argument that is a lambda with ``n_inputs`` parameters (typed after resolution)."""

    n_inputs: int


@dataclass(frozen=True)
class UnitArg:
    """An argument that is a time-unit keyword."""

    unit: str


Arg = SqlType | None | LambdaArg | UnitArg
ReturnType = PType | Callable[[Sequence[SqlType | None], Mapping[str, SqlType]], SqlType]

# The last line of ksqlDB's function resolution errors.
_DESCRIBE_HINT = "\nFor detailed information on a function run: DESCRIBE FUNCTION <Function-Name>;"
_BASES = {b.value: b for b in BaseType}
_ALIASES = {"INT": "INTEGER", "VARCHAR": "STRING", "LONG": "BIGINT"}


def parse_ptype(text: str) -> PType:
    """Parse a pattern such as ``ARRAY<T>``, ``MAP<K, V>``, ``DECIMAL``, ``LAMBDA(T)->U``."""
    text = text.strip()
    upper = text.upper()
    if upper.startswith("LAMBDA("):
        close = upper.index(")")
        inner = text[len("LAMBDA(") : close]
        inputs = tuple(parse_ptype(p) for p in _split_top(inner)) if inner.strip() else ()
        result = parse_ptype(text[close + 1 :].strip().removeprefix("->"))
        return PLambda(inputs, result)
    if upper.startswith("ARRAY<"):
        return PArray(parse_ptype(text[6:-1]))
    if upper.startswith("MAP<"):
        key, value = _split_top(text[4:-1])
        return PMap(parse_ptype(key), parse_ptype(value))
    if upper == "STRUCT":
        return PStruct()
    if upper == "ANY":
        return PAny()
    if upper == "INTERVALUNIT":
        return PIntervalUnit()
    upper = _ALIASES.get(upper, upper)
    if upper in _BASES:
        return PBase(_BASES[upper])
    if len(upper) <= 2 and upper.isalpha():
        return PGeneric(upper)
    raise ValueError(f"bad parameter type pattern: {text!r}")


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def base_can_implicitly_cast(source: BaseType, target: BaseType) -> bool:
    """ksqlDB's SqlBaseType.canImplicitlyCast: same type, numeric widening, STRING to date/time."""
    if source is target:
        return True
    if source in _NUMERIC_RANK and target in _NUMERIC_RANK:
        return _NUMERIC_RANK[source] <= _NUMERIC_RANK[target]
    return source is BaseType.STRING and target in _TIME_BASES


# --------------------------------------------------------------------------------------
# Signatures
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSignature:
    """One overload. ``variadic``: the last parameter repeats zero or more times."""

    name: str
    params: tuple[PType, ...]
    returns: ReturnType
    impl: str
    variadic: bool = False
    description: str = ""

    def param_for(self, index: int) -> PType:
        """The declared parameter type of argument ``index`` (varargs repeat the last one)."""
        if self.variadic and index >= len(self.params) - 1:
            return self.params[-1]
        return self.params[index]

    def generic_count(self) -> int:
        return sum(1 for p in self.params if _has_generics(p))

    def text(self) -> str:
        parts = [p.text() for p in self.params]
        if self.variadic and parts:
            parts[-1] += "..."
        return f"{self.name}({', '.join(parts)})"


@dataclass(frozen=True)
class Resolution:
    """The chosen overload, the parameter type each argument must be converted to, the bindings
    of type variables, and the return type."""

    signature: FunctionSignature
    param_types: tuple[SqlType | None, ...]
    bindings: Mapping[str, SqlType]
    return_type: SqlType | None


@dataclass
class FunctionRegistry:
    """Scalar functions by upper-case name; ``display`` holds ksqlDB's spelling for messages."""

    signatures: dict[str, list[FunctionSignature]] = field(default_factory=dict)
    display: dict[str, str] = field(default_factory=dict)

    def register(self, sig: FunctionSignature, *, display: str | None = None) -> None:
        key = sig.name.upper()
        self.signatures.setdefault(key, []).append(sig)
        if display is not None or key not in self.display:
            self.display[key] = display or sig.name.lower()

    def is_function(self, name: str) -> bool:
        return name.upper() in self.signatures

    def names(self) -> list[str]:
        return sorted(self.signatures)

    def overloads(self, name: str) -> list[FunctionSignature]:
        return list(self.signatures.get(name.upper(), ()))

    def resolve(self, name: str, args: Sequence[Arg]) -> Resolution:
        """Choose the overload for ``args`` (see module doc); raises AnalysisError."""
        key = name.upper()
        sigs = self.signatures.get(key)
        shown = self.display.get(key, name)
        if not sigs:
            raise AnalysisError(
                f"Can't find any functions with the name '{name.upper()}'",
                hint="SHOW FUNCTIONS lists the available functions",
            )
        for allow_cast in (False, True):
            candidates: list[tuple[FunctionSignature, dict[str, SqlType]]] = []
            for sig in sigs:
                bindings = _match(sig, args, allow_cast)
                if bindings is not None:
                    candidates.append((sig, bindings))
            if not candidates:
                continue
            candidates.sort(key=_rank)
            if len(candidates) > 1 and _rank(candidates[-1]) == _rank(candidates[-2]):
                raise AnalysisError(
                    f"Function '{shown}' cannot be resolved due to ambiguous method parameters "
                    f"{_args_text(args)}.\n"
                    "Use CAST() to explicitly cast your parameters to one of the supported "
                    "function calls.\nValid function calls are:\n"
                    + "\n".join(s.text() for s in sigs)
                    + _DESCRIBE_HINT
                )
            sig, bindings = candidates[-1]
            return _resolution(sig, args, bindings)
        raise AnalysisError(
            f"Function '{shown}' does not accept parameters {_args_text(args)}.\n"
            "Valid alternatives are:\n" + "\n".join(s.text() for s in sigs) + _DESCRIBE_HINT
        )


def _rank(candidate: tuple[FunctionSignature, dict[str, SqlType]]) -> tuple[int, int, int]:
    sig = candidate[0]
    return (0 if sig.variadic else 1, len(sig.params), -sig.generic_count())


def _args_text(args: Sequence[Arg]) -> str:
    parts = []
    for a in args:
        if a is None:
            parts.append("null")
        elif isinstance(a, LambdaArg):
            parts.append("LAMBDA")
        elif isinstance(a, UnitArg):
            parts.append(a.unit)
        else:
            parts.append(a.sql().replace("`", ""))
    return "(" + ", ".join(parts) + ")"


def _has_generics(p: PType) -> bool:
    if isinstance(p, PGeneric):
        return True
    if isinstance(p, PArray):
        return _has_generics(p.element)
    if isinstance(p, PMap):
        return _has_generics(p.key) or _has_generics(p.value)
    if isinstance(p, PLambda):
        return any(_has_generics(i) for i in p.inputs) or _has_generics(p.result)
    return False


def _match(
    sig: FunctionSignature, args: Sequence[Arg], allow_cast: bool
) -> dict[str, SqlType] | None:
    n_fixed = len(sig.params) - 1 if sig.variadic else len(sig.params)
    if len(args) < n_fixed or (not sig.variadic and len(args) != n_fixed):
        return None
    bindings: dict[str, SqlType] = {}
    for i, arg in enumerate(args):
        if not _accepts(sig.param_for(i), arg, bindings, allow_cast):
            return None
    return bindings


def _accepts(param: PType, arg: Arg, bindings: dict[str, SqlType], allow_cast: bool) -> bool:
    if isinstance(arg, UnitArg) or isinstance(param, PIntervalUnit):
        return isinstance(arg, UnitArg) and isinstance(param, PIntervalUnit)
    if isinstance(arg, LambdaArg) or isinstance(param, PLambda):
        return (
            isinstance(arg, LambdaArg)
            and isinstance(param, PLambda)
            and arg.n_inputs == len(param.inputs)
        )
    if arg is None or isinstance(param, PAny):
        return True
    if _has_generics(param):
        return _bind(param, arg, bindings)
    if isinstance(param, PArray):
        return isinstance(arg, SqlArray) and _accepts(
            param.element, arg.element, bindings, allow_cast
        )
    if isinstance(param, PMap):
        return (
            isinstance(arg, SqlMap)
            and _accepts(param.key, arg.key, bindings, allow_cast)
            and _accepts(param.value, arg.value, bindings, allow_cast)
        )
    if isinstance(param, PStruct):
        return isinstance(arg, SqlStruct)
    if isinstance(param, PBase):
        if arg.base is param.base:
            return True
        return allow_cast and base_can_implicitly_cast(arg.base, param.base)
    return False


def _bind(param: PType, arg: SqlType, bindings: dict[str, SqlType]) -> bool:
    if isinstance(param, PGeneric):
        bound = bindings.get(param.name)
        if bound is None:
            bindings[param.name] = arg
            return True
        return bound == arg
    if isinstance(param, PArray):
        return isinstance(arg, SqlArray) and _bind(param.element, arg.element, bindings)
    if isinstance(param, PMap):
        return (
            isinstance(arg, SqlMap)
            and _bind(param.key, arg.key, bindings)
            and _bind(param.value, arg.value, bindings)
        )
    return _accepts(param, arg, bindings, False)


def substitute(p: PType, bindings: Mapping[str, SqlType]) -> SqlType | None:
    """The SqlType a pattern stands for under ``bindings`` (None when a variable is unbound or
    the pattern is not concrete, e.g. DECIMAL without precision)."""
    if isinstance(p, PGeneric):
        return bindings.get(p.name)
    if isinstance(p, PArray):
        el = substitute(p.element, bindings)
        return None if el is None else SqlArray(el)
    if isinstance(p, PMap):
        k, v = substitute(p.key, bindings), substitute(p.value, bindings)
        return None if k is None or v is None else SqlMap(k, v)
    if isinstance(p, PBase) and p.base is not BaseType.DECIMAL:
        return SqlPrimitive(p.base)
    return None


def _resolution(
    sig: FunctionSignature, args: Sequence[Arg], bindings: dict[str, SqlType]
) -> Resolution:
    param_types: list[SqlType | None] = []
    for i, arg in enumerate(args):
        p = sig.param_for(i)
        if isinstance(arg, (LambdaArg, UnitArg)):
            param_types.append(None)
            continue
        target = substitute(p, bindings)
        if (
            target is None
            and isinstance(p, PBase)
            and p.base is BaseType.DECIMAL
            and arg is not None
        ):
            target = arg if isinstance(arg, SqlDecimal) else _decimal_of(arg)
        if target is None:
            target = arg
        param_types.append(target)
    arg_types = [a if isinstance(a, SqlType) or a is None else None for a in args]
    return Resolution(
        sig, tuple(param_types), dict(bindings), return_type(sig, arg_types, bindings)
    )


def return_type(
    sig: FunctionSignature, arg_types: Sequence[SqlType | None], bindings: Mapping[str, SqlType]
) -> SqlType | None:
    """The return type of ``sig`` for ``arg_types``; None while a lambda's result type variable
    is still unbound (the analyzer binds it after typing the lambda body, then asks again)."""
    if isinstance(sig.returns, PType):
        return substitute(sig.returns, bindings)
    return sig.returns(arg_types, bindings)


def _decimal_of(t: SqlType) -> SqlType:
    if t.base is BaseType.INTEGER:
        return SqlDecimal(10, 0)
    if t.base is BaseType.BIGINT:
        return SqlDecimal(19, 0)
    return t


def signatures_text(sigs: Iterable[FunctionSignature]) -> str:
    """One overload per line, as DESCRIBE FUNCTION prints them."""
    return "\n".join(s.text() for s in sigs)
