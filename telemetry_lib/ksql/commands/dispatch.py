"""Statement dispatch: which handler runs each AST statement kind.

Owns: :func:`execute_statement` and the session statements (SET / UNSET / DEFINE / UNDEFINE),
which change the current request's properties or variables and produce no REST entity.
Connector statements go to :mod:`~telemetry_lib.ksql.commands.connectors` (forwarded to Kafka
Connect). Statement kinds the engine alone cannot run (pull/push SELECT, PRINT: the REST server's) raise
:class:`~telemetry_lib.ksql.errors.UnsupportedError` naming the statement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from telemetry_lib.ksql.analyzer.ddl import resolve_type_node
from telemetry_lib.ksql.catalog import Column
from telemetry_lib.ksql.commands import connectors, ddl, describe, inserts, queries
from telemetry_lib.ksql.commands.context import StatementContext
from telemetry_lib.ksql.commands.results import StatementResult, command_status
from telemetry_lib.ksql.errors import KsqlEngineError, UnsupportedError
from telemetry_lib.ksql.parser import ast

__all__ = ["execute_statement"]

logger = logging.getLogger(__name__)

Handler = Callable[[Any, StatementContext], StatementResult | None]


def _set(stmt: ast.SetProperty, ctx: StatementContext) -> None:
    ctx.properties[stmt.name] = stmt.value


def _unset(stmt: ast.UnsetProperty, ctx: StatementContext) -> None:
    ctx.properties.pop(stmt.name, None)


def _define(stmt: ast.DefineVariable, ctx: StatementContext) -> None:
    ctx.variables[stmt.name] = stmt.value


def _undefine(stmt: ast.UndefineVariable, ctx: StatementContext) -> StatementResult | None:
    for name in list(ctx.variables):
        if name.upper() == stmt.name.upper():
            del ctx.variables[name]
            return None
    return StatementResult(
        "warning_entity",
        stmt.text,
        {"message": f"Cannot undefine variable '{stmt.name}' which was never defined"},
    )


def _insert_values(stmt: ast.InsertValues, ctx: StatementContext) -> None:
    inserts.insert_values(stmt, ctx)


def _alter(stmt: ast.AlterSource, ctx: StatementContext) -> StatementResult:
    """ALTER STREAM|TABLE name ADD COLUMN ...: new value columns on a plain CREATE'd source."""
    kind = stmt.kind.lower()
    source = ctx.catalog.get_source(stmt.name)
    if source is None or source.source_type.value != stmt.kind:
        raise KsqlEngineError(f"Source {stmt.name} does not exist.")
    if source.is_source:
        raise KsqlEngineError(
            f"Cannot alter {kind} '{stmt.name}': ALTER operations are not supported on source "
            f"{kind}s."
        )
    if source.created_by_query is not None:
        raise KsqlEngineError("ALTER command is not supported for CREATE ... AS statements.")
    columns = list(source.columns)
    for col in stmt.columns:
        if source.column(col.name) is not None or any(c.name == col.name for c in columns):
            raise KsqlEngineError(
                f"Cannot add column `{col.name}` to schema. A column with the same name already "
                "exists."
            )
        columns.append(Column(col.name, resolve_type_node(col.type, ctx.catalog.get_type)))
    ctx.catalog.put_source(replace(source, columns=tuple(columns)))
    return command_status(
        stmt.text,
        command_id=f"{kind}/{stmt.name}/alter",
        message=f"{source.source_type.title} {stmt.name} altered.",
    )


_HANDLERS: dict[type, Handler] = {
    ast.CreateStream: ddl.create_source,
    ast.CreateTable: ddl.create_source,
    ast.CreateStreamAsSelect: queries.create_as_select,
    ast.CreateTableAsSelect: queries.create_as_select,
    ast.InsertInto: queries.insert_into,
    ast.InsertValues: _insert_values,
    ast.DropStream: ddl.drop_source,
    ast.DropTable: ddl.drop_source,
    ast.RegisterType: ddl.register_type,
    ast.DropType: ddl.drop_type,
    ast.TerminateQuery: queries.terminate,
    ast.PauseQuery: queries.pause_or_resume,
    ast.ResumeQuery: queries.pause_or_resume,
    ast.Explain: queries.explain_statement,
    ast.ListStreams: describe.list_sources,
    ast.ListTables: describe.list_sources,
    ast.ListQueries: describe.list_queries,
    ast.ListTopics: describe.list_topics,
    ast.ListProperties: describe.list_properties,
    ast.ListFunctions: describe.list_functions,
    ast.ListTypes: describe.list_types,
    ast.ListVariables: describe.list_variables,
    ast.DescribeSource: describe.describe_source,
    ast.DescribeStreams: describe.describe_sources,
    ast.DescribeTables: describe.describe_sources,
    ast.DescribeFunction: describe.describe_function,
    ast.SetProperty: _set,
    ast.UnsetProperty: _unset,
    ast.DefineVariable: _define,
    ast.UndefineVariable: _undefine,
    ast.AlterSource: _alter,
    ast.CreateConnector: connectors.create_connector,
    ast.DropConnector: connectors.drop_connector,
    ast.DescribeConnector: connectors.describe_connector,
    ast.ListConnectors: connectors.list_connectors,
    ast.ListConnectorPlugins: connectors.list_connector_plugins,
}

_UNSUPPORTED: dict[type, str] = {
    ast.Query: "SELECT (push and pull queries need the REST server)",
    ast.PrintTopic: "PRINT",
    ast.AlterSystemProperty: "ALTER SYSTEM",
}


def execute_statement(stmt: ast.Statement, ctx: StatementContext) -> StatementResult | None:
    handler = _HANDLERS.get(type(stmt))
    if handler is not None:
        return handler(stmt, ctx)
    feature = _UNSUPPORTED.get(type(stmt), type(stmt).__name__)
    raise UnsupportedError(feature)
