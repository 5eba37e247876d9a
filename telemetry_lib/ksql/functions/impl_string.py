"""Polars implementations of the string, bytes and JSON functions.

Semantics follow the ksqlDB UDFs (NULL in -> NULL out unless noted): ``CONCAT`` skips NULLs
(all NULL -> ''), ``CONCAT_WS`` is NULL for a NULL separator and skips NULL values,
``SUBSTRING`` is 1-based with negative positions counting from the end, ``TRIM`` removes
characters <= U+0020 like Java's ``String.trim``, ``SPLIT`` keeps empty tokens and splits into
characters on an empty delimiter, ``REGEXP_EXTRACT(pattern, string[, group])`` takes the
pattern first as ksqlDB does.

Vectorised on whole columns. Exceptions (per-row Python over the batch via ``map_batches``,
used only where polars has no equivalent, documented per function): SUBSTRING of BYTES,
REPLACE with non-constant search text, LPAD/RPAD, INSTR with position/occurrence, CHR, MD5,
SPLIT_TO_MAP, the JSON helpers other than EXTRACTJSONFIELD, REGEXP_EXTRACT_ALL /
REGEXP_SPLIT_TO_ARRAY, and regex functions whose pattern is not a constant.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

import numpy as np
import polars as pl

from telemetry_lib.ksql.functions.impl_base import Arg, ImplResult, implementation
from telemetry_lib.ksql.types import SqlType, to_polars

__all__: list[str] = []

logger = logging.getLogger(__name__)

# UUID()'s random source (seeded from the OS).
_RNG = np.random.default_rng()
# Java's String.trim() removes every character <= U+0020.
_JAVA_TRIM = "".join(chr(c) for c in range(33))


def rowwise(fn: Callable[..., object], args: Sequence[Arg], rt: SqlType) -> pl.Expr:
    """Apply ``fn`` to each row's argument values (not vectorised: the documented fallback)."""
    names = [f"a{i}" for i in range(len(args))]
    packed = pl.struct([a.expr.alias(n) for a, n in zip(args, names, strict=True)])
    dtype = to_polars(rt)

    def run(s: pl.Series) -> pl.Series:
        out = []
        for row in s.to_list():
            values = [row[n] for n in names] if row is not None else [None] * len(names)
            out.append(fn(*values))
        return pl.Series(out, dtype=dtype)

    return packed.map_batches(run, return_dtype=dtype, is_elementwise=True)


def _const_str(a: Arg) -> str | None:
    return a.constant if a.is_constant and isinstance(a.constant, str) else None


