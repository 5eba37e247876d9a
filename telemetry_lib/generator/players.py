"""Player profiles: id, name, team, region and skill, deterministic for a seed.

Players are numbered and grouped into teams of ``team_size`` in order (player ``i`` is on team
``i // team_size``); a team plays from one region. Skill is a number in (0, 1): the chance of
winning a duel grows with it, so a player's kill/death ratio follows their skill.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from telemetry_lib.generator.config import ResolvedConfig

__all__ = ["PLAYER_SCHEMA", "generate_players", "player_ids"]

logger = logging.getLogger(__name__)

#: Columns of the players table (data/README.md documents them).
PLAYER_SCHEMA: dict[str, pl.DataType] = {
    "player_id": pl.String(),
    "name": pl.String(),
    "team": pl.String(),
    "region": pl.String(),
    "skill": pl.Float64(),
}
#: Sub-stream of the seeded RNG used for profiles, so profiles never shift when the event
#: generation draws more or fewer numbers.
_PLAYERS_STREAM = 1
#: Skill ~ Beta(2.5, 2.5): most players are average, few are very weak or very strong.
_SKILL_BETA = 2.5
#: Skill is kept away from 0 and 1 so that nobody always wins or always loses a duel.
_SKILL_MIN, _SKILL_MAX = 0.05, 0.95
#: Regions and how common they are among teams (rough shape of a global player base).
_REGIONS = ("NA-East", "NA-West", "EU-West", "EU-North", "APAC", "LATAM")
_REGION_WEIGHTS = (0.22, 0.16, 0.24, 0.12, 0.18, 0.08)
_NAME_PREFIXES = (
    "Shadow",
    "Silent",
    "Rapid",
    "Iron",
    "Crimson",
    "Frost",
    "Nova",
    "Ghost",
    "Blaze",
    "Storm",
    "Lunar",
    "Viper",
    "Echo",
    "Omega",
    "Rogue",
    "Sonic",
    "Atomic",
    "Hyper",
    "Cyber",
    "Mystic",
)
_NAME_SUFFIXES = (
    "Falcon",
    "Wolf",
    "Tiger",
    "Raven",
    "Cobra",
    "Hawk",
    "Fox",
    "Bear",
    "Shark",
    "Lynx",
    "Dragon",
    "Phantom",
    "Knight",
    "Ranger",
    "Hunter",
    "Sniper",
    "Pilot",
    "Spectre",
    "Titan",
    "Ace",
)
_TEAM_COLOURS = (
    "Amber",
    "Azure",
    "Black",
    "Bronze",
    "Cobalt",
    "Crimson",
    "Emerald",
    "Golden",
    "Indigo",
    "Ivory",
    "Jade",
    "Onyx",
    "Orange",
    "Purple",
    "Ruby",
    "Scarlet",
    "Silver",
    "Teal",
    "Violet",
    "White",
)
_TEAM_ANIMALS = (
    "Wolves",
    "Tigers",
    "Ravens",
    "Cobras",
    "Hawks",
    "Foxes",
    "Bears",
    "Sharks",
    "Lynxes",
    "Dragons",
    "Vipers",
    "Falcons",
    "Panthers",
    "Rhinos",
    "Scorpions",
    "Owls",
    "Jackals",
    "Stallions",
    "Hornets",
    "Krakens",
)


def player_ids(count: int) -> list[str]:
    """The ids of ``count`` players: ``P00000``, ``P00001``, ... (zero-padded, sortable)."""
    width = max(5, len(str(count - 1)))
    return [f"P{i:0{width}d}" for i in range(count)]


def generate_players(resolved: ResolvedConfig) -> pl.DataFrame:
    """The player profiles of a run (:data:`PLAYER_SCHEMA`), ordered by ``player_id``."""
    config = resolved.config
    rng = np.random.default_rng([config.seed, _PLAYERS_STREAM])
    count = config.players
    teams = -(-count // resolved.team_size)
    skill = np.clip(rng.beta(_SKILL_BETA, _SKILL_BETA, size=count), _SKILL_MIN, _SKILL_MAX)
    prefix = rng.integers(len(_NAME_PREFIXES), size=count)
    suffix = rng.integers(len(_NAME_SUFFIXES), size=count)
    number = rng.integers(1, 100, size=count)
    team_region = rng.choice(len(_REGIONS), size=teams, p=np.asarray(_REGION_WEIGHTS))
    team_of = np.arange(count) // resolved.team_size
    names = [
        f"{_NAME_PREFIXES[p]}{_NAME_SUFFIXES[s]}{n}"
        for p, s, n in zip(prefix.tolist(), suffix.tolist(), number.tolist(), strict=True)
    ]
    team_names = [_team_name(t) for t in range(teams)]
    return pl.DataFrame(
        {
            "player_id": player_ids(count),
            "name": names,
            "team": [team_names[t] for t in team_of.tolist()],
            "region": [_REGIONS[r] for r in team_region[team_of].tolist()],
            "skill": np.round(skill, 3),
        },
        schema=PLAYER_SCHEMA,
    )


def _team_name(index: int) -> str:
    """A readable, unique team name: colour + animal, numbered once the pairs run out."""
    pairs = len(_TEAM_COLOURS) * len(_TEAM_ANIMALS)
    colour = _TEAM_COLOURS[index % len(_TEAM_COLOURS)]
    animal = _TEAM_ANIMALS[(index // len(_TEAM_COLOURS)) % len(_TEAM_ANIMALS)]
    cycle = index // pairs
    return f"{colour} {animal}" if cycle == 0 else f"{colour} {animal} {cycle + 1}"
