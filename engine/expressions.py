"""SQL expressions written by users, parsed with sqlglot, checked, and compiled to SQLAlchemy.

Nothing a user writes is ever spliced into SQL text. The parse tree is walked node by node;
each node type on the allow-list has a compiler that builds a SQLAlchemy construct, literals
become bound values, `:name` becomes a bound parameter, and any other node is refused.
Dotted paths follow foreign keys and become LEFT OUTER JOINs, shared by every expression
compiled for the same query.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import sqlglot
from sqlalchemy.exc import SADeprecationWarning
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlglot import exp

from engine.errors import DefinitionError, Issue, did_you_mean, excerpt_around
from engine.limits import MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_LENGTH
from engine.schema import SourceSchema

__all__ = ("FUNCTIONS", "MAX_JOIN_DEPTH", "MAX_NUMBER_DIGITS", "ExpressionCompiler", "date_trunc")

MAX_JOIN_DEPTH = 4
MAX_LENGTH = MAX_EXPRESSION_LENGTH
# A literal number has at most this many digits before or after the point: beyond it a
# double (SQLite computes in them) is infinite or zero, and no report means such a number.
MAX_NUMBER_DIGITS = 300
Value = ColumnElement[Any]

_TRUNC_UNITS = ("year", "quarter", "month", "week", "day", "hour")
_EXTRACT_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "dow")
_CAST_TYPES: dict[Any, sa.types.TypeEngine[Any]] = {
    exp.DataType.Type.INT: sa.Integer(),
    exp.DataType.Type.BIGINT: sa.BigInteger(),
    exp.DataType.Type.DECIMAL: sa.Numeric(),
    exp.DataType.Type.FLOAT: sa.Float(),
    exp.DataType.Type.DOUBLE: sa.Float(),
    exp.DataType.Type.TEXT: sa.Text(),
    exp.DataType.Type.VARCHAR: sa.String(),
    exp.DataType.Type.DATE: sa.Date(),
    exp.DataType.Type.TIMESTAMP: sa.DateTime(),
}


class ExpressionError(Exception):
    """Raised inside the compiler; turned into an `Issue` at the expression's path.

    `position` is the 0-based offset of the problem in the expression's text when known;
    otherwise `needle` is a word of the text the problem is about, found when reported.
    """

    def __init__(
        self, message: str, hint: str = "", *, position: int | None = None, needle: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.position = position
        self.needle = needle

    def issue(self, text: str, path: str) -> Issue:
        """The problem at `path`, with its position and an excerpt of `text` where known."""
        position = self.position if self.position is not None else _find(text, self.needle)
        if position is None:
            return Issue(path, self.message, self.hint)
        position = max(0, min(position, len(text)))
        return Issue(path, self.message, self.hint, position, excerpt_around(text, position))


def _find(text: str, needle: str) -> int | None:
    """Where `needle` first stands as a whole word in `text` (any case)."""
    if not needle:
        return None
    found = re.search(rf"(?<![\w:]){re.escape(needle)}(?!\w)", text, re.IGNORECASE)
    return found.start() if found else None


def _start(node: exp.Expression | None) -> int | None:
    """Where a parsed node starts in the text, as sqlglot recorded it on its identifier."""
    while node is not None:
        start = node.meta.get("start") if node.meta else None
        if isinstance(start, int):
            return start
        node = node.this if isinstance(node.this, exp.Expression) else None
    return None


class _DateTrunc(FunctionElement[Any]):
    """`date_trunc(unit, value)` for both SQLite and PostgreSQL."""

    type = sa.DateTime()
    inherit_cache = True
    name = "date_trunc"


@compiles(_DateTrunc, "postgresql")
def _date_trunc_pg(element: _DateTrunc, compiler: Any, **kw: Any) -> str:
    unit, value = list(element.clauses)
    return f"date_trunc({compiler.process(unit, **kw)}, {compiler.process(value, **kw)})"


@compiles(_DateTrunc)
def _date_trunc_sqlite(element: _DateTrunc, compiler: Any, **kw: Any) -> str:
    unit_clause, value = list(element.clauses)
    unit = unit_clause.name.strip("'")  # one of _TRUNC_UNITS, checked at compile time
    v = compiler.process(value, **kw)
    if unit in ("year", "month", "day"):
        return f"datetime({v}, 'start of {unit}')"
    if unit == "hour":
        return f"strftime('%Y-%m-%d %H:00:00', {v})"
    if unit == "week":  # ISO weeks start on Monday
        return f"datetime({v}, 'start of day', '-' || ((strftime('%w', {v}) + 6) % 7) || ' days')"
    return (  # quarter
        f"datetime({v}, 'start of month', "
        f"'-' || ((cast(strftime('%m', {v}) as integer) - 1) % 3) || ' months')"
    )


def date_trunc(unit: str, value: Value) -> Value:
    """`value` truncated to the start of its year, quarter, month, week, day or hour."""
    if unit not in _TRUNC_UNITS:
        raise ValueError(f"unknown time unit {unit!r}")
    # The unit is written into the SQL (SQLite needs it there), so it must be part of the
    # statement's cache key: a literal column is, a bound value is not.
    return _DateTrunc(sa.literal_column(f"'{unit}'"), value)


class _Extract(FunctionElement[Any]):
    """`extract(unit from value)` as an integer, the same on SQLite and PostgreSQL."""

    type = sa.Integer()
    inherit_cache = True
    name = "extract"


@compiles(_Extract)
def _extract_default(element: _Extract, compiler: Any, **kw: Any) -> str:
    unit_clause, value = list(element.clauses)
    unit = unit_clause.name.strip("'")
    return compiler.process(sa.cast(sa.extract(unit, value), sa.Integer()), **kw)  # type: ignore[no-any-return]


@compiles(_Extract, "sqlite")
def _extract_sqlite(element: _Extract, compiler: Any, **kw: Any) -> str:
    unit_clause, value = list(element.clauses)
    unit = unit_clause.name.strip("'")
    v = compiler.process(value, **kw)
    if unit == "quarter":
        return f"((cast(strftime('%m', {v}) as integer) + 2) / 3)"
    if unit == "week":  # ISO: the week of the year its Thursday falls in
        return f"((cast(strftime('%j', date({v}, '-3 days', 'weekday 4')) as integer) - 1) / 7 + 1)"
    return _extract_default(element, compiler, **kw)


class _DateCast(FunctionElement[Any]):
    """`cast(value as date)`: SQLite's CAST would give a number, its date() does not."""

    type: Any = sa.Date()
    inherit_cache = True
    name = "cast"


