"""Logical plans: frozen node dataclasses (``logical``), the builder from an analysed query
(``builder``) and the meaning-preserving rewrite rules (``rules``). No polars here; the physical
planner (``telemetry_lib.ksql.exec.physical_planner``) is the only bridge to operators.
"""

from __future__ import annotations

__all__: list[str] = []
