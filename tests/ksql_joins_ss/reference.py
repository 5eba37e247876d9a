"""Record-at-a-time reference models of the joins, written straight from Kafka Streams'
processors (``KStreamKStreamJoin``, the foreign-key join's subscription/response processors),
to cross-check the vectorised operators on random inputs. Deliberately naive: lists and dicts.
"""

from __future__ import annotations

from typing import Any

Row = tuple[Any, tuple[Any, ...], tuple[Any, ...], int, bool]

_DAY_MS = 24 * 60 * 60 * 1000


class StreamStreamReference:
    def __init__(
        self,
        join_type: str,
        before: int,
        after: int,
        grace: int | None,
        *,
        width: dict[str, int],
    ) -> None:
        self.width = width
        self.fix = grace is not None
        self.grace = grace if grace is not None else max(_DAY_MS - 2 * before, 0)
        self.retention = before + after + self.grace
        self.ks_left = "right" if join_type == "RIGHT" else "left"
        self.outer = {
            "INNER": set(),
            "LEFT": {"left"},
            "RIGHT": {"right"},
            "FULL": {"left", "right"},
        }[join_type]
        self.holds = self.fix and bool(self.outer)
        self.window = {
            s: ((before, after) if s == self.ks_left else (after, before))
            for s in ("left", "right")
        }
        self.stores: dict[str, list[tuple[Any, int, int, tuple[Any, ...]]]] = {
            "left": [],
            "right": [],
        }
        self.store_time: dict[str, int] = {}
        self.stream_time: int | None = None
        self.pending: dict[tuple[int, int, Any], tuple[str, tuple[Any, ...]]] = {}
        self.seq = 0

    def _row(
        self, side: str, key: Any, values: tuple[Any, ...], other: tuple[Any, ...] | None, ts: int
    ) -> Row:
        other_side = "right" if side == "left" else "left"
        other = other if other is not None else (None,) * self.width[other_side]
        left, right = (values, other) if side == "left" else (other, values)
        return (key, left, right, ts, False)

    def process(self, side: str, key: Any, values: tuple[Any, ...] | None, ts: int) -> list[Row]:
        # Kafka Streams 3.7: stream time first; null values skipped; null keys (KIP-962) emitted
        # unmatched at once on an outer side
        self.stream_time = ts if self.stream_time is None else max(self.stream_time, ts)
        st = self.stream_time
        if values is None:
            return []
        if key is None:
            return [self._row(side, None, values, None, ts)] if side in self.outer else []
        out: list[Row] = []
        other = "right" if side == "left" else "left"
        before, after = self.window[side]
        self.stores[side].append((key, ts, self.seq, values))
        self.seq += 1
        self.store_time[side] = max(self.store_time.get(side, ts), ts)
        if self.holds and ts == st:
            other_ks = "right" if self.ks_left == "left" else "left"
            for entry in sorted(self.pending, key=lambda e: (e[0], e[1], e[2])):
                e_ts, bit, e_key = entry
                lookback = self.window[self.ks_left if bit else other_ks][1]
                if e_ts + lookback + self.grace >= st:
                    continue  # this side's window is still open
                e_side, e_values = self.pending.pop(entry)
                out.append(self._row(e_side, e_key, e_values, None, e_ts))
        low, high = max(0, ts - before), max(0, ts + after)
        visible = self.store_time.get(other)
        partners = sorted(
            (
                r
                for r in self.stores[other]
                if r[0] == key
                and low <= r[1] <= high
                and visible is not None
                and r[1] > visible - self.retention
            ),
            key=lambda r: (r[1], r[2]),
        )
        other_bit = int(other == self.ks_left)
        for _, p_ts, _, p_values in partners:
            self.pending.pop((p_ts, other_bit, key), None)
            out.append(self._row(side, key, values, p_values, max(ts, p_ts)))
        if not partners and side in self.outer:
            if not self.holds or max(0, ts + after) < st:
                out.append(self._row(side, key, values, None, ts))
            else:
                self.pending[(ts, int(side == self.ks_left), key)] = (side, values)
        return out


class ForeignKeyReference:
    def __init__(self, join_type: str) -> None:
        self.left_join = join_type == "LEFT"
        self.left: dict[int, tuple[str, int | None, int]] = {}
        self.right: dict[int, tuple[str, int]] = {}

    def left_change(self, pk: int, name: str | None, fk: int | None, ts: int) -> list[Row]:
        old = self.left.get(pk)
        # INNER: a row is subscribed (may have a result) only with a foreign key
        subscribed = old is not None and (self.left_join or old[1] is not None)
        old_right = self.right.get(old[1]) if old is not None and old[1] is not None else None
        old_time = max(ts, old_right[1]) if old_right else ts
        if name is None:
            self.left.pop(pk, None)
            return [(pk, (), (), old_time, True)] if subscribed else []
        self.left[pk] = (name, fk, ts)
        r = self.right.get(fk) if fk is not None else None
        if r is not None:
            return [(pk, (pk, name, fk), (fk, r[0]), max(ts, r[1]), False)]
        if self.left_join:
            return [(pk, (pk, name, fk), (None, None), ts, False)]
        if not subscribed:
            return []
        return [(pk, (), (), old_time if fk is None else ts, True)]

    def right_change(self, rk: int, name: str | None, ts: int) -> list[Row]:
        out: list[Row] = []
        for pk in sorted(k for k, v in self.left.items() if v[1] == rk):
            l_name, fk, _ = self.left[pk]
            if name is not None:
                out.append((pk, (pk, l_name, fk), (rk, name), ts, False))
            elif self.left_join:
                out.append((pk, (pk, l_name, fk), (None, None), ts, False))
            else:
                out.append((pk, (), (), ts, True))
        if name is None:
            self.right.pop(rk, None)
        else:
            self.right[rk] = (name, ts)
        return out