class _TimestampCast(_DateCast):
    """`cast(value as timestamp)`: datetime() on SQLite (a class of its own: a cache key)."""

    type = sa.DateTime()
    inherit_cache = True


@compiles(_DateCast)
def _date_cast_default(element: _DateCast, compiler: Any, **kw: Any) -> str:
    return compiler.process(sa.cast(next(iter(element.clauses)), element.type), **kw)  # type: ignore[no-any-return]


@compiles(_DateCast, "sqlite")
def _date_cast_sqlite(element: _DateCast, compiler: Any, **kw: Any) -> str:
    function = "date" if isinstance(element.type, sa.Date) else "datetime"
    return f"{function}({compiler.process(next(iter(element.clauses)), **kw)})"


class _Typed(FunctionElement[Any]):
    """A bound value with its declared type written into the SQL (PostgreSQL) or converted
    by its bind processor (SQLite: a Decimal becomes a float).

    PostgreSQL deduces the type of an untyped `$1` from its first use, so a parameter both
    shown and compared ("inconsistent types deduced for parameter $1") needs the cast. And
    the plan selects every value with its type erased (`type_coerce(..., NULLTYPE)`),
    which on a bare bound value would also erase its bind processor; wrapped, it keeps it.
    """

    inherit_cache = True
    name = "typed"

    def __init__(self, value: sa.BindParameter[Any]) -> None:
        super().__init__(value)
        self.type = value.type


@compiles(_Typed)
def _typed_default(element: _Typed, compiler: Any, **kw: Any) -> str:
    return compiler.process(sa.cast(next(iter(element.clauses)), element.type), **kw)  # type: ignore[no-any-return]


