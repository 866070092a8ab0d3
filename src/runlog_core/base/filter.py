"""The run filter language, parsed into a small tree of plain tuples; each store translates the tree
into its own query language (the SQLite store in ``_sqlite_filter``). No SQL here.

Grammar::

    expr     := or
    or       := and ("or" and)*
    and      := atom ("and" atom)*
    atom     := "(" expr ")" | field op value
    field    := ("metrics" | "params" | "tags") "." name | attribute
    name     := identifier | "quoted name" | `quoted name`
    op       := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
    value    := number | 'string' | "string"

``metrics.x`` is the latest value of metric ``x``. Attributes: ``status``, ``name``,
``id``, ``experiment``, ``start_time``, ``end_time`` (seconds since the epoch, or an
ISO date string) and ``duration`` (seconds). Keywords are case-insensitive.

The tree: :class:`Compare` leaves under :class:`And` and :class:`Or` nodes that hold a flat tuple
of two or more ``terms`` (``a or b or c`` is one ``Or`` of three), so a chain of 10,000 terms is
one node, not 10,000 levels. A filter may hold :data:`MAX_COMPARISONS` comparisons, name
:data:`MAX_NAMES` different metrics, params and tags, and nest parentheses :data:`MAX_NESTING`
deep; beyond that it is a :class:`FilterSyntaxError`.
"""

from __future__ import annotations

import re
from collections import namedtuple

from runlog_core.exceptions import FilterSyntaxError, InvalidArgumentError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
__all__ = ["MAX_COMPARISONS", "MAX_NAMES", "MAX_NESTING", "And", "Compare", "Field", "Or", "parse_filter", "parse_order_by"]

NAMESPACES = ("metrics", "params", "tags")
ATTRIBUTES = ("status", "name", "id", "experiment", "start_time", "end_time", "duration")
_TIME_ATTRIBUTES = ("start_time", "end_time")
OPERATORS = ("<=", ">=", "!=", "==", "=", "<", ">")

# The parsed tree: immutable tuples, compared by value.
Field = namedtuple("Field", ["namespace", "key"])  # namespace: "metrics", "params", "tags" or "attributes"
Compare = namedtuple("Compare", ["field", "op", "value"])

MAX_NESTING = 20
"""How deep parentheses may nest in a filter (#9: deeper text raised RecursionError; stores' SQL parsers
have small stacks)."""
MAX_COMPARISONS = 10_000
"""How many comparisons one filter may hold (#9: 1,000 ``or`` terms raised RecursionError)."""
MAX_NAMES = 1_000
"""How many different metrics, params and tags one filter may name (each costs the store a lookup)."""


class _Chain(namedtuple("_Chain", ["terms"])):
    """Two or more expressions joined by one operator, flat: ``a or b or c`` is one node of three terms."""

    __slots__ = ()

    def __new__(cls, *terms: Expression) -> Self:
        if len(terms) < 2:
            raise InvalidArgumentError(f"terms of {cls.__name__}", terms, "two or more expressions")
        return super().__new__(cls, terms)

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self.terms!r}"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and tuple.__eq__(self, other)  # And(a, b) is not Or(a, b)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.terms))

    # a binary view, for stores written when And and Or had two operands
    @property
    def left(self) -> Expression:
        first: Expression = self.terms[0]
        return first

    @property
    def right(self) -> Expression:
        rest: tuple[Expression, ...] = self.terms[1:]
        if len(rest) == 1:
            return rest[0]
        return And(*rest) if isinstance(self, And) else Or(*rest)


class And(_Chain):
    """Every one of ``terms`` holds."""

    __slots__ = ()


class Or(_Chain):
    """At least one of ``terms`` holds."""

    __slots__ = ()


