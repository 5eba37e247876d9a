"""Stream lineage, like Confluent's: collection → topic → stream → query → table → topic → collection.

Owns :class:`Lineage` (nodes and directed edges, frozen data) and :func:`build_lineage`, which
draws it only from what the services report through their public APIs: ksqlDB's ``SHOW
STREAMS`` / ``SHOW TABLES`` / ``SHOW QUERIES`` / ``DESCRIBE`` (each source's topic and the
queries reading it) and Kafka Connect's connector configs (a MongoDB source connector's
collection and topic, a sink connector's topics and collection). Connection URIs are never
read into the graph (they may carry credentials). :func:`lineage_figure` renders it as a
plotly Sankey diagram (left to right in data-flow order); :meth:`Lineage.lines` as text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import plotly.graph_objects as go

from telemetry_lib.ksql.client import KsqlClient

__all__ = ["Lineage", "LineageNode", "NodeKind", "build_lineage", "lineage_figure"]

logger = logging.getLogger(__name__)

NodeKind = Literal["collection", "topic", "stream", "table", "query", "connector"]

#: Node colours by kind (the Confluent lineage palette, roughly): one per kind.
_COLOURS: dict[str, str] = {
    "collection": "#13aa52",
    "topic": "#6c757d",
    "stream": "#1f77b4",
    "table": "#9467bd",
    "query": "#ff7f0e",
    "connector": "#d62728",
}
#: The official MongoDB connector classes (the same names run on Kafka Connect and here).
_SOURCE_CLASS = "com.mongodb.kafka.connect.MongoSourceConnector"
_SINK_CLASS = "com.mongodb.kafka.connect.MongoSinkConnector"


@dataclass(frozen=True)
class LineageNode:
    """One box of the graph; ``id`` is ``kind:name`` and unique."""

    kind: NodeKind
    name: str

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Lineage:
    """Nodes and edges (``(from_id, to_id)``) of the data flow."""

    nodes: tuple[LineageNode, ...] = ()
    edges: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        """Each edge as ``kind:name -> kind:name`` (sorted: stable for tests and diffs)."""
        return sorted(f"{a} -> {b}" for a, b in self.edges)

    def paths(self) -> list[list[str]]:
        """Every maximal path from a node without inputs to a node without outputs."""
        outgoing: dict[str, list[str]] = {}
        incoming: set[str] = set()
        for a, b in self.edges:
            outgoing.setdefault(a, []).append(b)
            incoming.add(b)
        starts = [n.id for n in self.nodes if n.id not in incoming and n.id in outgoing]
        found: list[list[str]] = []

        def walk(path: list[str]) -> None:
            nexts = [b for b in outgoing.get(path[-1], []) if b not in path]
            if not nexts:
                found.append(path)
            for b in nexts:
                walk([*path, b])

        for start in sorted(starts):
            walk([start])
        return found

    def as_dict(self) -> dict[str, Any]:
        return {"nodes": [n.id for n in self.nodes], "edges": [list(e) for e in self.edges]}


def build_lineage(
    ksql: KsqlClient, connectors: Mapping[str, Mapping[str, Any]] | None = None
) -> Lineage:
    """The lineage from the ksqlDB catalog and ``connectors`` (name -> connector config, as
    Kafka Connect's ``GET /connectors/{name}/config`` answers; None = no connectors)."""
    builder = _Builder()
    for kind, listed in (("stream", ksql.list_streams()), ("table", ksql.list_tables())):
        for source in listed:
            name = str(source["name"]).upper()
            builder.edge(("topic", str(source["topic"])), (kind, name))  # type: ignore[arg-type]
            described = ksql.describe(name)
            for query in described.get("readQueries", []):
                builder.edge((kind, name), ("query", str(query["id"])))  # type: ignore[arg-type]
    for query in ksql.list_queries():
        qid = str(query["id"])
        if str(query.get("queryType", "PERSISTENT")).upper() != "PERSISTENT":
            continue
        kinds = {n.name: n.kind for n in builder.nodes}
        for sink in query.get("sinks", []):
            sink_name = str(sink).upper()
            builder.edge(("query", qid), (kinds.get(sink_name, "table"), sink_name))
        for topic in query.get("sinkKafkaTopics", []):
            for sink in query.get("sinks", []):
                sink_name = str(sink).upper()
                builder.edge((kinds.get(sink_name, "table"), sink_name), ("topic", str(topic)))
    for name, config in sorted((connectors or {}).items()):
        _connector_edges(builder, name, config)
    return Lineage(nodes=tuple(builder.nodes), edges=tuple(builder.edges))


def lineage_figure(lineage: Lineage, *, title: str = "Stream lineage") -> go.Figure:
    """A left-to-right Sankey diagram of ``lineage`` (one unit per edge)."""
    index = {n.id: i for i, n in enumerate(lineage.nodes)}
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": [f"{n.kind}<br>{n.name}" for n in lineage.nodes],
                "color": [_COLOURS[n.kind] for n in lineage.nodes],
                "pad": 18,
                "thickness": 16,
            },
            link={
                "source": [index[a] for a, _ in lineage.edges],
                "target": [index[b] for _, b in lineage.edges],
                "value": [1] * len(lineage.edges),
            },
        )
    )
    figure.update_layout(title=title, height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


# --- helpers ---------------------------------------------------------------------------------


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[LineageNode] = []
        self.edges: list[tuple[str, str]] = []

    def node(self, kind: NodeKind, name: str) -> str:
        node = LineageNode(kind, name)
        if node not in self.nodes:
            self.nodes.append(node)
        return node.id

    def edge(self, a: tuple[NodeKind, str], b: tuple[NodeKind, str]) -> None:
        pair = (self.node(*a), self.node(*b))
        if pair not in self.edges:
            self.edges.append(pair)


def _connector_edges(builder: _Builder, name: str, config: Mapping[str, Any]) -> None:
    cls = str(config.get("connector.class", ""))
    database = str(config.get("database", ""))
    collection = str(config.get("collection", ""))
    namespace = f"{database}.{collection}" if collection else database
    if cls == _SOURCE_CLASS:
        builder.edge(("collection", namespace), ("connector", name))
        for topic in _source_topics(config, database, collection):
            builder.edge(("connector", name), ("topic", topic))
    elif cls == _SINK_CLASS:
        for topic in _split(config.get("topics", "")):
            builder.edge(("topic", topic), ("connector", name))
        builder.edge(("connector", name), ("collection", namespace))
    else:
        logger.info("connector %s (%s) is not a MongoDB connector: not drawn", name, cls)


def _source_topics(config: Mapping[str, Any], database: str, collection: str) -> list[str]:
    """The MongoDB source connector's topic: ``[prefix.]database.collection[.suffix]``, or
    the ``topic.namespace.map`` entry for the namespace (the official rules)."""
    mapping = config.get("topic.namespace.map")
    namespace = f"{database}.{collection}"
    if mapping:
        table = json.loads(str(mapping)) if isinstance(mapping, str) else dict(mapping)
        for key in (namespace, database, "*"):
            if key in table:
                return [str(table[key])]
    parts = [str(config.get("topic.prefix", "")), database, collection, str(config.get("topic.suffix", ""))]
    return [".".join(p for p in parts if p)]


def _split(value: object) -> Iterable[str]:
    return [t.strip() for t in str(value).split(",") if t.strip()]
