"""State stores for stateful operators (keyed and windowed aggregations: engine II).

The stateless queries of engine I keep no state: table sources are passed through record by
record (a filtered-out table row becomes a tombstone without needing the previous value), so
this package is intentionally empty until aggregations land.
"""

from __future__ import annotations

__all__: list[str] = []