if TYPE_CHECKING:
    from collections.abc import Callable

    from typing_extensions import Self

    Expression = Compare | And | Or

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)(?![\w.]))
  | (?P<op><=|>=|!=|==|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<dot>\.)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`)
  | (?P<word>[A-Za-z_][\w\-/:]*)
    """,
    re.VERBOSE,
)


_Token = namedtuple("_Token", ["kind", "text", "position"])


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position] in "'\"`":
                raise FilterSyntaxError(text, position, "unterminated quoted string")
            raise FilterSyntaxError(text, position, f"unexpected character {text[position]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0  # parentheses open at this point
        self.comparisons = 0
        self.names: set[Field] = set()

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, token: _Token, message: str) -> FilterSyntaxError:
        return FilterSyntaxError(self.text, token.position, message)

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "word" and token.text.lower() == word:
            self.index += 1
            return True
        return False

    def parse(self) -> Expression:
        if self.peek().kind == "end":
            raise self.error(self.peek(), "empty filter")
        expr = self.parse_or()
        token = self.peek()
        if token.kind != "end":
            raise self.error(token, f"expected 'and', 'or' or the end of the filter, found {token.text!r}")
        return expr

    def parse_or(self) -> Expression:
        return self.chain("or", Or, self.parse_and)

    def parse_and(self) -> Expression:
        return self.chain("and", And, self.parse_atom)

    def chain(self, word: str, node: type[And] | type[Or], parse_term: Callable[[], Expression]) -> Expression:
        """Terms joined by ``word``, in a loop, as one flat node: a long chain never deepens the tree."""
        terms = [parse_term()]
        while self.keyword(word):
            terms.append(parse_term())
        if len(terms) == 1:
            return terms[0]
        flat: list[Expression] = []
        for term in terms:  # (a or b) or c is a or b or c
            flat.extend(term.terms if type(term) is node else (term,))
        return node(*flat)

    def parse_atom(self) -> Expression:
        token = self.peek()
        if token.kind == "lparen":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(token, f"parentheses nest more than {MAX_NESTING} deep; write the filter "
                                        "with fewer levels of parentheses")
            self.take()
            expr = self.parse_or()
            closing = self.peek()
            if closing.kind != "rparen":
                raise self.error(closing, "expected ')'")
            self.take()
            self.depth -= 1
            return expr
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.error(token, f"the filter is too long: it has more than {MAX_COMPARISONS} comparisons; "
                                    "split it into several searches")
        field = self.parse_field()
        if field.namespace != "attributes":
            self.names.add(field)
            if len(self.names) > MAX_NAMES:
                raise self.error(token, f"the filter is too long: it names more than {MAX_NAMES} different metrics, "
                                        "params and tags; split it into several searches")
        op_token = self.take()
        if op_token.kind != "op":
            raise self.error(op_token, f"expected a comparison (= != < <= > >=), found {op_token.text or 'the end'!r}")
        op = "=" if op_token.text == "==" else op_token.text
        value = self.parse_value(field)
        return Compare(field, op, value)

    def parse_field(self) -> Field:
        token = self.take()
        if token.kind != "word":
            raise self.error(token, f"expected a field such as metrics.loss, params.lr, tags.team or status, found {token.text or 'the end'!r}")
        word = token.text
        lowered = word.lower()
        if lowered in NAMESPACES or lowered in ("metric", "param", "tag", "attribute", "attributes", "attr"):
            namespace = {"metric": "metrics", "param": "params", "tag": "tags", "attr": "attributes",
                         "attribute": "attributes"}.get(lowered, lowered)
            dot = self.take()
            if dot.kind != "dot":
                raise self.error(dot, f"expected '.' after {word!r}")
            name_token = self.take()
            if name_token.kind == "string":
                key = _unquote(name_token.text)
            elif name_token.kind in ("word", "number"):
                key = name_token.text
                # names like metrics.val.loss: keep joining dotted parts
                while self.peek().kind == "dot" and self.tokens[self.index + 1].kind in ("word", "number"):
                    self.take()
                    key += "." + self.take().text
            else:
                raise self.error(name_token, f"expected a name after '{word}.'")
            if not key:
                raise self.error(name_token, "empty name")
            if namespace == "attributes":
                if key.lower() not in ATTRIBUTES:
                    raise self.error(name_token, f"unknown attribute {key!r}; known: {', '.join(ATTRIBUTES)}")
                key = key.lower()
            return Field(namespace, key)
        if "." in word or "/" in word:
            raise self.error(token, f"unknown field {word!r}; prefix it with metrics., params. or tags.")
        if lowered in ATTRIBUTES or lowered in ("run_id", "run_name", "experiment_name"):
            alias = {"run_id": "id", "run_name": "name", "experiment_name": "experiment"}.get(lowered, lowered)
            return Field("attributes", alias)
        raise self.error(
            token, f"unknown field {word!r}; use metrics.<name>, params.<name>, tags.<name> or one of {', '.join(ATTRIBUTES)}"
        )

    def parse_value(self, field: Field) -> float | int | str:
        token = self.take()
        if token.kind == "number":
            text = token.text
            number: float | int = float(text) if any(c in text.lower() for c in ".en") else int(text)
            return number
        if token.kind == "string":
            text = _unquote(token.text)
            if field.namespace == "attributes" and field.key in _TIME_ATTRIBUTES:
                import datetime as _dt

                try:
                    moment = _dt.datetime.fromisoformat(text)
                except ValueError:
                    raise self.error(token, f"{field.key} takes seconds since the epoch or an ISO date, not {text!r}") from None
                if moment.tzinfo is None:
                    moment = moment.astimezone()
                return moment.timestamp()
            return text
        if token.kind == "word" and field.namespace != "metrics":
            return token.text  # bare word: status = Completed
        raise self.error(token, f"expected a number or a quoted string, found {token.text or 'the end'!r}")


def parse_filter(text: str) -> Expression:
    """Parse a filter; raises :class:`~runlog_core.exceptions.FilterSyntaxError` pointing at the bad character."""
    if not isinstance(text, str):
        raise InvalidArgumentError("filter", text, "a str such as \"metrics.loss < 0.5 and params.lr >= 0.01\"")
    return _Parser(text).parse()


def parse_order_by(items: list[str] | str | None) -> list[tuple[Field, bool]]:
    """Parse ``["metrics.mse", "start_time DESC"]`` into ``[(Field, descending), ...]``."""
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    result = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidArgumentError("order_by", item, "a list of str such as ['metrics.loss', 'start_time DESC']")
        text = item.strip()
        descending = False
        lowered = text.lower()
        for suffix, desc in ((" desc", True), (" asc", False)):
            if lowered.endswith(suffix):
                text, descending = text[: -len(suffix)].rstrip(), desc
                break
        if text.startswith("-"):
            text, descending = text[1:], True
        parser = _Parser(text)
        field = parser.parse_field()
        if parser.peek().kind != "end":
            raise parser.error(parser.peek(), "expected ASC, DESC or the end of the sort key")
        result.append((field, descending))
    return result
