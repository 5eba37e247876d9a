"""Generator parameters: what to generate, and how much, how fast and how messy.

:class:`GeneratorConfig` is the one frozen input of the telemetry generator. Its size is
given by any two of ``events``, ``duration_s`` and ``rate`` (the third follows);
:meth:`GeneratorConfig.resolve` turns it into a validated :class:`ResolvedConfig` with the
exact event count, the event-time density and the pacing rate (or none: as fast as possible).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from telemetry_lib.errors import GeneratorError

__all__ = [
    "DEFAULT_EVENTS",
    "DEFAULT_EVENTS_PER_PLAYER_MINUTE",
    "DEFAULT_START_MS",
    "GeneratorConfig",
    "ResolvedConfig",
]

logger = logging.getLogger(__name__)

#: Events generated when neither ``events`` nor ``duration_s`` is given: enough for a few
#: 5-minute windows per player in a notebook run, small enough to take well under a second.
DEFAULT_EVENTS = 100_000
#: Event-time density when ``rate`` does not set it, per player: 2 events (one kill, one
#: death) per player-minute, about the pace of a casual arena shooter. 1000 players then make
#: ~33 events/s, and each player has a handful of kills and deaths per 5-minute window.
DEFAULT_EVENTS_PER_PLAYER_MINUTE = 2.0
#: Default first event time (2024-01-01T00:00:00Z). A fixed instant, not "now", so that the
#: same seed gives byte-identical output on every run; pass ``start_ms`` for live runs.
DEFAULT_START_MS = 1_704_067_200_000
#: Players per team. Matches are two teams against each other (5v5, the arena-shooter norm).
DEFAULT_TEAM_SIZE = 5
#: Length of one round of matches in event time: 10 minutes spans two 5-minute windows, so
#: the demo's windows see both whole and split matches.
DEFAULT_MATCH_MS = 600_000
#: Largest delay of an out-of-order record: 30 s keeps it inside a 5-minute window's grace.
DEFAULT_OUT_OF_ORDER_MAX_MS = 30_000
#: How far stream time must have moved past a record for it to count as late: 10 minutes is
#: beyond a 5-minute window plus a 5-minute grace period.
DEFAULT_LATE_AFTER_MS = 600_000
#: Upper bound on the fractions: above this the "normal" stream would be the minority.
_MAX_FRACTION = 0.5
#: Fewest players that still make two full teams of at least one player each.
_MIN_PLAYERS = 2


@dataclass(frozen=True)
class GeneratorConfig:
    """What the generator produces. Size: give any two of events, duration_s and rate.

    - ``events``: number of valid events (kills + deaths, so even).
    - ``duration_s``: event-time span of the run, from ``start_ms``.
    - ``rate``: events per second. When set, sinks also *pace* their writes to this rate
      (wall clock); when ``None`` they write as fast as possible.
    Without ``rate`` (and unless ``events`` and ``duration_s`` fix it) the event-time density is
    :data:`DEFAULT_EVENTS_PER_PLAYER_MINUTE` per player; with nothing given, ``events`` is
    :data:`DEFAULT_EVENTS`.
    """

    seed: int = 42
    players: int = 1000
    events: int | None = None
    duration_s: float | None = None
    rate: float | None = None
    start_ms: int = DEFAULT_START_MS
    team_size: int = DEFAULT_TEAM_SIZE
    match_ms: int = DEFAULT_MATCH_MS
    positions: bool = True
    weapons: bool = True
    out_of_order_fraction: float = 0.0
    out_of_order_max_ms: int = DEFAULT_OUT_OF_ORDER_MAX_MS
    late_fraction: float = 0.0
    late_after_ms: int = DEFAULT_LATE_AFTER_MS
    malformed_fraction: float = 0.0

    def resolve(self) -> ResolvedConfig:
        """Validate and compute the exact size, density and pacing; raises GeneratorError."""
        _check_int("seed", self.seed, minimum=0)  # numpy seeds are non-negative
        _check_int("players", self.players, minimum=_MIN_PLAYERS)
        _check_int("team_size", self.team_size, minimum=1)
        _check_int("match_ms", self.match_ms, minimum=1)
        _check_int("start_ms", self.start_ms, minimum=0)
        _check_int("out_of_order_max_ms", self.out_of_order_max_ms, minimum=1)
        _check_int("late_after_ms", self.late_after_ms, minimum=1)
        for name in ("out_of_order_fraction", "late_fraction", "malformed_fraction"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= _MAX_FRACTION:
                raise GeneratorError(
                    f"{name}={value!r} is out of range",
                    hint=f"give a fraction between 0 and {_MAX_FRACTION}",
                )
        if self.out_of_order_fraction + self.late_fraction > _MAX_FRACTION:
            raise GeneratorError(
                "out_of_order_fraction + late_fraction exceeds "
                f"{_MAX_FRACTION}: {self.out_of_order_fraction} + {self.late_fraction}",
                hint="lower one of them",
            )
        team_size = min(self.team_size, self.players // 2)
        default_density = self.players * DEFAULT_EVENTS_PER_PLAYER_MINUTE / 60.0
        given = [n for n in ("events", "duration_s", "rate") if getattr(self, n) is not None]
        if len(given) == 3:
            raise GeneratorError(
                "events, duration_s and rate were all given; the third follows from the other two",
                hint="drop one of them",
            )
        if self.duration_s is not None and not (
            math.isfinite(self.duration_s) and self.duration_s > 0
        ):
            raise GeneratorError(
                f"duration_s={self.duration_s!r} must be a positive number of seconds"
            )
        if self.rate is not None and not (math.isfinite(self.rate) and self.rate > 0):
            raise GeneratorError(
                f"rate={self.rate!r} must be a positive number of events per second",
                hint="leave rate unset (None) to write as fast as possible",
            )
        if self.events is not None:
            _check_int("events", self.events, minimum=2)
            if self.events % 2:
                raise GeneratorError(
                    f"events={self.events} is odd, but every kill is paired with a death",
                    hint=f"ask for an even count, e.g. {self.events + 1}",
                )
            events = self.events
            if self.duration_s is not None:
                density = events / self.duration_s
            else:
                density = self.rate if self.rate is not None else default_density
        else:
            density = self.rate if self.rate is not None else default_density
            if self.duration_s is None:
                events = DEFAULT_EVENTS
            else:
                events = int(self.duration_s * density) // 2 * 2
                if events < 2:
                    raise GeneratorError(
                        f"duration_s={self.duration_s} at {density} events/s gives no events",
                        hint="give a longer duration or a higher rate",
                    )
        return ResolvedConfig(
            config=self,
            events=events,
            kills=events // 2,
            kill_interval_ms=2000.0 / density,
            pace_rate=self.rate,
            team_size=team_size,
        )


@dataclass(frozen=True)
class ResolvedConfig:
    """A validated :class:`GeneratorConfig` with its exact size, density and pacing."""

    config: GeneratorConfig
    events: int
    kills: int
    #: Event-time gap between consecutive kills (each kill makes two events).
    kill_interval_ms: float
    #: Events per second the sinks pace to; None means as fast as possible.
    pace_rate: float | None
    #: Effective team size (capped so that at least two teams exist).
    team_size: int

    @property
    def end_ms(self) -> int:
        """Exclusive upper bound of every generated event's timestamp."""
        return self.config.start_ms + math.ceil(self.kills * self.kill_interval_ms)


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise GeneratorError(f"{name}={value!r} is invalid", hint=f"give an integer >= {minimum}")
