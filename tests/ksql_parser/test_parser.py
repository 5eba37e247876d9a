"""Parser: AST shapes, precedence, literals, identifiers, statements."""

from __future__ import annotations

import pytest

from telemetry_lib.ksql import types as t
from telemetry_lib.ksql.errors import ParseError
from telemetry_lib.ksql.parser import ast, parse, parse_expression, parse_statement, parse_type

from .helpers import FIXTURES

A, B, C, D = (ast.ColumnRef(n) for n in "ABCD")


def one(text: str) -> ast.Statement:
    return parse_statement(text)


# ----------------------------------------------------------------- precedence


def test_multiplicative_binds_tighter_than_additive() -> None:
    assert parse_expression("a + b * c") == ast.ArithmeticBinary(
        "+", A, ast.ArithmeticBinary("*", B, C)
    )
    assert parse_expression("a - b - c") == ast.ArithmeticBinary(
        "-", ast.ArithmeticBinary("-", A, B), C
    )


def test_concat_binds_looser_than_plus() -> None:
    assert parse_expression("a || b + c") == ast.FunctionCall(
        "CONCAT", (A, ast.ArithmeticBinary("+", B, C))
    )


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    assert parse_expression("NOT a AND b OR c") == ast.LogicalBinary(
        "OR", ast.LogicalBinary("AND", ast.Not(A), B), C
    )


def test_comparison_and_predicates() -> None:
    assert parse_expression("a + 1 = b") == ast.Comparison(
        "=", ast.ArithmeticBinary("+", A, ast.IntegerLiteral(1)), B
    )
    assert parse_expression("a != b") == ast.Comparison("<>", A, B)
    assert parse_expression("a NOT BETWEEN b AND c") == ast.Not(ast.Between(A, B, C))
    assert parse_expression("a NOT IN (b, c)") == ast.Not(ast.InList(A, (B, C)))
    assert parse_expression("a LIKE 'x%' ESCAPE '!'") == ast.Like(A, ast.StringLiteral("x%"), "!")
    assert parse_expression("a IS NOT NULL") == ast.IsNotNull(A)
    assert parse_expression("a IS NOT DISTINCT FROM b") == ast.Not(
        ast.Comparison("IS DISTINCT FROM", A, B)
    )
    assert parse_expression("a BETWEEN 1 AND 2 AND b") == ast.LogicalBinary(
        "AND", ast.Between(A, ast.IntegerLiteral(1), ast.IntegerLiteral(2)), B
    )


def test_only_one_comparison_per_operand() -> None:
    with pytest.raises(ParseError):
        parse_expression("a = b = c")


def test_unary_minus_and_negative_literals() -> None:
    assert parse_expression("-5") == ast.IntegerLiteral(-5)
    assert parse_expression("- 5") == ast.IntegerLiteral(-5)
    assert parse_expression("-a") == ast.ArithmeticUnary("-", A)
    assert parse_expression("a - -5") == ast.ArithmeticBinary("-", A, ast.IntegerLiteral(-5))
    assert parse_expression("-a * b") == ast.ArithmeticBinary("*", ast.ArithmeticUnary("-", A), B)


def test_postfix_subscript_and_dereference() -> None:
    assert parse_expression("a[1]->f->g") == ast.Dereference(
        ast.Dereference(ast.Subscript(A, ast.IntegerLiteral(1)), "F"), "G"
    )
    assert parse_expression("m['k']") == ast.Subscript(ast.ColumnRef("M"), ast.StringLiteral("k"))