@compiles(_Typed, "sqlite")
def _typed_sqlite(element: _Typed, compiler: Any, **kw: Any) -> str:
    return compiler.process(next(iter(element.clauses)), **kw)  # type: ignore[no-any-return]


FUNCTIONS: dict[type[exp.Expression], str] = {
    exp.Coalesce: "coalesce",
    exp.Nullif: "nullif",
    exp.Abs: "abs",
    exp.Round: "round",
    exp.Lower: "lower",
    exp.Upper: "upper",
    exp.Length: "length",
    exp.Trim: "trim",
    exp.Substring: "substr",
    exp.DateTrunc: "date_trunc",
    exp.TimestampTrunc: "date_trunc",
    exp.Year: "year",
    exp.Month: "month",
    exp.Day: "day",
    exp.Extract: "extract",
    exp.Cast: "cast",
    exp.Concat: "concat",
}

_BINARY: dict[type[exp.Expression], Callable[[Value, Value], Value]] = {
    exp.Add: lambda a, b: a + b,
    exp.Sub: lambda a, b: a - b,
    exp.Mul: lambda a, b: a * b,
    exp.Div: lambda a, b: a / b,
    exp.Mod: lambda a, b: a % b,
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
    exp.And: sa.and_,
    exp.Or: sa.or_,
    exp.Like: lambda a, b: a.like(b),
    exp.ILike: lambda a, b: a.ilike(b),
    exp.DPipe: lambda a, b: a.concat(b),
}


_OPERATOR_NAMES = {
    "add": "+", "sub": "-", "mul": "*", "truediv": "/", "mod": "%", "neg": "unary -",
    "inv": "NOT", "like_op": "LIKE", "ilike_op": "ILIKE", "concat_op": "||",
}  # fmt: skip
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike)


