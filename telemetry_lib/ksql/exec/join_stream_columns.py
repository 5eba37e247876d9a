"""Working column names shared by the two stream-stream join paths.

Owns the names of the temporary columns that
:mod:`~telemetry_lib.ksql.exec.join_stream_stream` (run by run) and
:mod:`~telemetry_lib.ksql.exec.join_stream_merged` (a merged batch of both sides in one call)
both put on batches, store entries and output rows. The two paths hand frames to each other
(the merged path settles the outer-join store with the operator's method), so the names must be
the same in both: one definition keeps them in step. The ``__ssj_`` prefix marks them as the
join's own; they are dropped before any row leaves the join.
"""

from __future__ import annotations

import numpy as np

__all__ = ["AT", "DEL", "I", "NO_INDEX", "OSEQ", "OTS", "PHASE", "SIDE_BIT", "ST", "SUB"]

I = "__ssj_i"  # noqa: E741  position of the record in the (filtered) batch
ST = "__ssj_st"  # stream time after the record
OTS = "__ssj_ots"  # partner's time
OSEQ = "__ssj_oseq"  # partner's arrival sequence
AT = "__ssj_at"  # output row: index of the triggering record
PHASE = "__ssj_phase"  # output row: 0 outer emission, 1 own result
SUB = "__ssj_sub"  # output row: order within (trigger, phase)
DEL = "__ssj_del"  # pending entry: index of the record whose match removes it
SIDE_BIT = "__ssj_side"  # pending entry: 1 for Kafka Streams' left side, 0 for its right
#: "No such record" in index columns: larger than any position, so it sorts last.
NO_INDEX = np.iinfo(np.int64).max