# ----------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2147483647", ast.IntegerLiteral(2147483647)),
        ("-2147483648", ast.IntegerLiteral(-2147483648)),
        ("2147483648", ast.LongLiteral(2147483648)),
        ("-9223372036854775808", ast.LongLiteral(-(2**63))),
        ("1.5", ast.DecimalLiteral("1.5")),
        ("1.", ast.DecimalLiteral("1.")),
        (".5", ast.DecimalLiteral(".5")),
        ("-0.25", ast.DecimalLiteral("-0.25")),
        ("1e3", ast.DoubleLiteral(1000.0)),
        ("-1.5E-2", ast.DoubleLiteral(-0.015)),
        ("'it''s'", ast.StringLiteral("it's")),
        ("TRUE", ast.BooleanLiteral(True)),
        ("false", ast.BooleanLiteral(False)),
        ("NULL", ast.NullLiteral()),
    ],
)
def test_literals(text: str, expected: ast.Expression) -> None:
    assert parse_expression(text) == expected


@pytest.mark.parametrize(
    ("text", "precision", "scale"),
    [("2.345", 4, 3), ("0.5", 2, 1), (".5", 2, 1), ("1.", 1, 0), ("10.50", 4, 2), ("-0.005", 4, 3)],
)
def test_decimal_literal_precision_and_scale(text: str, precision: int, scale: int) -> None:
    literal = parse_expression(text)
    assert isinstance(literal, ast.DecimalLiteral)
    assert (literal.precision, literal.scale) == (precision, scale)


def test_numeric_literal_errors() -> None:
    with pytest.raises(ParseError, match="Invalid numeric literal: 9223372036854775808"):
        parse_expression("9223372036854775808")
    with pytest.raises(ParseError, match="Number overflows DOUBLE: 1e400"):
        parse_expression("1e400")


# ----------------------------------------------------------------- identifiers


def test_identifier_case_rules() -> None:
    expr = parse_expression('foo + `Bar` + "baz ""q"""')
    assert expr == ast.ArithmeticBinary(
        "+",
        ast.ArithmeticBinary("+", ast.ColumnRef("FOO"), ast.ColumnRef("Bar")),
        ast.ColumnRef('baz "q"'),
    )


def test_non_reserved_keywords_are_columns() -> None:
    stmt = one("SELECT timestamp, key, value, id, name, type, date FROM s;")
    assert isinstance(stmt, ast.Query)
    names = [i.expression.name for i in stmt.select if isinstance(i, ast.SingleColumn)]  # type: ignore[attr-defined]
    assert names == ["TIMESTAMP", "KEY", "VALUE", "ID", "NAME", "TYPE", "DATE"]


def test_qualified_columns_and_aliases() -> None:
    stmt = one("SELECT x.a AS aa, y.* FROM s x JOIN t AS y ON x.k = y.k;")
    assert isinstance(stmt, ast.Query)
    assert stmt.select == (
        ast.SingleColumn(ast.ColumnRef("A", "X"), "AA"),
        ast.AllColumns("Y"),
    )
    assert stmt.from_ == ast.JoinRelation(
        ast.AliasedRelation("S", "X"),
        (
            ast.JoinedSource(
                "INNER",
                ast.AliasedRelation("T", "Y"),
                ast.Comparison("=", ast.ColumnRef("K", "X"), ast.ColumnRef("K", "Y")),
            ),
        ),
    )


def test_emit_and_partition_are_not_taken_as_aliases() -> None:
    stmt = one("SELECT * FROM s PARTITION BY a EMIT CHANGES;")
    assert isinstance(stmt, ast.Query)
    assert stmt.from_ == ast.AliasedRelation("S")
    assert stmt.partition_by == (A,)
    assert stmt.emit == "CHANGES"


# ----------------------------------------------------------------- functions, lambdas, CASE, CAST


def test_function_calls() -> None:
    assert parse_expression("count(*)") == ast.FunctionCall("COUNT", ())
    assert parse_expression("count()") == ast.FunctionCall("COUNT", ())
    assert parse_expression("TIMESTAMPADD(SECONDS, 5, ts)") == ast.FunctionCall(
        "TIMESTAMPADD",
        (ast.IntervalUnit("SECONDS"), ast.IntegerLiteral(5), ast.ColumnRef("TS")),
    )


