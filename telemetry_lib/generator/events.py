"""Kill/death events in delivery order, generated in vectorised chunks.

How a run is built (all draws from numpy generators seeded by ``(seed, stream, index)``, so
the output depends only on the config, never on how a sink consumes it):

1. Kills are numbered ``k = 0 .. kills-1``; kill ``k`` happens at
   ``start_ms + floor((k + u) * kill_interval_ms)`` with ``u`` uniform in [0, 1), so event
   time advances at the requested density and stays sorted.
2. Time is cut into rounds of ``match_ms``; each round the teams are shuffled into pairs, and
   each pair plays one match (an odd team sits the round out).
3. Each kill picks a match; the winning side is drawn by the teams' total skill, the killer
   within it by skill, the victim on the other side by ``1 - skill``.
4. A kill yields two events with the same timestamp, match and weapon: ``kill`` for the
   killer (``event_id = 2k``) and ``death`` for the victim (``event_id = 2k + 1``); each
   names the other as ``opponent_id``. Kill positions are the killer's, death positions the
   victim's (drawn around a few map hotspots).
5. Delivery: a record picked as out-of-order is delayed by 1..out_of_order_max_ms, a late
   one by late_after_ms + 1..late_after_ms; records are delivered sorted by
   ``(timestamp + delay, event_id)``. Chunks hand over not-yet-due records, so this order is
   exact across chunk boundaries; a delay running past the end of the run delivers the record
   at the end.
6. Malformed records (see :data:`MALFORMED_KINDS`) are inserted between delivered records:
   each batch of ``n`` valid records gets ``Binomial(n, f / (1 - f))`` of them, so they are a
   fraction ``f`` of everything delivered. They come on top of the valid events, so the valid
   events alone keep every invariant (kills == deaths per match).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from telemetry_lib.generator.config import ResolvedConfig
from telemetry_lib.generator.players import generate_players

__all__ = [
    "EVENT_SCHEMA",
    "EventBatch",
    "MALFORMED_KINDS",
    "MALFORMED_SCHEMA",
    "iter_batches",
    "value_columns",
]

logger = logging.getLogger(__name__)

#: Columns of a batch's valid events, in the order they are written to JSON. ``seq`` (the
#: record's position in the delivered stream, malformed records included) is not written.
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.Int64(),
    "player_id": pl.String(),
    "event_type": pl.String(),
    "timestamp": pl.Int64(),
    "match_id": pl.String(),
    "opponent_id": pl.String(),
    "weapon": pl.String(),
    "x": pl.Float64(),
    "y": pl.Float64(),
    "seq": pl.Int64(),
}
#: Columns describing the malformed records of a batch.
MALFORMED_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64(),
    "player_id": pl.String(),
    "event_type": pl.String(),
    "timestamp": pl.Int64(),
    "kind": pl.String(),
    "value": pl.Binary(),
}
#: What a malformed record looks like (data/README.md documents them). Each one is rejected
#: by ksqlDB's JSON deserializer for the demo stream; wrong types that ksqlDB coerces (a
#: number into a VARCHAR, a numeric string into a BIGINT) would not be malformed and are
#: deliberately not used.
MALFORMED_KINDS = ("truncated", "not_json", "bad_timestamp", "not_object")
#: Text put into ``timestamp`` by ``bad_timestamp`` records: not a number, so BIGINT fails.
BAD_TIMESTAMP_TEXT = "not-a-timestamp"
#: Kills per generation chunk: 100k events, about 10 MB of JSON — large enough to amortise
#: the per-chunk overhead, small enough to stream runs of any length in bounded memory.
CHUNK_KILLS = 50_000

#: Sub-streams of the seeded RNG (see the module docstring).
_EVENTS_STREAM = 2
_ROUNDS_STREAM = 3
_MAP_STREAM = 4
_MALFORMED_STREAM = 5
#: Map is a 1000 x 1000 square; deaths cluster around this many hotspots (choke points).
_MAP_SIZE = 1000.0
_HOTSPOTS = 8
#: Spread of deaths around a hotspot, and of a killer's position around the victim.
_HOTSPOT_SIGMA = 70.0
_KILL_RANGE_SIGMA = 35.0
#: Weapons and how often they get the kill.
_WEAPONS = ("rifle", "smg", "shotgun", "sniper", "pistol", "knife", "grenade")
_WEAPON_WEIGHTS = (0.34, 0.2, 0.12, 0.12, 0.12, 0.04, 0.06)
#: Floor on the "chance of dying" weight 1 - skill, so the best player can still die.
_VICTIM_WEIGHT_FLOOR = 0.05


@dataclass(frozen=True)
class EventBatch:
    """One delivered slice of the stream: valid events plus the malformed records among them.

    ``events`` has :data:`EVENT_SCHEMA` (minus ``weapon``/``x``/``y`` when those are turned
    off), in delivery order; ``malformed`` has :data:`MALFORMED_SCHEMA`. Together their
    ``seq`` values are consecutive from ``first_seq``.
    """

    index: int
    first_seq: int
    events: pl.DataFrame
    malformed: pl.DataFrame

    @property
    def records(self) -> int:
        """Valid plus malformed records in this batch."""
        return self.events.height + self.malformed.height


def value_columns(resolved: ResolvedConfig) -> list[str]:
    """The event fields written to JSON / Mongo for this config, in order."""
    cols = ["event_id", "player_id", "event_type", "timestamp", "match_id", "opponent_id"]
    if resolved.config.weapons:
        cols.append("weapon")
    if resolved.config.positions:
        cols += ["x", "y"]
    return cols


def iter_batches(resolved: ResolvedConfig) -> Iterator[EventBatch]:
    """The run's records as consecutive :class:`EventBatch` es (see the module docstring)."""
    world = _World.build(resolved)
    columns = value_columns(resolved)
    pending = _empty_pending(columns)
    seq = 0
    chunks = -(-resolved.kills // CHUNK_KILLS)
    for chunk in range(chunks):
        k0, k1 = chunk * CHUNK_KILLS, min((chunk + 1) * CHUNK_KILLS, resolved.kills)
        fresh = _kill_chunk(resolved, world, chunk, k0, k1).select([*columns, "_delivery"])
        merged = pl.concat([pending, fresh]).sort(["_delivery", "event_id"])
        if chunk < chunks - 1:
            boundary = resolved.config.start_ms + int(np.floor(k1 * resolved.kill_interval_ms))
            due = merged.filter(pl.col("_delivery") < boundary)
            pending = merged.filter(pl.col("_delivery") >= boundary)
        else:
            due, pending = merged, _empty_pending(columns)
        batch = _with_malformed(resolved, chunk, seq, due.drop("_delivery"))
        seq += batch.records
        yield batch


@dataclass(frozen=True)
class _World:
    """Per-run lookup arrays derived from the players and the seed."""

    player_ids: pl.Series
    killer_weights: np.ndarray  # (teams, team_size), 0 on empty slots
    victim_weights: np.ndarray  # (teams, team_size), 0 on empty slots
    team_strength: np.ndarray  # (teams,)
    hotspots: np.ndarray  # (_HOTSPOTS, 2)

    @staticmethod
    def build(resolved: ResolvedConfig) -> _World:
        players = generate_players(resolved)
        size = resolved.team_size
        teams = -(-players.height // size)
        skill = np.zeros(teams * size)
        present = np.zeros(teams * size, dtype=bool)
        skill[: players.height] = players["skill"].to_numpy()
        present[: players.height] = True
        killer = np.where(present, skill, 0.0).reshape(teams, size)
        victim = np.where(present, np.maximum(1.0 - skill, _VICTIM_WEIGHT_FLOOR), 0.0)
        rng = np.random.default_rng([resolved.config.seed, _MAP_STREAM])
        margin = _MAP_SIZE * 0.1
        return _World(
            player_ids=players["player_id"],
            killer_weights=killer,
            victim_weights=victim.reshape(teams, size),
            team_strength=killer.sum(axis=1),
            hotspots=rng.uniform(margin, _MAP_SIZE - margin, size=(_HOTSPOTS, 2)),
        )


def _kill_chunk(
    resolved: ResolvedConfig, world: _World, chunk: int, k0: int, k1: int
) -> pl.DataFrame:
    """Valid events of kills ``k0 .. k1-1`` sorted by (timestamp, event_id), with delays."""
    config = resolved.config
    rng = np.random.default_rng([config.seed, _EVENTS_STREAM, chunk])
    n = k1 - k0
    kill_no = np.arange(k0, k1, dtype=np.int64)
    ts = config.start_ms + np.floor((kill_no + rng.random(n)) * resolved.kill_interval_ms).astype(
        np.int64
    )

    # Matches: the pairing of teams in each round touched by this chunk.
    teams = world.team_strength.shape[0]
    rounds = (ts - config.start_ms) // config.match_ms
    round_ids, round_pos = np.unique(rounds, return_inverse=True)
    pairings = np.stack(
        [
            np.random.default_rng([config.seed, _ROUNDS_STREAM, int(r)])
            .permutation(teams)[: teams // 2 * 2]
            .reshape(-1, 2)
            for r in round_ids
        ]
    )
    match_slot = rng.integers(teams // 2, size=n)
    team_a = pairings[round_pos, match_slot, 0]
    team_b = pairings[round_pos, match_slot, 1]
    strength_a = world.team_strength[team_a]
    a_wins = rng.random(n) * (strength_a + world.team_strength[team_b]) < strength_a
    killer_team = np.where(a_wins, team_a, team_b)
    victim_team = np.where(a_wins, team_b, team_a)
    size = resolved.team_size
    killer = killer_team * size + _pick(world.killer_weights[killer_team], rng.random(n))
    victim = victim_team * size + _pick(world.victim_weights[victim_team], rng.random(n))

    # Two events per kill, interleaved: kill (even event_id) then death (odd).
    both = np.empty(2 * n, dtype=np.int64)
    both[0::2], both[1::2] = killer, victim
    other = np.empty(2 * n, dtype=np.int64)
    other[0::2], other[1::2] = victim, killer
    twice = np.repeat(np.arange(n), 2)
    frame: dict[str, pl.Series | np.ndarray] = {
        "event_id": np.arange(2 * k0, 2 * k1, dtype=np.int64),
        "player_id": world.player_ids.gather(both),
        "event_type": pl.Series(["kill", "death"]).gather(np.tile([0, 1], n)),
        "timestamp": ts[twice],
        "match_id": _match_ids(round_ids[round_pos], match_slot, teams // 2).gather(twice),
    }
    frame["opponent_id"] = world.player_ids.gather(other)
    if config.weapons:
        weapon = rng.choice(len(_WEAPONS), size=n, p=np.asarray(_WEAPON_WEIGHTS))
        frame["weapon"] = pl.Series(_WEAPONS).gather(weapon[twice])
    if config.positions:
        spot = world.hotspots[rng.integers(_HOTSPOTS, size=n)]
        victim_xy = np.clip(spot + rng.normal(0, _HOTSPOT_SIGMA, (n, 2)), 0, _MAP_SIZE)
        killer_xy = np.clip(victim_xy + rng.normal(0, _KILL_RANGE_SIGMA, (n, 2)), 0, _MAP_SIZE)
        xy = np.empty((2 * n, 2))
        xy[0::2], xy[1::2] = killer_xy, victim_xy
        xy = np.round(xy, 1)
        frame["x"], frame["y"] = xy[:, 0], xy[:, 1]
    frame["_delivery"] = ts[twice] + _delays(resolved, rng, 2 * n)
    return pl.DataFrame(frame)


def _pick(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise weighted choice: the slot index drawn from each row of ``weights``."""
    cum = np.cumsum(weights, axis=1)
    target = u * cum[:, -1]
    slots: np.ndarray = (cum <= target[:, None]).sum(axis=1)
    return slots


def _match_ids(rounds: np.ndarray, slots: np.ndarray, per_round: int) -> pl.Series:
    """Readable match ids ``R00012-M0003`` (round, match within the round), one per kill."""
    code, inverse = np.unique(rounds * per_round + slots, return_inverse=True)
    text = pl.DataFrame({"r": code // per_round, "m": code % per_round}).select(
        pl.concat_str(
            pl.lit("R"),
            pl.col("r").cast(pl.String).str.zfill(5),
            pl.lit("-M"),
            pl.col("m").cast(pl.String).str.zfill(4),
        )
    )
    return text.to_series().gather(inverse)


def _delays(resolved: ResolvedConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Delivery delay per event: 0, out-of-order (short) or late (long), by the fractions."""
    config = resolved.config
    delay = np.zeros(n, dtype=np.int64)
    if config.out_of_order_fraction == 0 and config.late_fraction == 0:
        return delay
    draw = rng.random(n)
    ooo = draw < config.out_of_order_fraction
    late = ~ooo & (draw < config.out_of_order_fraction + config.late_fraction)
    delay[ooo] = rng.integers(1, config.out_of_order_max_ms + 1, size=int(ooo.sum()))
    delay[late] = config.late_after_ms + rng.integers(
        1, config.late_after_ms + 1, size=int(late.sum())
    )
    return delay


def _empty_pending(columns: list[str]) -> pl.DataFrame:
    schema = {c: EVENT_SCHEMA[c] for c in columns}
    schema["_delivery"] = pl.Int64()
    return pl.DataFrame(schema=schema)


def _with_malformed(
    resolved: ResolvedConfig, chunk: int, first_seq: int, events: pl.DataFrame
) -> EventBatch:
    """Number the delivered events and insert this batch's malformed records among them."""
    fraction = resolved.config.malformed_fraction
    n = events.height
    bad = 0
    rng = np.random.default_rng([resolved.config.seed, _MALFORMED_STREAM, chunk])
    if fraction > 0 and n > 0:
        bad = int(rng.binomial(n, fraction / (1.0 - fraction)))
    if bad == 0:
        return EventBatch(
            index=chunk,
            first_seq=first_seq,
            events=events.with_columns(seq=pl.int_range(n, dtype=pl.Int64) + first_seq),
            malformed=pl.DataFrame(schema=MALFORMED_SCHEMA),
        )
    # Malformed record j goes right before valid record pos[j] (pos == n: at the end).
    pos = np.sort(rng.integers(0, n + 1, size=bad))
    kinds = rng.integers(len(MALFORMED_KINDS), size=bad)
    before = np.searchsorted(pos, np.arange(n), side="right")  # malformed before valid i
    valid_seq = first_seq + np.arange(n) + before
    bad_seq = first_seq + pos + np.arange(bad)
    source = events.select(pl.all().gather(np.minimum(pos, n - 1)))
    rows = source.to_dicts()
    values = [_malformed_value(MALFORMED_KINDS[k], row) for k, row in zip(kinds, rows, strict=True)]
    malformed = pl.DataFrame(
        {
            "seq": bad_seq,
            "player_id": source["player_id"],
            "event_type": source["event_type"],
            "timestamp": source["timestamp"],
            "kind": [MALFORMED_KINDS[k] for k in kinds.tolist()],
            "value": pl.Series(values, dtype=pl.Binary),
        },
        schema=MALFORMED_SCHEMA,
    )
    return EventBatch(
        index=chunk,
        first_seq=first_seq,
        events=events.with_columns(seq=pl.Series(valid_seq, dtype=pl.Int64)),
        malformed=malformed,
    )


def _malformed_value(kind: str, row: dict[str, object]) -> bytes:
    """The Kafka value bytes of a malformed record of ``kind`` derived from a valid ``row``."""
    text = json.dumps(row, separators=(",", ":")).encode()
    if kind == "truncated":
        return text[: len(text) // 2]
    if kind == "not_json":
        return b"\xff\xfe\x00binary-telemetry\x00" + text[:8]
    if kind == "bad_timestamp":
        return json.dumps({**row, "timestamp": BAD_TIMESTAMP_TEXT}, separators=(",", ":")).encode()
    return json.dumps(list(row.values()), separators=(",", ":")).encode()