class ExpressionCompiler:
    """Compiles expressions against one base table; joins are shared across expressions."""

    def __init__(
        self,
        schema: SourceSchema,
        base_table: str,
        parameters: Mapping[str, sa.types.TypeEngine[Any] | None] | None = None,
    ) -> None:
        if base_table not in schema.tables:
            raise DefinitionError(
                [
                    Issue(
                        "source.table",
                        f"unknown table '{base_table}'",
                        did_you_mean(base_table, schema.tables),
                    )
                ]
            )
        self.schema = schema
        self.base = schema.tables[base_table]
        self.parameters = dict(parameters or {})
        self._joins: dict[tuple[str, ...], sa.FromClause] = {(): self.base}
        self._join_order: list[tuple[tuple[str, ...], sa.FromClause, Value]] = []

    # -- public -----------------------------------------------------------------------------

    def compile(self, text: str, path: str) -> Value:
        """Compile one expression; raise `DefinitionError` with the issue at `path`."""
        try:
            tree = self._parse(text)
            with warnings.catch_warnings():
                # SQLAlchemy warns about an operator its type does not have (text * 2):
                # a mistake in the expression, reported as one.
                warnings.simplefilter("error", SADeprecationWarning)
                return self._node(tree)
        except SADeprecationWarning as warning:
            found = re.search(r"(\w+)'> does not include operator '(\w+)'", str(warning))
            kind, operator = found.groups() if found else ("this", "")
            symbol = _OPERATOR_NAMES.get(operator, operator)
            message = f"{symbol} cannot be applied to a {kind.lower()} value"
            hint = "check the types of its operands"
            raise DefinitionError([Issue(path, message, hint)]) from None
        except ExpressionError as error:
            raise DefinitionError([error.issue(text, path)]) from None

    def compile_condition(self, text: str, path: str) -> Value:
        """Compile an expression that must be true or false (a filter); raise
        `DefinitionError` for a value of another type (PostgreSQL refuses `WHERE quantity`,
        SQLite would take any non-zero number as true)."""
        value = self.compile(text, path)
        if not isinstance(value.type, sa.Boolean | sa.types.NullType):
            raise DefinitionError(
                [
                    Issue(
                        path,
                        "a filter must be a condition (true or false), not "
                        f"{_type_name(value.type)}",
                        "compare it, e.g. 'quantity > 0' or 'name IS NOT NULL'",
                    )
                ]
            )
        return value

    def from_clause(self) -> sa.FromClause:
        """The base table outer-joined to every relationship the expressions followed."""
        clause: sa.FromClause = self.base
        for _, alias, onclause in self._join_order:
            clause = clause.outerjoin(alias, onclause)
        return clause

    # -- parsing ----------------------------------------------------------------------------

    def _parse(self, text: str) -> exp.Expression:
        if len(text) > MAX_LENGTH:
            raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
        try:
            trees = sqlglot.parse(text, read="postgres")
        except sqlglot.errors.ParseError as error:
            first = error.errors[0] if error.errors else {}
            where = f" at column {first.get('col')}" if first.get("col") else ""
            detail = str(first.get("description", "")) or "cannot parse"
            if detail.startswith("Required keyword"):
                detail = "incomplete expression"
            raise ExpressionError(
                f"syntax error{where}: {detail}", position=_parse_position(text, first)
            ) from None
        except (sqlglot.errors.TokenError, ValueError, RecursionError) as error:
            raise ExpressionError(f"syntax error: {error}") from None
        if len(trees) != 1 or trees[0] is None:
            raise ExpressionError("expected one expression, not a statement list")
        tree = trees[0]
        assert isinstance(tree, exp.Expression)
        if _depth(tree) > MAX_EXPRESSION_DEPTH:  # compiling it would recurse as deep
            raise ExpressionError(
                f"the expression nests more than {MAX_EXPRESSION_DEPTH} operations inside "
                "each other",
                "group terms in brackets, (a + b) + (c + d), or compute part of it in a variable",
            )
        return tree

    # -- nodes ------------------------------------------------------------------------------

    def _node(self, node: exp.Expression) -> Value:
        kind = type(node)
        handler = _HANDLERS.get(kind)
        if kind not in _BINARY and handler is None:
            raise ExpressionError(*_refusal(node), position=_start(node), needle=_word(node))
        unexpected = [
            key
            for key, value in node.args.items()
            if value not in (None, False, [], "") and key not in _ARGS.get(kind, _DEFAULT_ARGS)
        ]
        if unexpected:  # an option we do not compile must not vanish silently
            raise ExpressionError(
                f"unsupported form of '{node.sql()[:40]}' ({', '.join(unexpected)})"
            )
        if handler is None:
            if kind in _COMPARISONS and exp.Null in (type(node.this), type(node.expression)):
                raise ExpressionError(
                    "a comparison with NULL is never true",
                    "write 'x IS NULL' or 'x IS NOT NULL'",
                    needle="null",
                )
            result = _BINARY[kind](self._node(node.this), self._node(node.expression))
        else:
            result = handler(self, node)
        return sa.not_(result) if node.args.get("negate") else result

    def _column(self, node: exp.Expression) -> Value:
        parts = _dotted(node)
        relations, column = parts[:-1], parts[-1]
        if len(relations) > MAX_JOIN_DEPTH:
            raise ExpressionError(
                f"path '{'.'.join(parts)}' follows more than {MAX_JOIN_DEPTH} relationships",
                position=_path_start(node),
            )
        try:
            table = self._join(tuple(relations))
        except ExpressionError as error:
            if error.position is None:
                error.position = _path_start(node, error.needle)
            raise
        if column not in table.c:
            name = self._table_name(tuple(relations))
            related = self.schema.relationships.get(name, {})
            message = f"unknown column '{column}' in table '{name}'"
            hint = did_you_mean(column, list(table.c.keys()) + list(related))
            if column in related:  # a relationship has no value of its own
                target = self.schema.tables[related[column].target]
                message = f"'{column}' is a relationship of table '{name}', not a column"
                hint = f"name one of its columns: {'.'.join(parts)}.{next(iter(target.c.keys()))}"
            raise ExpressionError(
                message, hint, position=_path_start(node, column, last=True), needle=column
            )
        result: Value = table.c[column]
        return result

    def _table_name(self, path: tuple[str, ...]) -> str:
        name = self.base.name
        for step in path:
            name = self.schema.relationships[name][step].target
        return name

    def _join(self, path: tuple[str, ...]) -> sa.FromClause:
        if path in self._joins:
            return self._joins[path]
        parent = self._join(path[:-1])
        parent_name = self._table_name(path[:-1])
        relations = self.schema.relationships.get(parent_name, {})
        step = path[-1]
        if step not in relations:
            raise ExpressionError(
                f"'{step}' is not a relationship of table '{parent_name}'",
                did_you_mean(step, relations) or f"table '{parent_name}' has no foreign keys",
                needle=step,
            )
        relation = relations[step]
        alias = self.schema.tables[relation.target].alias(f"j{len(self._join_order) + 1}")
        onclause = sa.and_(
            *(
                parent.c[a] == alias.c[b]
                for a, b in zip(relation.columns, relation.target_columns, strict=True)
            )
        )
        self._joins[path] = alias
        self._join_order.append((path, alias, onclause))
        return alias

    def _literal(self, node: exp.Expression) -> Value:
        assert isinstance(node, exp.Literal)
        if node.is_string:
            return sa.literal(node.this, sa.String())
        text = node.this
        if not isinstance(text, str) or not _is_number(text):
            raise ExpressionError(f"'{text}' is not a number")
        if any(c in text for c in ".eE"):
            decimal = Decimal(text)
            exponent = decimal.as_tuple().exponent
            assert isinstance(exponent, int)  # _is_number: finite
            if max(abs(decimal.adjusted()), -exponent) > MAX_NUMBER_DIGITS:
                raise ExpressionError(
                    f"{text[:40]} is out of range (at most {MAX_NUMBER_DIGITS} digits "
                    "before or after the point)",
                    needle=text,
                )
            return _Typed(sa.literal(decimal, sa.Numeric()))
        number = int(text)
        if abs(number) >= 2**63:
            raise ExpressionError(f"{text} is too large for an integer", "write it as a decimal")
        return sa.literal(number, sa.Integer())

    def _placeholder(self, node: exp.Expression) -> Value:
        name = node.name
        if not name:
            raise ExpressionError("parameters are written ':name'", "positional '?' is not used")
        if name not in self.parameters:
            raise ExpressionError(
                f"unknown parameter ':{name}'",
                did_you_mean(name, self.parameters),
                needle=f":{name}",
            )
        type_ = self.parameters[name]
        bound = sa.bindparam(name, type_=type_)
        return bound if type_ is None else _Typed(bound)

    def _paren(self, node: exp.Expression) -> Value:
        return self._node(node.this).self_group()

    def _not(self, node: exp.Expression) -> Value:
        return sa.not_(self._node(node.this))

    def _neg(self, node: exp.Expression) -> Value:
        return -self._node(node.this)

    def _is(self, node: exp.Expression) -> Value:
        right = node.expression
        if not isinstance(right, exp.Null):
            raise ExpressionError("IS is only allowed with NULL", "write 'x IS NULL'")
        return self._node(node.this).is_(None)

    def _in(self, node: exp.Expression) -> Value:
        if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
            raise ExpressionError("IN takes a list of values, not a subquery")
        values = [self._node(v) for v in node.expressions]
        if not values:
            raise ExpressionError("IN needs at least one value")
        return self._node(node.this).in_(values)

    def _between(self, node: exp.Expression) -> Value:
        return self._node(node.this).between(
            self._node(node.args["low"]), self._node(node.args["high"])
        )

    def _case(self, node: exp.Expression) -> Value:
        if node.this is not None:  # CASE x WHEN 1 THEN ...
            subject = self._node(node.this)
            whens = [
                (subject == self._node(i.this), self._node(i.args["true"]))
                for i in node.args["ifs"]
            ]
        else:
            whens = [(self._node(i.this), self._node(i.args["true"])) for i in node.args["ifs"]]
        default = node.args.get("default")
        return sa.case(*whens, else_=self._node(default) if default is not None else None)

    def _function(self, node: exp.Expression) -> Value:
        name = FUNCTIONS[type(node)]
        args = [self._node(a) for a in _arguments(node)]
        if name == "coalesce" and len(args) == 1:
            return args[0]  # SQLite refuses a coalesce of one value; it is that value
        function = getattr(sa.func, name)
        if name in ("round", "abs", "coalesce", "nullif", "lower", "upper", "trim", "substr"):
            return function(*args, type_=args[0].type)  # type: ignore[no-any-return]
        return function(*args)  # type: ignore[no-any-return]

    def _cast(self, node: exp.Expression) -> Value:
        target = node.args["to"]
        type_ = _CAST_TYPES.get(target.this) if isinstance(target, exp.DataType) else None
        if type_ is None:
            allowed = "integer, bigint, decimal, float, text, varchar, date, timestamp"
            raise ExpressionError(f"cannot cast to {target.sql()}", f"allowed: {allowed}")
        if isinstance(type_, sa.DateTime):
            return _TimestampCast(self._node(node.this))
        if isinstance(type_, sa.Date):
            return _DateCast(self._node(node.this))
        return sa.cast(self._node(node.this), type_)

    def _date_trunc(self, node: exp.Expression) -> Value:
        unit = _unit(node.args.get("unit"), _TRUNC_UNITS)
        return date_trunc(unit, self._node(node.this))

    def _extract(self, node: exp.Expression) -> Value:
        if isinstance(node, exp.Extract):
            unit = _unit(node.this, _EXTRACT_UNITS)
            value = self._node(node.expression)
        else:
            unit = type(node).__name__.lower()
            value = self._node(node.this)
        return _Extract(sa.literal_column(f"'{unit}'"), value)

    def _concat(self, node: exp.Expression) -> Value:
        args = [sa.func.coalesce(sa.cast(self._node(a), sa.String()), "") for a in node.expressions]
        result: Value = args[0]
        for arg in args[1:]:
            result = result.concat(arg)
        return result