def test_lambdas_bind_their_parameters() -> None:
    expr = parse_expression("REDUCE(arr, 0, (s, x) => s + x + y)")
    assert expr == ast.FunctionCall(
        "REDUCE",
        (
            ast.ColumnRef("ARR"),
            ast.IntegerLiteral(0),
            ast.LambdaFunction(
                ("S", "X"),
                ast.ArithmeticBinary(
                    "+",
                    ast.ArithmeticBinary("+", ast.LambdaVariable("S"), ast.LambdaVariable("X")),
                    ast.ColumnRef("Y"),
                ),
            ),
        ),
    )


def test_case_and_cast() -> None:
    assert parse_expression("CASE a WHEN 1 THEN 'x' END") == ast.SimpleCase(
        A, (ast.WhenClause(ast.IntegerLiteral(1), ast.StringLiteral("x")),)
    )
    cast = parse_expression("CAST(a AS DECIMAL(5, 2))")
    assert cast == ast.Cast(A, ast.BuiltinType(t.SqlDecimal(5, 2)))


def test_constructors() -> None:
    assert parse_expression("ARRAY[1, a]") == ast.CreateArray((ast.IntegerLiteral(1), A))
    assert parse_expression("MAP('k' := 1)") == ast.CreateMap(
        ((ast.StringLiteral("k"), ast.IntegerLiteral(1)),)
    )
    assert parse_expression("STRUCT(f := a)") == ast.CreateStruct((("F", A),))


# ----------------------------------------------------------------- types


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("VARCHAR", t.STRING),
        ("STRING", t.STRING),
        ("INT", t.INTEGER),
        ("INTEGER", t.INTEGER),
        ("BIGINT", t.BIGINT),
        ("BYTES", t.BYTES),
        ("TIMESTAMP", t.TIMESTAMP),
        ("ARRAY<MAP<STRING, DATE>>", t.SqlArray(t.SqlMap(t.STRING, t.DATE))),
        ("STRUCT<a INT, `b` TIME>", t.SqlStruct((("A", t.INTEGER), ("b", t.TIME)))),
        ("INT ARRAY", t.SqlArray(t.INTEGER)),
    ],
)
def test_builtin_types(text: str, expected: t.SqlType) -> None:
    assert parse_type(text) == ast.BuiltinType(expected)


def test_custom_types_resolve_through_lookup() -> None:
    node = parse_type("ARRAY<address>")
    assert node == ast.ArrayType(ast.CustomType("ADDRESS"))
    struct = t.SqlStruct((("STREET", t.STRING),))
    assert ast.resolve_type(node, {"ADDRESS": struct}.get) == t.SqlArray(struct)
    with pytest.raises(LookupError):
        ast.resolve_type(node, {}.get)


# ----------------------------------------------------------------- statements


def test_create_stream_with_columns_and_properties() -> None:
    stmt = one(
        "CREATE OR REPLACE STREAM IF NOT EXISTS s (k STRING KEY, h BYTES HEADER('x'), v INT) "
        "WITH (kafka_topic='t', value_format='JSON', partitions=2);"
    )
    assert stmt == ast.CreateStream(
        "S",
        (
            ast.TableElement("K", ast.BuiltinType(t.STRING), "KEY"),
            ast.TableElement("H", ast.BuiltinType(t.BYTES), "HEADER", "x"),
            ast.TableElement("V", ast.BuiltinType(t.INTEGER)),
        ),
        (
            ast.Property("KAFKA_TOPIC", ast.StringLiteral("t")),
            ast.Property("VALUE_FORMAT", ast.StringLiteral("JSON")),
            ast.Property("PARTITIONS", ast.IntegerLiteral(2)),
        ),
        or_replace=True,
        if_not_exists=True,
    )
    assert ast.properties_dict(stmt.properties) == {  # type: ignore[attr-defined]
        "KAFKA_TOPIC": "t",
        "VALUE_FORMAT": "JSON",
        "PARTITIONS": 2,
    }


