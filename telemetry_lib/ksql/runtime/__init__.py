"""Where queries run: the I/O interface shared by the in-memory driver and the Kafka runtime.

The Kafka runtime (persistent query loop, exactly-once checkpoints, push and pull queries) is
the ksqlDB-server issue's work and lands here; today this package holds the I/O protocol.
"""

from __future__ import annotations

from telemetry_lib.ksql.runtime.io import RECORD_SCHEMA, TopicIO, TopicSpec, empty_records

__all__ = ["RECORD_SCHEMA", "TopicIO", "TopicSpec", "empty_records"]
