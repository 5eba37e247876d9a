"""Key columns of a join result and ksqlDB's co-partitioning rule (see
:mod:`telemetry_lib.ksql.analyzer.joins`).

Owns: :func:`pick_keys` (which projection items become the key columns: the first viable join
column the projection selects, the synthetic key, or a foreign-key join's left primary key; with
ksqlDB's errors when missing or repeated) and :func:`check_partitions` (the partition counts of
a join step's inputs must match unless a side is repartitioned). No polars here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telemetry_lib.ksql.analyzer.join_types import join_key_field
from telemetry_lib.ksql.analyzer.joins import JoinAnalysis, column_of
from telemetry_lib.ksql.analyzer.typed import TColumn, TypedExpression
from telemetry_lib.ksql.catalog import quote_identifier
from telemetry_lib.ksql.errors import KsqlStatementError

__all__ = ["check_partitions", "pick_keys"]

logger = logging.getLogger(__name__)

_KEY_MISSING = "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"


def pick_keys(
    items: list[tuple[str, TypedExpression]], join: JoinAnalysis, sink_name: str
) -> list[tuple[int, TypedExpression]]:
    """Which projection items are the result's key columns, with the expression each takes.

    Primary-key joins: the first viable key column (in viable order) the projection selects,
    re-pointed at the join key field (its value is the join key, even where the column itself
    is null in an outer join); the synthetic key when there is no viable column. Foreign-key
    joins: every primary key column of the left table. ksqlDB's errors when missing or repeated.
    """
    if join.foreign_key:
        return _pick_fk_keys(items, join)
    last = join.steps[-1]
    key = last.keys[0]
    kf = join_key_field(0)
    candidates = [kf] if join.synthetic else [f for f, _ in join.viable]
    positions: dict[str, list[int]] = {f: [] for f in candidates}
    for pos, (_, expr) in enumerate(items):
        if isinstance(expr, TColumn) and expr.field_name in positions:
            positions[expr.field_name].append(pos)
    for fld, found in positions.items():
        if len(found) > 1:
            shown = key.name if fld == kf else fld
            _repeated_key(shown, sorted(items[p][0] for p in found))
    chosen = next((f for f in candidates if positions[f]), None)
    if chosen is None:
        if join.synthetic:
            name = key.name
            raise KsqlStatementError(
                f"{_KEY_MISSING}The query used to build {quote_identifier(sink_name)} must "
                f"include the join expression {name} in its projection (eg, SELECT {name}...).\n"
                f"{name} was added as a synthetic key column because the join criteria did not "
                "match any source column. This expression must be included in the projection "
                "and may be aliased."
            )
        texts = [t for _, t in join.viable]
        plural = "s" if len(texts) > 1 else ""
        listed = texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]
        raise KsqlStatementError(
            f"{_KEY_MISSING}The query used to build {quote_identifier(sink_name)} must include "
            f"the join expression{plural} {listed} in its projection (eg, SELECT {texts[0]}...)."
        )
    pos = positions[chosen][0]
    # EXPLAIN shows the key by its SQL name: the synthetic key's, else the column as written.
    text = key.name if join.synthetic else dict(join.viable)[chosen]
    return [(pos, TColumn(kf, type=key.type, text=text))]


def _pick_fk_keys(
    items: list[tuple[str, TypedExpression]], join: JoinAnalysis
) -> list[tuple[int, TypedExpression]]:
    step = join.steps[-1]
    left = join.sources[0]
    picked: list[tuple[int, TypedExpression]] = []
    missing: list[str] = []
    for fld, key in zip(step.left_primary_key, step.keys, strict=True):
        found = [
            p for p, (_, e) in enumerate(items) if isinstance(e, TColumn) and e.field_name == fld
        ]
        if len(found) > 1:
            _repeated_key(fld, sorted(items[p][0] for p in found))
        if not found:
            missing.append(column_of(left, fld))
            continue
        picked.append((found[0], TColumn(fld, type=key.type, text=items[found[0]][1].text)))
    if missing:
        word = "column" if len(missing) == 1 else "columns"
        raise KsqlStatementError(
            f"Primary key {word} missing in projection. For foreign-key table-table joins, the "
            "projection must include all primary key columns from the left input table "
            f"(`{left.source.name}`). Missing {word}: " + ", ".join(f"`{m}`" for m in missing) + "."
        )
    return picked


def _repeated_key(shown: str, names: list[str]) -> None:
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    raise KsqlStatementError(
        f"The projection contains a key column ({quote_identifier(shown)}) more than once, "
        f"aliased as: {listed}.\n"
        "Each key column must only be in the projection once. If you intended to copy the key "
        "into the value, then consider using the AS_VALUE function to indicate which key "
        "reference should be copied."
    )


def check_partitions(join: JoinAnalysis, partitions_of: Callable[[str], int | None]) -> None:
    """ksqlDB's co-partitioning rule (JoinNode.ensureMatchingPartitionCounts): the two inputs
    of a primary-key join step that is not repartitioned must have as many partitions. A
    nested join counts as its last (right) source; unknown topics are not checked."""
    for step in join.steps:
        if step.kind == "table-table-fk" or step.left_repartition or step.right_repartition:
            continue
        left = join.sources[step.index]  # the nested join's right-most source
        left_n = partitions_of(left.source.topic)
        right_n = partitions_of(step.right.source.topic)
        if left_n is None or right_n is None or left_n == right_n:
            continue
        left_alias = join.sources[0].alias
        raise KsqlStatementError(
            f"Can't join {left_alias} with {step.right.alias} since the number of partitions "
            f"don't match. {left_alias} partitions = {left_n}; {step.right.alias} partitions = "
            f"{right_n}. Please repartition either one so that the number of partitions match."
        )