def test_query_clauses_in_grammar_order() -> None:
    stmt = one(
        "CREATE TABLE t AS SELECT k, COUNT(*) FROM s WINDOW HOPPING (SIZE 1 MINUTE, ADVANCE BY "
        "10 SECONDS, GRACE PERIOD 0 SECONDS) WHERE v > 0 GROUP BY k HAVING COUNT(*) > 1 "
        "EMIT FINAL;"
    )
    assert isinstance(stmt, ast.CreateTableAsSelect)
    query = stmt.query
    assert query.window == ast.HoppingWindow(
        ast.Duration(1, "MINUTES"),
        ast.Duration(10, "SECONDS"),
        grace=ast.Duration(0, "SECONDS"),
    )
    assert query.window.size.millis == 60_000  # type: ignore[attr-defined]
    assert query.group_by == (ast.ColumnRef("K"),)
    assert query.emit == "FINAL" and not query.is_pull
    assert query.text.startswith("SELECT k") and query.text.endswith("EMIT FINAL")


def test_where_before_window_is_rejected() -> None:
    with pytest.raises(ParseError):
        one("SELECT k FROM s WHERE v > 0 WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY k;")


def test_pull_query_and_limit() -> None:
    stmt = one("SELECT * FROM t WHERE k = 'a' LIMIT 3;")
    assert isinstance(stmt, ast.Query)
    assert stmt.is_pull and stmt.limit == 3


def test_group_by_forms() -> None:
    def group_by(text: str) -> tuple[ast.Expression, ...] | None:
        stmt = one(f"SELECT 1 FROM s GROUP BY {text};")
        assert isinstance(stmt, ast.Query)
        return stmt.group_by

    assert group_by("a, b") == (A, B)
    assert group_by("(a, b)") == (A, B)
    assert group_by("(a)") == (A,)
    assert group_by("(a) + 1, b") == (ast.ArithmeticBinary("+", A, ast.IntegerLiteral(1)), B)
    assert group_by("()") == ()


def test_insert_values_and_insert_select() -> None:
    stmt = one("INSERT INTO s (k, v) VALUES ('a', -1);")
    assert stmt == ast.InsertValues(
        "S", ("K", "V"), (ast.StringLiteral("a"), ast.IntegerLiteral(-1))
    )
    stmt = one("INSERT INTO s WITH (QUERY_ID='q1') SELECT * FROM o;")
    assert isinstance(stmt, ast.InsertInto)
    assert ast.properties_dict(stmt.properties) == {"QUERY_ID": "q1"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SHOW STREAMS;", ast.ListStreams()),
        ("LIST TABLES EXTENDED;", ast.ListTables(True)),
        ("SHOW ALL TOPICS EXTENDED;", ast.ListTopics(True, True)),
        ("SHOW QUERIES;", ast.ListQueries()),
        ("SHOW PROPERTIES;", ast.ListProperties()),
        ("SHOW FUNCTIONS;", ast.ListFunctions()),
        ("SHOW TYPES;", ast.ListTypes()),
        ("SHOW VARIABLES;", ast.ListVariables()),
        ("SHOW SINK CONNECTORS;", ast.ListConnectors("SINK")),
        ("DESCRIBE s EXTENDED;", ast.DescribeSource("S", True)),
        ("DESCRIBE TABLES;", ast.DescribeTables()),
        ("DESCRIBE `TABLES`;", ast.DescribeSource("TABLES")),
        ("DESCRIBE FUNCTION substring;", ast.DescribeFunction("SUBSTRING")),
        ("EXPLAIN csas_x_1;", ast.Explain(query_id="CSAS_X_1")),
        ("TERMINATE ALL;", ast.TerminateQuery()),
        ("TERMINATE CSAS_X_1;", ast.TerminateQuery("CSAS_X_1")),
        ("SET 'auto.offset.reset' = 'earliest';", ast.SetProperty("auto.offset.reset", "earliest")),
        ("UNSET 'auto.offset.reset';", ast.UnsetProperty("auto.offset.reset")),
        ("DEFINE myVar = 'x';", ast.DefineVariable("myVar", "x")),
        ("PRINT my_Topic FROM BEGINNING LIMIT 2;", ast.PrintTopic("my_Topic", True, None, 2)),
        ("DROP STREAM IF EXISTS s DELETE TOPIC;", ast.DropStream("S", True, True)),
        ("DROP TYPE t;", ast.DropType("T")),
        (
            "CREATE TYPE addr AS STRUCT<zip INT>;",
            ast.RegisterType("ADDR", ast.BuiltinType(t.SqlStruct((("ZIP", t.INTEGER),)))),
        ),
    ],
)
def test_simple_statements(text: str, expected: ast.Statement) -> None:
    assert one(text) == expected