@implementation("lcase")
def _lcase(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.str.to_lowercase()


@implementation("ucase")
def _ucase(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.str.to_uppercase()


@implementation("trim")
def _trim(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.str.strip_chars(_JAVA_TRIM)


@implementation("ltrim")
def _ltrim(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.str.strip_chars_start(_JAVA_TRIM)


@implementation("rtrim")
def _rtrim(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.str.strip_chars_end(_JAVA_TRIM)


@implementation("initcap")
def _initcap(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    # ksqlDB: lower-case everything, then upper-case the first character of each
    # "non-space run plus trailing spaces" (leading whitespace is dropped).
    part = pl.element()
    return (
        args[0]
        .expr.str.to_lowercase()
        .str.extract_all(r"[^\s]+\s*")
        .list.eval(part.str.slice(0, 1).str.to_uppercase() + part.str.slice(1))
        .list.join("")
    )


@implementation("len")
def _len(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.str.len_chars().cast(pl.Int32)


@implementation("len_bytes")
def _len_bytes(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return args[0].expr.bin.size().cast(pl.Int32)


def _substring_bounds(
    length: pl.Expr, pos: pl.Expr, count: pl.Expr | None
) -> tuple[pl.Expr, pl.Expr]:
    start = (
        pl.when(pos < 0)
        .then(pl.max_horizontal(length + pos, pl.lit(0)))
        .otherwise(pl.max_horizontal(pl.min_horizontal(pos - 1, length), pl.lit(0)))
    )
    if count is None:
        return start, length - start
    end = pl.max_horizontal(pl.min_horizontal(start + count, length), start)
    return start, end - start


@implementation("substring")
def _substring(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    s = args[0].expr
    pos = args[1].expr.cast(pl.Int64)
    count = args[2].expr.cast(pl.Int64) if len(args) > 2 else None
    start, n = _substring_bounds(s.str.len_chars().cast(pl.Int64), pos, count)
    result = s.str.slice(start, n)
    nulls = pos.is_null() if count is None else (pos.is_null() | count.is_null())
    return pl.when(nulls).then(None).otherwise(result)


@implementation("substring_bytes")
def _substring_bytes(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    # Not vectorised: polars has no binary slice; per-row Python over the batch.
    def sub(b: bytes | None, pos: int | None, count: int | None = -1) -> bytes | None:
        if b is None or pos is None or count is None:
            return None
        n = len(b)
        start = max(n + pos, 0) if pos < 0 else max(min(pos - 1, n), 0)
        end = n if count == -1 and len(args) == 2 else max(min(start + count, n), start)
        return b[start:end]

    return rowwise(sub, args, rt)


@implementation("concat")
def _concat(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return pl.concat_str([a.expr.cast(pl.String) for a in args], ignore_nulls=True)


@implementation("concat_bytes")
def _concat_bytes(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    hexes = [a.expr.bin.encode("hex").fill_null("") for a in args]
    return pl.concat_str(hexes).str.decode("hex")


@implementation("concat_ws")
def _concat_ws(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    sep = args[0].expr
    values = pl.concat_list([a.expr.cast(pl.String) for a in args[1:]]).list.drop_nulls()
    return pl.when(sep.is_null()).then(None).otherwise(values.list.join(sep))


@implementation("replace")
def _replace(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    s, old, new = args
    if old.is_constant and new.is_constant:
        if old.constant is None or new.constant is None:
            return pl.lit(None, dtype=pl.String)
        return s.expr.str.replace_all(str(old.constant), str(new.constant), literal=True)
    return rowwise(
        lambda a, b, c: None if a is None or b is None or c is None else a.replace(b, c), args, rt
    )


@implementation("instr")
def _instr(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    # ksqlDB returns a primitive int: 0 (not NULL) for NULL inputs or no match.
    if len(args) == 2:
        s, sub = args
        found = s.expr.str.find(sub.expr, literal=True)
        return (found.fill_null(-1) + 1).cast(pl.Int32)
    return rowwise(_instr_row, args, rt)


def _ordinal_index_of(text: str, sub: str, ordinal: int) -> int:
    """commons-lang3 StringUtils.ordinalIndexOf (overlapping matches)."""
    found, matches = -1, 0
    while matches < ordinal:
        found = text.find(sub, found + 1)
        if found < 0:
            return found
        matches += 1
    return found


def _instr_row(s: str | None, sub: str | None, pos: int | None = 1, occ: int | None = 1) -> int:
    """ksqlDB's Instr.instr(str, substring, position, occurrence), quirks included."""
    if s is None or sub is None:
        return 0
    position = 1 if pos is None else pos
    occurrence = 1 if occ is None else occ
    if abs(position) > len(s):
        return 0
    if position < 0:
        rs, rsub, p = s[::-1], sub[::-1], -position
        i = _ordinal_index_of(rs[p - 1 :], rsub, occurrence)
        return len(rs) - p - i
    i = _ordinal_index_of(s[position - 1 :], sub, occurrence)
    return i + position


def _pad(left: bool) -> Callable[[Sequence[Arg], SqlType], ImplResult]:
    def impl(args: Sequence[Arg], rt: SqlType) -> ImplResult:
        # Not vectorised: multi-character padding; per-row Python over the batch.
        def pad(s: str | None, n: int | None, p: str | None) -> str | None:
            if s is None or n is None or p is None or n < 0 or not p:
                return None
            if len(s) >= n:
                return s[:n]
            fill = (p * (n // max(len(p), 1) + 1))[: n - len(s)]
            return fill + s if left else s + fill

        return rowwise(pad, args, rt)

    return impl


implementation("lpad")(_pad(True))
implementation("rpad")(_pad(False))


@implementation("split")
def _split(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    s, delim = args
    if delim.is_constant:
        if delim.constant is None:
            return pl.lit(None, dtype=to_polars(rt))
        return s.expr.str.split(str(delim.constant))
    return pl.when(delim.expr.is_null()).then(None).otherwise(s.expr.str.split(delim.expr))


@implementation("regexp_extract")
def _regexp_extract(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    pattern, s = args[0], args[1]
    group = args[2] if len(args) > 2 else None
    p = _const_str(pattern)
    if p is not None and (group is None or group.is_constant):
        g = 0 if group is None else int(group.constant)  # type: ignore[call-overload]
        return s.expr.str.extract(p, g)
    import re

    def extract(pat: str | None, text: str | None, grp: int | None = 0) -> str | None:
        if pat is None or text is None or grp is None:
            return None
        m = re.search(pat, text)
        return m.group(grp) if m else None

    return rowwise(extract, args, rt)


@implementation("regexp_extract_all")
def _regexp_extract_all(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    import re

    def extract_all(pat: str | None, text: str | None, grp: int | None = 0) -> list[str] | None:
        if pat is None or text is None or grp is None:
            return None
        return [m.group(grp) for m in re.finditer(pat, text)]

    return rowwise(extract_all, args, rt)


@implementation("regexp_replace")
def _regexp_replace(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    s, pattern, repl = args
    p, r = _const_str(pattern), _const_str(repl)
    if p is not None and r is not None:
        return s.expr.str.replace_all(p, r.replace("\\$", "$$"))
    import re

    return rowwise(
        lambda t, pa, re_: None if t is None or pa is None or re_ is None else re.sub(pa, re_, t),
        args,
        rt,
    )


@implementation("regexp_split")
def _regexp_split(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    import re

    return rowwise(lambda t, p: None if t is None or p is None else re.split(p, t), args, rt)


def _mask_expr(
    e: pl.Expr, upper: str | None, lower: str | None, digit: str | None, other: str | None
) -> pl.Expr:
    out = e
    for pattern, repl in (
        ("[^A-Za-z0-9]", other),
        ("[A-Z]", upper),
        ("[a-z]", lower),
        ("[0-9]", digit),
    ):
        if repl is not None:
            out = out.str.replace_all(pattern, repl.replace("$", "$$"))
    return out


def _mask_chars(args: Sequence[Arg]) -> tuple[str | None, str | None, str | None, str | None]:
    defaults = ("X", "x", "n", "-")
    if len(args) < 5:
        return defaults
    vals = []
    for a, d in zip(args[-4:], defaults, strict=True):
        c = _const_str(a) if a.is_constant else d
        vals.append(c[:1] if c else None)
    return vals[0], vals[1], vals[2], vals[3]


@implementation("mask")
def _mask(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return _mask_expr(args[0].expr, *_mask_chars(args))


def _mask_part(keep: bool, left: bool) -> Callable[[Sequence[Arg], SqlType], ImplResult]:
    def impl(args: Sequence[Arg], rt: SqlType) -> ImplResult:
        s, n = args[0].expr, args[1].expr.cast(pl.Int64)
        length = s.str.len_chars().cast(pl.Int64)
        cut = pl.min_horizontal(pl.max_horizontal(n, pl.lit(0)), length)
        if left:
            head, tail = s.str.slice(0, cut), s.str.slice(cut)
        else:
            head, tail = s.str.slice(0, length - cut), s.str.slice(length - cut)
        masked_head, masked_tail = (
            _mask_expr(head, "X", "x", "n", "-"),
            _mask_expr(tail, "X", "x", "n", "-"),
        )
        if keep:
            return (head + masked_tail) if left else (masked_head + tail)
        return (masked_head + tail) if left else (head + masked_tail)

    return impl


implementation("mask_keep_left")(_mask_part(True, True))
implementation("mask_keep_right")(_mask_part(True, False))
implementation("mask_left")(_mask_part(False, True))
implementation("mask_right")(_mask_part(False, False))


@implementation("chr")
def _chr(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return rowwise(lambda c: None if c is None or c < 0 or c > 0x10FFFF else chr(c), args, rt)


@implementation("chr_string")
def _chr_string(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    def from_text(t: str | None) -> str | None:
        if t is None:
            return None
        text = t[2:] if t.lower().startswith("\\u") else t
        try:
            return chr(int(text, 16))
        except ValueError:
            return None

    return rowwise(from_text, args, rt)


@implementation("uuid")
def _uuid(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    # Random version-4 UUIDs built vectorised: 16 random bytes per row, version and variant
    # bits set, hex-encoded and split 8-4-4-4-12.
    return pl.int_range(pl.len()).map_batches(_uuid_batch, return_dtype=pl.String)


def _uuid_batch(s: pl.Series) -> pl.Series:
    raw = np.frombuffer(_RNG.bytes(16 * len(s)), np.uint8)
    octets = raw.reshape(len(s), 16).copy()
    octets[:, 6] = (octets[:, 6] & 0x0F) | 0x40
    octets[:, 8] = (octets[:, 8] & 0x3F) | 0x80
    hexed = pl.Series([bytes(row) for row in octets], dtype=pl.Binary).bin.encode("hex")
    frame = pl.DataFrame({"h": hexed})
    parts = [pl.col("h").str.slice(a, b) for a, b in ((0, 8), (8, 4), (12, 4), (16, 4), (20, 12))]
    return frame.select(pl.concat_str(parts, separator="-")).to_series()


@implementation("md5")
def _md5(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return rowwise(lambda s: None if s is None else hashlib.md5(s.encode()).hexdigest(), args, rt)


_ENCODINGS = ("hex", "utf8", "ascii", "base64")
_BinaryText = Literal["hex", "base64"]


def _encoding_of(a: Arg) -> str | None:
    c = _const_str(a)
    return c.lower() if c is not None and c.lower() in _ENCODINGS else None


@implementation("to_bytes")
def _to_bytes(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    s, enc = args[0].expr, _encoding_of(args[1])
    if enc in ("hex", "base64"):
        decoded = s.str.decode(cast(_BinaryText, enc), strict=False)
        return decoded, pl.when(s.is_not_null() & decoded.is_null()).then(
            pl.lit(f"Invalid {enc} input")
        )
    if enc in ("utf8", "ascii"):
        return s.cast(pl.Binary)
    return pl.lit(None, dtype=pl.Binary), pl.when(s.is_not_null()).then(
        pl.lit("Supported encodings are: hex, utf8, ascii and base64")
    )


@implementation("from_bytes")
def _from_bytes(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    b, enc = args[0].expr, _encoding_of(args[1])
    if enc in ("hex", "base64"):
        return b.bin.encode(cast(_BinaryText, enc))
    if enc in ("utf8", "ascii"):
        return b.cast(pl.String, strict=False)
    return pl.lit(None, dtype=pl.String), pl.when(b.is_not_null()).then(
        pl.lit("Supported encodings are: hex, utf8, ascii and base64")
    )


@implementation("encode")
def _encode(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    s, src, dst = args
    src_enc, dst_enc = _encoding_of(src), _encoding_of(dst)
    if src_enc is None or dst_enc is None:
        return pl.lit(None, dtype=pl.String)
    as_bytes = (
        s.expr.cast(pl.Binary)
        if src_enc in ("utf8", "ascii")
        else s.expr.str.decode(cast(_BinaryText, src_enc), strict=False)
    )
    if dst_enc in ("utf8", "ascii"):
        return as_bytes.cast(pl.String, strict=False)
    return as_bytes.bin.encode(cast(_BinaryText, dst_enc))


@implementation("extractjsonfield")
def _extractjsonfield(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    s, path = args
    p = _const_str(path)
    if p is not None:
        return s.expr.str.json_path_match(p)

    def extract(text: str | None, jp: str | None) -> str | None:
        if text is None or jp is None:
            return None
        frame = pl.DataFrame({"t": [text]}).select(pl.col("t").str.json_path_match(jp))
        return frame.item()  # type: ignore[no-any-return]

    return rowwise(extract, args, rt)


def _loads(text: str | None) -> object:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return _INVALID


_INVALID = object()


@implementation("is_json_string")
def _is_json_string(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    return rowwise(lambda t: False if t is None else _loads(t) is not _INVALID, args, rt)


@implementation("json_array_length")
def _json_array_length(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    def length(t: str | None) -> int | None:
        v = _loads(t)
        return len(v) if isinstance(v, list) else None

    return rowwise(length, args, rt)


@implementation("json_keys")
def _json_keys(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    def keys(t: str | None) -> list[str] | None:
        v = _loads(t)
        return list(v) if isinstance(v, dict) else None

    return rowwise(keys, args, rt)


@implementation("elt")
def _elt(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    n = args[0].expr
    chain: Any = None  # a polars when/then chain
    for i, a in enumerate(args[1:], start=1):
        chain = pl.when(n == i).then(a.expr) if chain is None else chain.when(n == i).then(a.expr)
    if chain is None:
        return pl.lit(None, dtype=pl.String)
    result: pl.Expr = chain.otherwise(pl.lit(None, dtype=pl.String))
    return result


@implementation("field")
def _field(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    s = args[0].expr
    chain: Any = None  # a polars when/then chain
    for i, a in enumerate(args[1:], start=1):
        hit = (s == a.expr).fill_null(False)
        chain = pl.when(hit).then(pl.lit(i)) if chain is None else chain.when(hit).then(pl.lit(i))
    if chain is None:
        return pl.lit(0, dtype=pl.Int32)
    result: pl.Expr = pl.when(s.is_null()).then(0).otherwise(chain.otherwise(0)).cast(pl.Int32)
    return result


@implementation("split_to_map")
def _split_to_map(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    # Not vectorised: entries with a missing key/value delimiter are skipped; per-row Python.
    def split(text: str | None, entry: str | None, kv: str | None) -> list[dict[str, str]] | None:
        if text is None or entry is None or kv is None or not entry or not kv:
            return None
        out: dict[str, str] = {}
        for part in text.split(entry):
            if kv in part:
                k, _, v = part.partition(kv)
                out[k] = v
        return [{"key": k, "value": v} for k, v in out.items()]

    return rowwise(split, args, rt)


@implementation("to_json_string")
def _to_json_string(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    # Not vectorised: JSON text of any type with the JSON serde's rules; per-row Python.
    from telemetry_lib.ksql.serde.values import dump_json, to_json_node

    arg_type = args[0].type
    if arg_type is None:
        return pl.lit("null", dtype=pl.String)
    return rowwise(lambda v: dump_json(to_json_node(v, arg_type)), args, rt)


def _parsed_json(text: str | None) -> object:
    from telemetry_lib.ksql.serde.values import parse_json

    if text is None:
        return _INVALID
    try:
        return parse_json(text)
    except ValueError:
        return _INVALID


@implementation("json_records")
def _json_records(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    # Not vectorised: each top-level field of a JSON object with its value's JSON text.
    from telemetry_lib.ksql.serde.values import JsonObject, dump_json

    def records(text: str | None) -> list[dict[str, str]] | None:
        node = _parsed_json(text)
        if not isinstance(node, JsonObject):
            return None
        return [{"key": k, "value": dump_json(v)} for k, v in dict(node).items()]

    return rowwise(records, args, rt)


@implementation("json_items")
def _json_items(args: Sequence[Arg], rt: SqlType) -> ImplResult:
    # Not vectorised: the JSON text of each element of a JSON array.
    from telemetry_lib.ksql.serde.values import dump_json

    def items(text: str | None) -> list[str] | None:
        node = _parsed_json(text)
        return (
            [dump_json(v) for v in node]
            if isinstance(node, list) and not _is_object(node)
            else None
        )

    return rowwise(items, args, rt)


def _is_object(node: object) -> bool:
    from telemetry_lib.ksql.serde.values import JsonObject

    return isinstance(node, JsonObject)
