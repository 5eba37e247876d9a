"""JSON format, vectorised decode: a whole Binary Series through polars' NDJSON reader.

Owns :func:`decode_fast`. The payloads are laid out as NDJSON (one payload per line, joined
with newlines) and read by ``pl.read_ndjson`` with an explicit schema, then
coerced to the SQL types with polars expressions. polars' reader is strict (an integer field
refuses ``1.7`` or ``"12"``), so anything it accepts has one meaning, and what it refuses goes
to the exact path (``json_exact``) — the oracle this module must agree with:

1. Rows the reader cannot see as one line (null, invalid UTF-8, raw CR/LF, escaped characters
   inside an object key) and, for wrapped values, payloads not starting with ``{`` (``null``,
   scalars, blanks) are set aside for the exact path up front.
2. Field names match case-insensitively: the JSON keys of a sample of rows give the spellings
   (``player_id`` for column ``PLAYER_ID``); each spelling becomes a schema field and the
   exact spelling wins, as in ksqlDB. A row whose value came out null is re-checked: if it
   holds a spelling the sample did not show, it goes to the exact path.
3. If the reader rejects the batch (a type it will not coerce), the batch is split in halves
   until the offending rows are isolated; chunks of at most ``_MIN_CHUNK`` rows go to the
   exact path.
4. Values whose text is ambiguous after reading go to the exact path: a STRING that starts
   like a number or a container (polars prints ``1000.0`` as ``1000`` and objects with
   spaces), a DECIMAL with more digits than a double keeps, BYTES that may have been a number,
   dates and timestamps outside the years 1-9999.

Schemas holding a MAP are decoded entirely by the exact path (polars cannot read an object
with arbitrary keys into a column), as is everything in a batch polars refuses wholesale.

Known gap: an object holding two keys that differ only in case, one of which the sample did
not show, or the same key twice, is read with polars' first-wins rule instead of Jackson's
last-wins (ksqlDB itself documents the duplicate case as unspecified).

Exact round trips. :func:`round_trips_exactly` tells whether decoding what the vectorised
encoder (``json_write.encode_fast``) wrote for a frame gives that frame back unchanged, so a
reader in the same process may take the writer's typed columns instead of re-reading the
bytes. It holds for wrapped objects of BOOLEAN, INTEGER, BIGINT, DOUBLE and STRING columns whose
names differ also when upper-cased (a reader matches names case-insensitively), with columns of
exactly the batch dtype of their type and only finite doubles (the encoder writes shortest
round-trip text for doubles, and ``NaN``/``Infinity`` as strings); anything else is re-read
from the bytes. ``tests/ksql_serde`` checks the claim against this module's decode.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from telemetry_lib.ksql.serde.constant import constant
from telemetry_lib.ksql.serde.options import utf8_text
from telemetry_lib.ksql.types import (
    BaseType,
    SqlArray,
    SqlDecimal,
    SqlMap,
    SqlStruct,
    SqlType,
    to_polars,
)

__all__ = ["FastResult", "decode_fast", "exact_round_trip_schema", "has_map", "round_trips_exactly"]

logger = logging.getLogger(__name__)

# Chunks this small are cheaper to decode exactly than to keep bisecting.
_MIN_CHUNK = 64
# Rows sampled for key spellings: the head of the batch plus evenly spread rows.
_SAMPLE_HEAD = 256
_SAMPLE_SPREAD = 256
# An object key: a quoted string without escapes followed by a colon (only keys are followed by
# ':' in valid JSON; keys with escapes are routed to the exact path first).
_KEY_RE = r'"([^"\\]*)"\s*:'
# A quoted string containing a backslash followed by ':' — an object key with an escape.
_ESCAPED_KEY_RE = r'"(?:[^"\\]|\\.)*\\(?:[^"\\]|\\.)*"\s*:'
# A line break or a backslash: rows holding one need a closer look before the NDJSON read
# (literal substrings: polars' multi-pattern search is ~40% faster than the equivalent regex).
_SPECIAL = ["\n", "\r", "\\"]
_LINE_BREAK_RE = r"[\n\r]"
# A double keeps 15-17 significant digits; longer DECIMAL numbers must be re-read exactly.
_MAX_FLOAT_DIGITS = 15
# Dates and timestamps the exact path (Python's datetime) can hold: years 1 to 9999.
_MIN_DAYS, _MAX_DAYS = -719_162, 2_932_896
_MIN_MS, _MAX_MS = _MIN_DAYS * 86_400_000, (_MAX_DAYS + 1) * 86_400_000 - 1
# First characters of STRING/BYTES text that may have been a number or a container when read.
_AMBIGUOUS_FIRST = list("-./0123456789[{")
# Name of the single field used to read an unwrapped value.
_UNWRAPPED = "v"
# Column types whose JSON text reads back as the very value written (see "Exact round trips").
# Not DECIMAL/BYTES/temporal types or containers: their encodings are exact too as far as we
# know, but nothing checks them yet, so they keep the decode.
_ROUND_TRIP_TYPES = frozenset(
    {BaseType.BOOLEAN, BaseType.INTEGER, BaseType.BIGINT, BaseType.DOUBLE, BaseType.STRING}
)


@dataclass(frozen=True)
class FastResult:
    """The vectorised decode: ``frame`` typed per column, ``exact`` rows still to decode exactly."""

    frame: pl.DataFrame
    exact: pl.Series


def has_map(t: SqlType) -> bool:
    if isinstance(t, SqlMap):
        return True
    if isinstance(t, SqlArray):
        return has_map(t.element)
    if isinstance(t, SqlStruct):
        return any(has_map(ft) for _, ft in t.fields)
    return False


def exact_round_trip_schema(columns: Sequence[tuple[str, SqlType]], *, wrapped: bool) -> bool:
    """Whether every frame of ``columns`` that :func:`round_trips_exactly` accepts decodes back
    unchanged from its vectorised encoding (the schema half of the module doc's rule)."""
    if not wrapped or not columns:
        return False
    upper = {name.upper() for name, _ in columns}
    return len(upper) == len(columns) and all(t.base in _ROUND_TRIP_TYPES for _, t in columns)


def round_trips_exactly(
    frame: pl.DataFrame, columns: Sequence[tuple[str, SqlType]], *, wrapped: bool
) -> bool:
    """Whether decoding ``encode_fast(frame, columns, wrapped=wrapped)`` gives ``frame``'s
    ``columns`` back unchanged (module doc, "Exact round trips")."""
    if not exact_round_trip_schema(columns, wrapped=wrapped):
        return False
    schema = frame.schema
    for name, t in columns:
        if schema.get(name) != to_polars(t):
            return False
    doubles = [pl.col(name) for name, t in columns if t.base is BaseType.DOUBLE]
    if not doubles:
        return True
    finite = frame.select(pl.all_horizontal([d.is_finite().fill_null(True).all() for d in doubles]))
    return bool(finite.item())


def decode_fast(
    payloads: pl.Series, columns: Sequence[tuple[str, SqlType]], *, wrapped: bool
) -> FastResult:
    """Decode JSON payloads (Binary) into ``columns``; see the module doc for what is deferred."""
    n = payloads.len()
    text = utf8_text(payloads, replace=False)
    # Wrapped payloads must be objects: anything else (including "null" and blank text, or an
    # object after leading blanks) is cheaper to send to the exact path than to test precisely.
    lit_text = pl.lit(text)
    odd_start = (
        ~lit_text.str.starts_with("{")
        if wrapped
        else lit_text.str.contains(r"^\s*(?:null\s*)?$")
    )
    # One pass finds the rare rows holding a line break or a backslash; only those are looked
    # at closely (a line break always goes aside, a backslash only inside an object key).
    # Both checks in one query (each Series method is one: ~0.05 ms apiece per batch).
    checks = pl.select(
        (pl.lit(payloads).is_null() | lit_text.is_null() | odd_start).alias("aside"),
        lit_text.str.contains_any(_SPECIAL).fill_null(False).alias("special"),
    )
    aside = checks.get_column("aside")
    special = checks.get_column("special")
    if special.any():
        idx = special.arg_true()
        subset = text.gather(idx)
        odd = subset.str.contains(_LINE_BREAK_RE) | subset.str.contains(_ESCAPED_KEY_RE)
        aside = aside | _scatter(n, idx, odd.fill_null(False))
    aside = aside.fill_null(True)

    keys = _sample_keys(text.filter(~aside))
    root = SqlStruct(tuple(columns)) if wrapped else SqlStruct(((_UNWRAPPED, columns[0][1]),))
    schema = _decode_dtype(root, keys, exact_top=not wrapped)
    assert isinstance(schema, pl.Struct)
    if wrapped and not aside.any():
        lines = pl.lit(text)
    elif wrapped:
        lines = pl.when(aside).then(pl.lit("{}")).otherwise(text)
    else:
        lines = (
            pl.when(aside)
            .then(pl.lit("{}"))
            .otherwise(pl.concat_str([pl.lit('{"' + _UNWRAPPED + '":'), text, pl.lit("}")]))
        )
    line_series = pl.select(lines.alias("line")).to_series()
    raw, failed = _read(line_series, {f.name: f.dtype for f in schema.fields})
    exact = aside | failed

    values: list[pl.Expr] = []
    flags: list[pl.Expr] = []
    for name, t in root.fields:
        value, flag = _convert(_combine(name, t, keys, pl.col), t, keys)
        values.append(value.alias(name))
        flags.append(flag)
    converted = raw.select(*values, pl.any_horizontal(*flags).fill_null(False).alias("__flag"))
    exact = exact | converted.get_column("__flag")
    frame = converted.drop("__flag")

    nulls = frame.select([_null_inside(pl.col(n), t).alias(n) for n, t in root.fields])
    for name, t in root.fields:
        check = nulls.get_column(name) & ~exact
        if check.any():
            field = SqlStruct(((name, t),))
            exact = exact | _unknown_spellings(text, check, field, keys)

    if not wrapped:
        frame = frame.rename({_UNWRAPPED: columns[0][0]})
    else:
        frame = frame.select([name for name, _ in columns])
    return FastResult(frame, exact)


def _scatter(n: int, idx: pl.Series, values: pl.Series) -> pl.Series:
    out = constant(False, n, pl.Boolean).alias("x")
    return out.scatter(idx, values)


def _sample_keys(text: pl.Series) -> set[str]:
    n = text.len()
    if n == 0:
        return set()
    head = text.head(_SAMPLE_HEAD)
    if n > _SAMPLE_HEAD:
        step = max(1, n // _SAMPLE_SPREAD)
        head = pl.concat([head, text.gather_every(step)])
    # One query (each Series method below is one: ~0.05 ms apiece whatever the sample size).
    found = (
        pl.select(pl.lit(head).str.extract_all(_KEY_RE).explode().drop_nulls().unique())
        .to_series()
        .to_list()
    )
    # extract_all returns the whole match ("key":), strip it back to the key.
    return {_strip_key(k) for k in found}


def _strip_key(match: str) -> str:
    return match[1 : match.rindex('"')]


def _variants(name: str, keys: set[str]) -> list[str]:
    """Spellings to read for field ``name``: the exact one first, then upper-case matches.

    The exact spelling is read only when the sample showed it (or nothing else matched), so a
    null exact field never hides another spelling; a batch mixing both is checked row by row.
    """
    others = sorted(k for k in keys if k != name and k.upper() == name)
    if name in keys or not others:
        return [name, *others]
    return others


def _decode_dtype(t: SqlType, keys: set[str], *, exact_top: bool = False) -> pl.DataType:
    """The dtype polars reads ``t`` with (strict where polars and ksqlDB agree, else String)."""
    base = t.base
    if base is BaseType.BOOLEAN:
        return pl.Boolean()
    if base in (
        BaseType.INTEGER,
        BaseType.BIGINT,
        BaseType.TIMESTAMP,
        BaseType.DATE,
        BaseType.TIME,
    ):
        return pl.Int64()
    if base is BaseType.DOUBLE:
        return pl.Float64()
    if isinstance(t, SqlArray):
        return pl.List(_decode_dtype(t.element, keys))
    if isinstance(t, SqlStruct):
        fields: dict[str, pl.DataType] = {}
        for name, ft in t.fields:
            spellings = [name] if exact_top else _variants(name, keys)
            for spelling in spellings:
                fields[spelling] = _decode_dtype(ft, keys)
        return pl.Struct(fields)
    return pl.String()


def _read(lines: pl.Series, schema: dict[str, Any]) -> tuple[pl.DataFrame, pl.Series]:
    """Read NDJSON lines; rows in chunks polars rejects come back null and flagged."""
    try:
        # One buffer of newline-separated lines (no line holds a line break; see decode_fast).
        # A null line makes the join null, which is refused below like any unreadable chunk.
        joined = lines.str.join("\n", ignore_nulls=False).cast(pl.Binary).item()
        frame = pl.read_ndjson(joined, schema=schema)
        if frame.height == lines.len():
            return frame, constant(False, lines.len(), pl.Boolean).alias("x")
    except (Exception, pl.exceptions.PanicException) as exc:  # a value polars refuses
        logger.debug("NDJSON chunk of %d rows refused: %s", lines.len(), exc)
    n = lines.len()
    if n <= _MIN_CHUNK:
        return _nulls(schema, n), constant(True, n, pl.Boolean).alias("x")
    half = n // 2
    left, lf = _read(lines.slice(0, half), schema)
    right, rf = _read(lines.slice(half), schema)
    return pl.concat([left, right]), pl.concat([lf, rf])


def _nulls(schema: dict[str, Any], n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {name: pl.Series(name, [None] * n, dtype=dt) for name, dt in schema.items()}
    )


def _combine(name: str, t: SqlType, keys: set[str], get: object) -> tuple[pl.Expr, pl.Expr]:
    """(value, needs-exact) for field ``name`` read under several spellings."""
    assert callable(get)
    spellings = _variants(name, keys) if name != _UNWRAPPED else [name]
    exprs = [get(s) for s in spellings]
    if len(exprs) == 1:
        return exprs[0], pl.lit(False)
    if spellings[0] == name:
        exact, others = exprs[0], exprs[1:]
        others_set = pl.sum_horizontal(*[e.is_not_null().cast(pl.Int32) for e in others])
        ambiguous = (exact.is_null() & (others_set >= 1)) | (others_set >= 2)
        return pl.coalesce(exact, *others), ambiguous
    present = pl.sum_horizontal(*[e.is_not_null().cast(pl.Int32) for e in exprs])
    return pl.coalesce(*exprs), present >= 2


def _convert(pair: tuple[pl.Expr, pl.Expr], t: SqlType, keys: set[str]) -> tuple[pl.Expr, pl.Expr]:
    """(typed value, needs-exact flag) from the value as read."""
    expr, flag = pair
    base = t.base
    if base is BaseType.BOOLEAN or base is BaseType.BIGINT or base is BaseType.DOUBLE:
        return expr, flag
    if base is BaseType.INTEGER:
        return expr.cast(pl.Int32, wrap_numerical=True), flag
    if base is BaseType.TIMESTAMP:
        out_of_range = ((expr < _MIN_MS) | (expr > _MAX_MS)).fill_null(False)
        return expr.cast(pl.Datetime("ms")), flag | out_of_range
    if base is BaseType.DATE:
        days = _wrap32(expr)
        out_of_range = ((days < _MIN_DAYS) | (days > _MAX_DAYS)).fill_null(False)
        return days.cast(pl.Int32).cast(pl.Date), flag | out_of_range
    if base is BaseType.TIME:
        return (_wrap32(expr) % 86_400_000 * 1_000_000).cast(pl.Time), flag
    if base is BaseType.STRING:
        # polars writes a number or an object/array its own way (1000.0 -> "1000"); Jackson
        # keeps the exact text ("1000.0", "1E+3") and writes objects compactly. Text that may
        # have been a number or a container is re-read exactly.
        return expr, flag | _number_or_container_start(expr).fill_null(False)
    if base is BaseType.BYTES:
        # A number or boolean read as text could pass for base64; ksqlDB refuses non-strings.
        ambiguous = (
            _number_or_container_start(expr) | expr.is_in(["true", "false"])
        ).fill_null(False)
        decoded = expr.str.decode("base64", strict=False)
        bad = (decoded.is_null() & expr.is_not_null()) | ambiguous
        return decoded, flag | bad
    if isinstance(t, SqlDecimal):
        return _decimal(expr, flag, t)
    if isinstance(t, SqlArray):
        inner_value, inner_flag = _convert((pl.element(), pl.lit(False)), t.element, keys)
        value = expr.list.eval(inner_value)
        bad = expr.list.eval(inner_flag.fill_null(False)).list.any().fill_null(False)
        return value, flag | bad
    if isinstance(t, SqlStruct):
        fields: list[pl.Expr] = []
        flags: list[pl.Expr] = [flag]
        for name, ft in t.fields:
            value, f = _convert(_combine(name, ft, keys, expr.struct.field), ft, keys)
            fields.append(value.alias(name))
            flags.append(f)
        struct = (
            pl.when(expr.is_null())
            .then(pl.lit(None, dtype=to_polars(t)))
            .otherwise(pl.struct(fields))
        )
        return struct, pl.any_horizontal(*flags).fill_null(False)
    return expr, pl.lit(True)


def _number_or_container_start(expr: pl.Expr) -> pl.Expr:
    """Text starting like a number ('-', '.', '/', a digit) or a container ('[', '{'): one
    pass over the first character instead of four comparisons per row."""
    return expr.str.head(1).is_in(_AMBIGUOUS_FIRST)


def _wrap32(expr: pl.Expr) -> pl.Expr:
    """Java's (int) narrowing of a long (two's complement wrap), as an Int64 expression."""
    return expr.cast(pl.Int32, wrap_numerical=True).cast(pl.Int64)


def _decimal(expr: pl.Expr, flag: pl.Expr, t: SqlDecimal) -> tuple[pl.Expr, pl.Expr]:
    simple = expr.str.contains(r"^-?[0-9]+(?:\.[0-9]+)?$").fill_null(True)
    integer = expr.str.extract(r"^-?0*([0-9]*)", 1).str.len_chars()
    fraction = expr.str.extract(r"\.([0-9]*?)0*$", 1).str.len_chars().fill_null(0)
    digits = expr.str.replace_all(r"[^0-9]", "").str.strip_chars_start("0").str.len_chars()
    fits = (integer <= t.precision - t.scale) & (fraction <= t.scale)
    long_float = (digits > _MAX_FLOAT_DIGITS) & expr.str.contains(".", literal=True)
    bad = (~simple | ~fits.fill_null(True) | long_float.fill_null(False)) & expr.is_not_null()
    value = pl.when(bad).then(None).otherwise(expr).cast(to_polars(t), strict=False)
    return value, flag | bad


def _null_inside(expr: pl.Expr, t: SqlType) -> pl.Expr:
    """True where the value, or any field/element inside it, is null."""
    if isinstance(t, SqlStruct):
        parts = [expr.is_null()] + [_null_inside(expr.struct.field(n), ft) for n, ft in t.fields]
        return pl.any_horizontal(*parts).fill_null(True)
    if isinstance(t, SqlArray):
        inner = pl.element().is_null()
        if isinstance(t.element, (SqlStruct, SqlArray)):
            inner = _null_inside(pl.element(), t.element)
        return expr.is_null() | expr.list.eval(inner).list.any().fill_null(True)
    return expr.is_null()


def _field_names(t: SqlType, keys: set[str], out: set[str], read: set[str]) -> None:
    """Collect field names (``out``) and the spellings the decode schema reads (``read``)."""
    if isinstance(t, SqlStruct):
        for name, ft in t.fields:
            out.add(name)
            read.update(_variants(name, keys))
            _field_names(ft, keys, out, read)
    elif isinstance(t, SqlArray):
        _field_names(t.element, keys, out, read)


def _unknown_spellings(
    text: pl.Series, check: pl.Series, root: SqlStruct, keys: set[str]
) -> pl.Series:
    """Rows (among ``check``) holding a key spelling of some field that the sample missed."""
    names: set[str] = set()
    read: set[str] = set()
    _field_names(root, keys, names, read)
    names.discard(_UNWRAPPED)
    # Only an upper-case name can be matched by another spelling (k.upper() == name).
    upper = sorted(n for n in names if n == n.upper())
    if not upper:
        return constant(False, text.len(), pl.Boolean).alias("x")
    idx = check.arg_true()
    subset = text.gather(idx)
    hits = constant(False, subset.len(), pl.Boolean).alias("x")
    for name in upper:
        # Rows showing a spelling that was read are fine (the rare row holding two spellings
        # of one name is the documented gap); the others are searched case-insensitively.
        seen = constant(False, subset.len(), pl.Boolean).alias("x")
        for spelling in (k for k in read if k == name or k.upper() == name):
            seen = seen | subset.str.contains('"' + spelling + '"', literal=True)
        unseen = (~seen).arg_true()
        if unseen.len():
            found = subset.gather(unseen).str.contains("(?i)" + re.escape('"' + name + '"'))
            hits = hits.scatter(unseen, hits.gather(unseen) | found)
    return _scatter(text.len(), idx, hits.fill_null(True))
