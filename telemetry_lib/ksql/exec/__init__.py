"""Physical operators over polars batches, one per module, and the physical planner.

``operator`` (the contract, context and pipeline), ``source`` / ``filter`` / ``partition_by`` /
``project`` / ``sink``, ``physical_planner`` (logical plan -> pipeline), ``processing_log``,
``timestamps`` (TIMESTAMP / TIMESTAMP_FORMAT extraction), ``batch`` (internal field names), and
the bridges to the serde package and to the expression compiler (``expressions``, owned by F).
"""

from __future__ import annotations

__all__: list[str] = []