def test_statement_text_and_locations() -> None:
    text = "SHOW STREAMS;\n  SELECT a\n  FROM s EMIT CHANGES;"
    first, second = parse(text)
    assert first.text == "SHOW STREAMS;"
    assert second.text == "SELECT a\n  FROM s EMIT CHANGES;"
    assert second.loc == ast.Loc(2, 3)
    assert isinstance(second, ast.Query)
    assert second.select[0].loc == ast.Loc(2, 10)


def test_explain_statement_keeps_inner_text() -> None:
    stmt = one("EXPLAIN SELECT * FROM s EMIT CHANGES;")
    assert isinstance(stmt, ast.Explain) and stmt.statement is not None
    assert stmt.statement.text == "SELECT * FROM s EMIT CHANGES"


def test_demo_statements_parse() -> None:
    statements = parse((FIXTURES / "demo.sql").read_text(encoding="utf-8"))
    create, ctas = statements
    assert isinstance(create, ast.CreateStream)
    assert [e.name for e in create.elements] == ["PLAYER_ID", "EVENT_TYPE", "TIMESTAMP"]
    assert isinstance(ctas, ast.CreateTableAsSelect)
    assert ctas.query.window == ast.TumblingWindow(ast.Duration(5, "MINUTES"))
    aliases = [i.alias for i in ctas.query.select if isinstance(i, ast.SingleColumn)]
    assert aliases == [None, "KILL_COUNT", "DEATH_COUNT", "KILL_RATIO"]
    ratio = ctas.query.select[3]
    assert isinstance(ratio, ast.SingleColumn)
    assert isinstance(ratio.expression, ast.ArithmeticBinary) and ratio.expression.op == "/"
    left = ratio.expression.left
    assert isinstance(left, ast.ArithmeticBinary) and left.right == ast.DecimalLiteral("1.0")


def test_curly_quoted_demo_statement_gets_pointed_error() -> None:
    text = (
        "CREATE STREAM telemetry_stream (player_id VARCHAR, event_type VARCHAR, timestamp BIGINT) "
        "WITH (KAFKA_TOPIC=\u2018telemetry_events\u2019, VALUE_FORMAT=\u2018JSON\u2019);"
    )
    with pytest.raises(ParseError) as info:
        parse(text)
    error = info.value
    assert (error.line, error.column) == (1, text.index("\u2018") + 1)
    message = str(error)
    assert message.startswith(f"line 1:{text.index(chr(0x2018)) + 1}: Syntax Error")
    assert "straight quote" in message and "' for strings" in message


def test_deep_nesting_parses_and_excessive_nesting_is_a_parse_error() -> None:
    (stmt,) = parse("SELECT " + "(" * 300 + "1" + ")" * 300 + " FROM s;")
    assert isinstance(stmt, ast.Query)
    assert stmt.select == (ast.SingleColumn(ast.IntegerLiteral(1)),)
    with pytest.raises(ParseError, match="Statement is too large to parse"):
        parse("SELECT " + "(" * 5000 + "1" + ")" * 5000 + " FROM s;")
