"""``com.mongodb.kafka.connect.MongoSourceConnector``: one collection's change stream (after an
optional copy of its documents) as Kafka records. Properties: see ``source_config``; record
shapes: see ``source_records``.

How a task moves through its work (numbered as in the code):

1. Start: read the committed offset of the partition ``{"ns": "<db>.<coll>"}``. An offset
   ``{"_id": <token>}`` resumes the change stream right after that token (nothing lost,
   nothing repeated). Without one (or with one marked ``copy``): ``startup.mode`` decides —
   ``latest`` (now), ``timestamp`` (the configured operation time), ``copy_existing``.
2. copy_existing opens the change stream FIRST, so every write from then on is in it, then reads
   the collection (``startup.mode.copy.existing.pipeline`` applied) as raw batches of
   ``poll.max.batch.size`` documents (``mongo.RawDocumentBatches``, read ahead by the task's
   own thread), one batch per poll, decoded and converted in one go (``decode_documents``,
   ``copy_records``). Their offsets are marked ``copy``: a restart during the copy copies
   again, as the official connector does (records copied before the restart are then in the
   topic twice).
3. Boundary: when the copy is done, the same poll drains the change stream up to now. An insert
   of a document the copy already published is dropped (the copy saw it), so the boundary has
   neither loss nor duplicates; other events are published. The last record of that poll
   carries the stream position after the drain — the first resumable offset.
4. Streaming: the change stream is read as raw getMore batches (``mongo.RawChangeBatches``,
   ``STREAM_GETMORE`` events per getMore unless ``batch.size`` says otherwise) by a
   thread of the task's own (``source_prefetch``), which sends the next getMore as soon as it
   handed one batch over; poll decodes and converts that batch (``decode_changes``,
   ``stream_records``) while MongoDB builds the next one and the worker's producer sends the
   previous one. Each record's offset is its event's resume token. The worker stores an
   offset only after Kafka acknowledged the record (``SourceTask.commit_records``), so a
   restart resumes after the last acknowledged event; after a crash (kill -9) the records
   acknowledged since the worker's last offset flush are published again (at-least-once, as
   Kafka Connect without exactly-once source support). A paused task keeps its read-ahead
   (at most ``PREFETCH_DEPTH`` + 1 batches), so a resume starts with events in hand.
   An idle poll with ``heartbeat.interval.ms`` set may return a heartbeat instead (see the
   known limits).
5. MongoDB unreachable: the poll raises RetriableError (the worker polls again after a backoff)
   and the next poll reopens the change stream after the last event handed out.

Known limits: one task per connector (one change stream per collection); the copy keeps the
ids of copied documents in memory until the boundary is passed (a few MB per 100k documents).
NX-27017 ignores ``startAtOperationTime`` (startup.mode=timestamp starts now there). With a
``pipeline`` that filters events out, the stored position moves with published events; as the
official connector, ``heartbeat.interval.ms`` > 0 makes an idle poll publish a heartbeat
(``heartbeat_record``, to ``heartbeat.topic.name``) whose offset is the getMore reply's
``postBatchResumeToken`` — past the filtered events — so a restart does not re-read them
(GAP post-batch-token: NX-27017 moves that token past filtered events only until the first
event that matches; after it, a restart re-reads the filtered ones there — nothing lost or
repeated either way). A stream the server closed (on MongoDB: after the invalidate event of a
drop or rename) fails that poll with a RetriableError; the next poll reopens it after the
position, sent as ``startAfter`` as the official connector does — after an invalidate that is
the invalidate's token (the last batch's ``postBatchResumeToken``), which ``resumeAfter``
refuses — so the connector goes on with the re-created collection instead of failing every
poll (MongoDB 4.2+). NX-27017 emits no drop/invalidate events (GAP no-invalidate); its
streams are closed only by killCursors, which the tests use.
Throughput (bench/bench_connectors.py, 2 shared cores; CPU per 30k documents, medians of A/B
alternations of old and new code in one process): the copy costs the worker ~0.28 s (was ~0.41:
raw find batches decoded in one call, records made per batch, dates as DatetimeMS so
SimplifiedJson is one msgspec call) and NX-27017 ~0.42 s, of which ~0.24 s come before the
first batch (NX-27017 loads the whole result on the find; a plain find waits the same).
A change-stream backlog costs the worker ~0.40 s (was ~0.48-0.53; the cyclic collector's time
cut from ~0.06-0.19 to ~0.02-0.05 s: records kept column by column, decoded batches freed
inside the GC pause; 5,000-event getMores) and NX-27017 ~0.6-0.8 s (~22-27 us per event,
against ~13 us per document for a find: it walks and re-encodes every change document), so
on a quiet machine the stream runs at the pace of NX-27017 serving it; on a loaded one the
three processes (worker, NX-27017, Tansu) share what the cores have left. Final A/B (session
start vs now, load ~2, medians of 6 runs each): copy 0.98 -> 0.70 s per 30k documents (ratio
to find 0.60 -> 0.80); stream 1.03 -> 0.98 s (ratio 0.49 both: bound by NX-27017's ~0.75 s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from telemetry_lib.connectors.api import (
    ConfigDef,
    ConfigValue,
    RetriableError,
    SourceConnector,
    SourceRecord,
    SourceTask,
    register_plugin,
)
from telemetry_lib.connectors.mongodb.source_config import (
    SOURCE_CONFIG,
    SourceSettings,
    parse_source_settings,
)
from telemetry_lib.connectors.mongodb.source_prefetch import READ_WAIT_S, Prefetcher
from telemetry_lib.connectors.mongodb.source_records import (
    change_event_document,
    copy_records,
    event_record,
    heartbeat_record,
    id_key,
    stream_records,
    token_offset,
)
from telemetry_lib.errors import MongoError
from telemetry_lib.kafka.gc_pause import gc_paused
from telemetry_lib.mongo import (
    DECODE_OPTIONS,
    ChangeFeed,
    CopyBatch,
    RawChangeBatches,
    RawDocumentBatches,
    decode_changes,
    decode_documents,
    get_collection,
    mongo_client,
    resume_token_from_json,
)

__all__ = ["MongoSourceConnector", "MongoSourceTask", "SOURCE_CLASS"]

logger = logging.getLogger(__name__)

SOURCE_CLASS = "com.mongodb.kafka.connect.MongoSourceConnector"
#: The version of the official connector whose behaviour this follows.
VERSION = "1.13.0"
# The change stream's server-side wait per round trip. NX-27017 serves one command at a time,
# so a long-waiting getMore would hold up every writer; 200 ms keeps idle polling cheap.
MAX_AWAIT_MS = 200
# A poll blocks at most this long when idle (the worker's contract: about a second).
MAX_POLL_WAIT_S = 1.0
# The boundary drain stops when reads bring nothing for this long: the stream is then at the
# present. An empty getMore already says so (MongoDB holds it up to maxAwaitTimeMS for new
# events; NX-27017 writes a change's event in the write's own transaction, so whatever the
# copy saw is in the stream); this adds one re-read 20 ms later (was 0.2 s: ~15% of a 30k-
# document copy spent waiting).
DRAIN_IDLE_S = 0.02


# Events per change-stream getMore when batch.size is not set (the official connector then
# leaves the size to the server: up to 16 MB). A backlog arrives in few round trips: each costs
# NX-27017 a changelog prune and a commit, and the worker ~1.5 ms of pymongo and a GIL hand-
# over; polls hand the events out poll.max.batch.size at a time. Measured on a 30k-event
# backlog against getMores of 1,000: see the module docstring.
STREAM_GETMORE = 5_000


def _cursor_batch(settings: SourceSettings) -> int:
    """The change stream's getMore batch size: ``batch.size`` when set, else
    ``STREAM_GETMORE`` or one poll's worth (``poll.max.batch.size``) if that is more (NX-27017
    answers an unsized getMore with 101 events: many more round trips)."""
    return settings.batch_size or max(settings.max_batch, STREAM_GETMORE)


@register_plugin(SOURCE_CLASS, version=VERSION)
class MongoSourceConnector(SourceConnector):
    """The MongoDB source connector (one task per collection)."""

    VERSION = VERSION

    def __init__(self) -> None:
        super().__init__()
        self._props: dict[str, str] = {}

    def config_def(self) -> ConfigDef:
        return SOURCE_CONFIG

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        return SOURCE_CONFIG.validate(props)

    def start(self, props: Mapping[str, str]) -> None:
        parse_source_settings(props)  # raises ConnectorConfigError naming the property
        self._props = dict(props)

    def task_class(self) -> type[SourceTask]:
        return MongoSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self._props)]


class MongoSourceTask(SourceTask):
    """Copies and/or streams one collection (see the module docstring)."""

    VERSION = VERSION

    def __init__(self) -> None:
        super().__init__()
        self._settings: SourceSettings | None = None
        self._client: Any = None
        self._collection: Any = None
        self._feed: ChangeFeed | None = None
        self._position: Mapping[str, Any] | None = None  # token after the last event handed out
        self._copy: RawDocumentBatches | None = None
        self._copied: set[str] = set()
        self._copy_token: dict[str, str] = {}
        self._copy_pending = False
        self._raw: RawChangeBatches | None = None
        self._prefetch: Prefetcher[tuple[bytes, dict[str, Any] | None]] | None = None
        self._held: list[dict[str, Any]] = []  # decoded events not handed out yet
        self._batch_token: dict[str, Any] | None = None  # the held batch's postBatchResumeToken
        self._last_heartbeat = 0.0  # monotonic time of the last heartbeat check that was due
        self._heartbeat_token = ""  # the position the last heartbeat carried
        self._copy_prefetch: Prefetcher[tuple[CopyBatch, bool]] | None = None

    @property
    def settings(self) -> SourceSettings:
        if self._settings is None:
            raise RuntimeError("MongoSourceTask used before start()")
        return self._settings

    def start(self, props: Mapping[str, str]) -> None:
        settings = self._settings = parse_source_settings(props)
        self._client = mongo_client(settings.uri)
        # every read decodes dates as DatetimeMS (the raw batches, the copy's boundary feed),
        # so a document _id reads the same on each path
        self._collection = get_collection(
            self._client, settings.collection, database=settings.database
        ).with_options(codec_options=DECODE_OPTIONS)
        # 1. the committed offset decides where to start
        offset = self.context.offset_reader.offset(settings.source_partition) or {}
        if isinstance(offset.get("_id"), str) and offset.get("copy") != "true":
            self._position = resume_token_from_json(offset["_id"])
            logger.info("%s: resuming the change stream after %s", self._name, offset["_id"])
            return
        if settings.startup_mode == "copy_existing":
            self._copy_pending = True

    def poll(self) -> list[SourceRecord]:
        try:
            if self._copy_pending:
                self._begin_copy()
            if self._copy is not None:
                return self._poll_copy()
            return self._poll_stream()
        except MongoError as exc:
            # 5. the next poll reopens the stream after the last event handed out (an
            # interrupted copy starts again, as the official connector's does)
            self._close_feed()
            if self._copy is not None or self._copy_pending:
                self._copy, self._copy_pending, self._position = None, True, None
                self._copied.clear()
            raise RetriableError(f"MongoDB source {self._name}: {exc.message}") from exc

    def _begin_copy(self) -> None:
        # 2. the change stream first, so no write between stream start and copy is missed
        feed = self._open_feed()
        self._position = feed.resume_token
        self._copy_token = token_offset(self._position or {}, copying=True)
        self._copy = RawDocumentBatches(self._collection,
                                        pipeline=list(self.settings.copy_pipeline) or None,
                                        batch_size=self.settings.max_batch)  # fmt: skip
        self._copy_pending = False
        logger.info("%s: copying the existing documents", self._name)

    def _poll_copy(self) -> list[SourceRecord]:
        settings = self.settings
        assert self._copy is not None
        if self._copy_prefetch is None:
            # the last batch ends the thread: the poll that copies the last document also
            # crosses the boundary
            self._copy_prefetch = Prefetcher(self._copy.next_raw,
                                             last=lambda batch: batch[1]).start()  # fmt: skip
        batch = self._copy_prefetch.take(MAX_POLL_WAIT_S)
        if batch is None:
            return []
        data, is_last = batch
        with gc_paused():  # decoded and converted here, while the thread reads the next batch
            documents = decode_documents(data)
            self._copied.update([id_key(d.get("_id")) for d in documents])
            records = copy_records(documents, self._copy_token, settings)
            del documents  # freed now (see _poll_stream)
        if not is_last:
            return records
        self._copy_prefetch.close()
        self._copy_prefetch = None
        # 3. the copy is complete: drain the stream to now, dropping inserts already copied
        self._copy.close()
        self._copy = None
        feed = self._open_feed()
        while True:
            events = feed.next_batch(max_events=settings.max_batch, timeout=DRAIN_IDLE_S)
            if not events:
                break
            for event in events:
                if event.operation == "insert" and id_key(event.document_key.get("_id")) in (
                    self._copied
                ):
                    continue
                record = event_record(change_event_document(event),
                                      token_offset(event.resume_token), settings)  # fmt: skip
                if record is not None:
                    records.append(record)
        self._copied.clear()
        self._position = feed.resume_token
        logger.info("%s: copy done (%d records in the last batch); streaming changes",
                    self._name, len(records))  # fmt: skip
        if records and self._position is not None:
            final = records[-1]
            records[-1] = SourceRecord(
                topic=final.topic, value=final.value, key=final.key,
                source_partition=final.source_partition,
                source_offset=token_offset(self._position),
            )  # fmt: skip
        return records

    def _poll_stream(self) -> list[SourceRecord]:
        # 4. raw batches read ahead by the prefetcher (the next getMore is on the wire while
        # this thread decodes and converts the previous batch and the worker produces)
        settings = self.settings
        if self._prefetch is None:
            reader = self._open_raw_stream()
            handed: list[dict[str, Any] | None] = [None]

            def read() -> tuple[bytes, dict[str, Any] | None] | None:
                data = reader.next_raw(timeout=READ_WAIT_S)
                token = reader.post_batch_token
                if data is None:
                    # nothing published, but the position may have moved past filtered
                    # events: worth handing over only when heartbeats can carry it
                    if not settings.heartbeat_ms or token is None or token == handed[0]:
                        return None
                    data = b""
                handed[0] = token
                return data, token

            self._prefetch = Prefetcher(read).start()
        # a burst of short-lived dicts and records: the cyclic collector would run ~10 young
        # collections per 1,000 events (and promote in-flight records towards full ones)
        if not self._held:
            item = self._prefetch.take(min(settings.poll_await_ms / 1000, MAX_POLL_WAIT_S))
            if item is None:
                return self._heartbeat()
            data, self._batch_token = item
            with gc_paused():
                self._held = decode_changes(data) if data else []
            if not self._held:
                self._position = self._batch_token or self._position
                return self._heartbeat()
        with gc_paused():
            # at most poll.max.batch.size events per poll (a getMore may bring more)
            events = self._held[: settings.max_batch]
            del self._held[: settings.max_batch]
            # after the batch's last event: the position the server gave with the batch
            # (past events the pipeline filtered out)
            last = events[-1]["_id"]
            self._position = last if self._held else (self._batch_token or last)
            records = stream_records(events, settings)
            del events  # freed now: the collection the pause's end brings never traces them
        return records

    def _heartbeat(self) -> list[SourceRecord]:
        """An idle poll: a heartbeat when ``heartbeat.interval.ms`` has passed since the last
        one was due and the position moved since the last heartbeat (as the official
        connector's HeartbeatManager)."""
        settings = self.settings
        if not settings.heartbeat_ms or self._position is None:
            return []
        now = time.monotonic()
        if (now - self._last_heartbeat) * 1000 <= settings.heartbeat_ms:
            return []
        self._last_heartbeat = now
        text = token_offset(self._position)["_id"]
        if text == self._heartbeat_token:
            return []
        self._heartbeat_token = text
        return [heartbeat_record(text, settings)]

    def _stream_options(self) -> dict[str, Any]:
        """The change stream's options, the same for the copy's feed and the raw stream: from
        the last position handed out, the configured full-document mode, await, pipeline,
        start time and getMore size."""
        settings = self.settings
        return {
            "resume_after": self._position,
            "full_document": settings.full_document,
            "max_await_ms": min(settings.poll_await_ms, MAX_AWAIT_MS),
            "pipeline": list(settings.pipeline) or None,
            "start_at_operation_time": (
                settings.start_at_seconds if settings.startup_mode == "timestamp" else None
            ),
            "batch_size": _cursor_batch(settings),
        }

    def _open_feed(self) -> ChangeFeed:
        if self._feed is None:
            self._feed = ChangeFeed(self._collection, **self._stream_options())
        return self._feed

    def _open_raw_stream(self) -> RawChangeBatches:
        """The streaming phase's reader: after the copy's feed (closed here), from the last
        position handed out (none: now, or the configured operation time)."""
        if self._feed is not None:
            self._feed.close()
            self._feed = None
        if self._raw is None:
            self._raw = RawChangeBatches(self._collection, **self._stream_options())
        return self._raw

    def _close_feed(self) -> None:
        if self._copy_prefetch is not None:
            self._copy_prefetch.close()
            self._copy_prefetch = None
        if self._prefetch is not None:
            self._prefetch.close()
            self._prefetch = None
        self._held = []  # read again after the last event handed out
        for cursor in (self._feed, self._raw, self._copy):
            if cursor is None:
                continue
            try:
                cursor.close()
            except Exception:  # noqa: BLE001 - a broken cursor may fail to close; it is dropped
                logger.debug("closing a broken change stream failed", exc_info=True)
        self._feed = self._raw = None

    @property
    def _name(self) -> str:
        try:
            return self.context.connector_name
        except RuntimeError:
            return "mongo-source"

    def stop(self) -> None:
        self._close_feed()
        self._copy = None
        if self._client is not None:
            self._client.close()
            self._client = None