def _depth(tree: exp.Expression) -> int:
    """How many nodes deep the tree goes, counted without recursion (a parsed chain of
    999 `+` is 999 deep; walking it recursively would exhaust Python's stack)."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_EXPRESSION_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return deepest


def _unit(node: exp.Expression | None, allowed: tuple[str, ...]) -> str:
    text = (node.name if node is not None else "").lower()
    if text not in allowed:
        raise ExpressionError(
            f"unknown time unit '{text}'", "allowed: " + ", ".join(allowed), needle=text
        )
    return text


def _arguments(node: exp.Expression) -> list[exp.Expression]:
    """Positional arguments of a function node, in SQL order, refusing unknown options."""
    orders: dict[type[exp.Expression], tuple[str, ...]] = {
        exp.Round: ("this", "decimals"),
        exp.Substring: ("this", "start", "length"),
        exp.Nullif: ("this", "expression"),
        exp.Trim: ("this",),
    }
    order = orders.get(type(node))
    if order is None:
        args = [node.this] if node.this is not None else []
        return [*args, *node.expressions]
    extra = set(node.args) - set(order) - {"expressions"}
    if any(node.args.get(k) for k in extra):
        raise ExpressionError(f"unsupported form of {FUNCTIONS[type(node)]}()")
    return [node.args[k] for k in order if node.args.get(k) is not None]


def _dotted(node: exp.Expression) -> list[str]:
    if isinstance(node, exp.Dot):
        return [*_dotted(node.this), node.expression.name]
    if isinstance(node, exp.Column):
        parts = [node.args.get(k) for k in ("catalog", "db", "table")]
        names = [p.name for p in parts if p is not None]
        if isinstance(node.this, exp.Star):
            raise ExpressionError("'*' is not a value", "name the columns you need")
        return [*names, node.name]
    raise ExpressionError(*_refusal(node))


def _parse_position(text: str, error: Mapping[str, Any]) -> int | None:
    """The offset where sqlglot stopped: its 1-based line, and the column its token ends at."""
    line, column = error.get("line"), error.get("col")
    if not isinstance(line, int) or not isinstance(column, int) or line < 1:
        return None
    lines = text.split("\n")
    offset = sum(len(piece) + 1 for piece in lines[: line - 1])
    return max(0, offset + column - len(str(error.get("highlight") or "")))


def _path_start(node: exp.Expression, part: str = "", *, last: bool = False) -> int | None:
    """Where a dotted path, or one of its names, starts in the text."""
    identifiers = list(node.find_all(exp.Identifier))
    if part:
        named = [i for i in identifiers if i.name == part]
        identifiers = named[-1:] if last else named[:1]
    starts = [i.meta["start"] for i in identifiers if isinstance(i.meta.get("start"), int)]
    return min(starts) if starts else None


def _word(node: exp.Expression) -> str:
    """A word of the text a refused node begins with, to find it when sqlglot kept no position."""
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    if isinstance(node, exp.Query | exp.Subquery):
        return "select"
    return ""


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


def _type_name(type_: sa.types.TypeEngine[Any]) -> str:
    """A type as a user names it: 'integer', 'text', 'date'."""
    for kind, name in ((sa.Integer, "an integer"), (sa.Numeric, "a number"), (sa.String, "text"),
                       (sa.DateTime, "a timestamp"), (sa.Date, "a date")):  # fmt: skip
        if isinstance(type_, kind):
            return name
    return f"a {str(type_).lower()} value"


def _refusal(node: exp.Expression) -> tuple[str, str]:
    if isinstance(node, exp.Query | exp.Subquery):
        return "subqueries are not allowed in expressions", ""
    if isinstance(node, exp.Anonymous | exp.Func):
        name = node.sql_name() if not isinstance(node, exp.Anonymous) else node.name
        allowed = ", ".join(sorted(set(FUNCTIONS.values())))
        return f"function '{name.lower()}' is not allowed", f"allowed: {allowed}"
    if isinstance(node, exp.Star):
        return "'*' is not a value", "name the columns you need"
    return f"'{node.sql()[:40]}' ({node.key}) is not allowed in an expression", ""


_HANDLERS_SPECIAL = (
    exp.Cast,
    exp.DateTrunc,
    exp.TimestampTrunc,
    exp.Year,
    exp.Month,
    exp.Day,
    exp.Extract,
    exp.Concat,
)
_DEFAULT_ARGS = frozenset({"this", "expression", "negate"})
_ARGS: dict[type[exp.Expression], frozenset[str]] = {
    exp.Column: frozenset({"this", "table", "db", "catalog"}),
    exp.Literal: frozenset({"this", "is_string"}),
    exp.Placeholder: frozenset({"this"}),
    exp.In: frozenset({"this", "expressions", "negate"}),
    exp.Between: frozenset({"this", "low", "high", "negate"}),
    exp.Case: frozenset({"this", "ifs", "default"}),
    exp.Cast: frozenset({"this", "to"}),
    exp.DateTrunc: frozenset({"this", "unit"}),
    exp.TimestampTrunc: frozenset({"this", "unit"}),
    exp.Concat: frozenset({"expressions", "safe", "coalesce"}),
    exp.Coalesce: frozenset({"this", "expressions"}),
    exp.Round: frozenset({"this", "decimals"}),
    exp.Substring: frozenset({"this", "start", "length"}),
    exp.DPipe: frozenset({"this", "expression", "safe"}),
    exp.Div: frozenset({"this", "expression", "typed"}),
}

_HANDLERS: dict[type[exp.Expression], Callable[[ExpressionCompiler, exp.Expression], Value]] = {
    exp.Column: ExpressionCompiler._column,
    exp.Dot: ExpressionCompiler._column,
    exp.Literal: ExpressionCompiler._literal,
    exp.Boolean: lambda _c, n: sa.true() if n.this else sa.false(),
    exp.Null: lambda _c, _n: sa.null(),
    exp.Placeholder: ExpressionCompiler._placeholder,
    exp.Paren: ExpressionCompiler._paren,
    exp.Not: ExpressionCompiler._not,
    exp.Neg: ExpressionCompiler._neg,
    exp.Is: ExpressionCompiler._is,
    exp.In: ExpressionCompiler._in,
    exp.Between: ExpressionCompiler._between,
    exp.Case: ExpressionCompiler._case,
    exp.Cast: ExpressionCompiler._cast,
    exp.DateTrunc: ExpressionCompiler._date_trunc,
    exp.TimestampTrunc: ExpressionCompiler._date_trunc,
    exp.Year: ExpressionCompiler._extract,
    exp.Month: ExpressionCompiler._extract,
    exp.Day: ExpressionCompiler._extract,
    exp.Extract: ExpressionCompiler._extract,
    exp.Concat: ExpressionCompiler._concat,
    **{kind: ExpressionCompiler._function for kind in FUNCTIONS if kind not in _HANDLERS_SPECIAL},
}
