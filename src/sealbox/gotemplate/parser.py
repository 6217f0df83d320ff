"""Parse lexed items into a tree, with the checks Go makes at parse time: functions must exist,
variables must be declared, ``{{break}}`` only inside ``range``, and pipeline stages after the
first must be executable."""

from __future__ import annotations

from collections.abc import Callable, Collection

from sealbox.gotemplate import nodes as n
from sealbox.gotemplate.errors import TemplateError
from sealbox.gotemplate.lexer import DEFAULT_DELIMITERS, Item, Token, lex

_TERMINATORS = ("pipe", "rparen")


def parse_number(text: str) -> int | float | None:
    """A Go number constant's value, or None if it is not one we accept."""
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if body.endswith("i") or not body or body.startswith("_") or body.endswith("_"):
        return None
    try:
        if len(body) > 1 and body[0] == "0" and body[1] in "0123456789_":
            if any(c not in "01234567_" for c in body):
                return sign * float(body) if "." in body or "e" in body.lower() else None
            return sign * int(body.replace("_", ""), 8)
        if body[:2].lower() in ("0x", "0b", "0o") and "." not in body and "p" not in body.lower():
            return sign * int(body, 0)
        if body[:2].lower() == "0x":
            return sign * float.fromhex(body.replace("_", ""))
        if any(c in body for c in ".eE"):
            return sign * float(body)
        return sign * int(body)
    except ValueError:
        return None


class _Parser:
    def __init__(
        self, name: str, text: str, funcs: Collection[str], delimiters: tuple[str, str]
    ) -> None:
        self.source = (name, text)
        self.funcs = funcs
        self.items = lex(name, text, delimiters)
        self.i = 0
        self.vars = ["$"]
        self.range_depth = 0

    def error(self, pos: int, message: str) -> TemplateError:
        return TemplateError.at(self.source, pos, message)

    def parse(self) -> tuple[n.Node, ...]:
        body, end = self.body()
        if end is not None:
            raise self.error(end.pos, f"unexpected {{{{{end.tokens[0].value}}}}}")
        return body

    def body(self) -> tuple[tuple[n.Node, ...], Item | None]:
        """Nodes up to an ``{{end}}``/``{{else}}`` item (returned) or the end (None)."""
        out: list[n.Node] = []
        while self.i < len(self.items):
            item = self.items[self.i]
            self.i += 1
            if item.text is not None:
                out.append(n.Text(item.pos, item.text))
                continue
            toks = item.tokens
            if not toks:
                raise self.error(item.pos, "missing value for command")
            first = toks[0]
            if first.kind != "keyword":
                out.append(n.Action(item.pos, self.pipeline(toks, "command")))
            elif first.value in ("end", "else"):
                return tuple(out), item
            elif first.value in ("if", "range", "with"):
                out.append(self.control(first.value, toks[1:], item.pos))
            elif first.value in ("break", "continue"):
                if self.range_depth == 0:
                    raise self.error(item.pos, f"{{{{{first.value}}}}} outside {{{{range}}}}")
                if len(toks) > 1:
                    raise self.error(toks[1].pos, f"unexpected {toks[1].value} in {first.value}")
                out.append(n.LoopJump(item.pos, first.value))
            else:
                raise self.error(item.pos, f"{{{{{first.value}}}}} is not supported here")
        return tuple(out), None

    def control(self, kind: str, toks: list[Token], pos: int) -> n.Control:
        mark = len(self.vars)
        pipe = self.pipeline(toks, kind, pos)
        self.range_depth += kind == "range"
        inner = len(self.vars)
        body, end = self.body()
        del self.vars[inner:]
        self.range_depth -= kind == "range"
        orelse: tuple[n.Node, ...] = ()
        if end is None:
            raise self.error(pos, f"unexpected EOF: {{{{{kind}}}}} has no {{{{end}}}}")
        etoks = end.tokens
        if etoks[0].value == "else" and len(etoks) > 1:
            if etoks[1].kind != "keyword" or etoks[1].value != kind or kind == "range":
                raise self.error(etoks[1].pos, f"unexpected {etoks[1].value!r} in else")
            orelse = (self.control(kind, etoks[2:], end.pos),)
        elif etoks[0].value == "else":
            orelse, last = self.body()
            del self.vars[inner:]
            if last is None or last.tokens[0].value != "end":
                raise self.error(pos, f"expected {{{{end}}}} for {{{{{kind}}}}}")
            if len(last.tokens) > 1:
                raise self.error(last.tokens[1].pos, f"unexpected {last.tokens[1].value!r} in end")
        elif len(etoks) > 1:
            raise self.error(etoks[1].pos, f"unexpected {etoks[1].value!r} in end")
        del self.vars[mark:]
        return n.Control(pos, kind, pipe, body, orelse)

    def pipeline(self, toks: list[Token], context: str, pos: int | None = None) -> n.Pipe:
        cursor = _Cursor(toks, pos if pos is not None else toks[0].pos, self.error)
        pipe = self.pipe(cursor, context, declare=True)
        if not cursor.done():
            tok = cursor.peek()
            raise self.error(tok.pos, f"unexpected {tok.value!r} in {context}")
        return pipe

    def pipe(self, cursor: _Cursor, context: str, *, declare: bool) -> n.Pipe:
        start = cursor.pos()
        decl: list[str] = []
        is_assign = False
        if declare and cursor.kind(0) == "variable":
            if cursor.kind(1) in ("declare", "assign"):
                decl = [cursor.take().value]
            elif cursor.kind(1) == "comma" and cursor.kind(2) == "variable":
                if context != "range":
                    raise self.error(cursor.peek().pos, f"too many declarations in {context}")
                if cursor.kind(3) in ("declare", "assign"):
                    first = cursor.take().value
                    cursor.take()  # the comma
                    decl = [first, cursor.take().value]
        if decl:
            op = cursor.take()
            is_assign = op.kind == "assign"
            for name in decl:
                if is_assign and name not in self.vars:
                    raise self.error(op.pos, f'undefined variable "{name}"')
        cmds: list[n.Command] = []
        while not cursor.done() and cursor.kind(0) != "rparen":
            if cmds:
                if cursor.kind(0) != "pipe":
                    raise self.error(cursor.peek().pos, f"unexpected {cursor.peek().value!r}")
                cursor.take()
            cmds.append(self.command(cursor))
        if not cmds:
            raise self.error(start, f"missing value for {context}")
        for stage, cmd in enumerate(cmds[1:], start=2):
            if isinstance(cmd.args[0], (n.Literal, n.Dot, n.Nil)):
                raise self.error(cmd.pos, f"non executable command in pipeline stage {stage}")
        if decl and not is_assign:
            self.vars.extend(decl)
        return n.Pipe(start, tuple(decl), is_assign, tuple(cmds))

    def command(self, cursor: _Cursor) -> n.Command:
        start = cursor.pos()
        args: list[n.Operand] = []
        while not cursor.done() and cursor.kind(0) not in _TERMINATORS:
            tok = cursor.peek()
            if args and not tok.space_before:
                raise self.error(tok.pos, f"missing space? unexpected {tok.value!r}")
            args.append(self.operand(cursor))
        if not args:
            raise self.error(start, "missing value for command")
        return n.Command(start, tuple(args))

    def operand(self, cursor: _Cursor) -> n.Operand:
        term = self.term(cursor)
        names: list[str] = []
        while cursor.kind(0) == "field" and not cursor.peek().space_before:
            names.append(cursor.take().value)
        if not names:
            return term
        if isinstance(term, n.Field):
            return n.Field(term.pos, term.names + tuple(names))
        if isinstance(term, n.Variable):
            return n.Variable(term.pos, term.name, term.names + tuple(names))
        if isinstance(term, (n.Literal, n.Dot, n.Nil)):
            raise self.error(term.pos, "unexpected . after term")
        return n.Chain(term.pos, term, tuple(names))

    def term(self, cursor: _Cursor) -> n.Operand:
        tok = cursor.take()
        kind, value, pos = tok.kind, tok.value, tok.pos
        if kind == "ident":
            if value not in self.funcs:
                raise self.error(pos, f'function "{value}" not defined')
            return n.Identifier(pos, value)
        if kind == "dot":
            return n.Dot(pos)
        if kind == "nil":
            return n.Nil(pos)
        if kind == "field":
            return n.Field(pos, (value,))
        if kind == "variable":
            if value not in self.vars:
                raise self.error(pos, f'undefined variable "{value}"')
            return n.Variable(pos, value, ())
        if kind == "bool":
            return n.Literal(pos, value == "true", value)
        if kind == "string":
            return n.Literal(pos, value, value)
        if kind == "char":
            if len(value) != 1:
                raise self.error(pos, "malformed character constant")
            return n.Literal(pos, ord(value), value)
        if kind == "number":
            number = parse_number(value)
            if number is None:
                raise self.error(pos, f"illegal number syntax: {value!r}")
            return n.Literal(pos, number, value)
        if kind == "lparen":
            pipe = self.pipe(cursor, "parenthesized pipeline", declare=True)
            if cursor.done() or cursor.kind(0) != "rparen":
                raise self.error(pos, "unclosed left paren")
            cursor.take()
            return pipe
        raise self.error(pos, f"unexpected {value!r} in operand")


class _Cursor:
    def __init__(
        self, toks: list[Token], pos: int, error: Callable[[int, str], TemplateError]
    ) -> None:
        self.toks = toks
        self.i = 0
        self.end_pos = toks[-1].pos if toks else pos
        self.error = error

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def kind(self, ahead: int) -> str:
        j = self.i + ahead
        return self.toks[j].kind if j < len(self.toks) else ""

    def peek(self) -> Token:
        return self.toks[self.i]

    def pos(self) -> int:
        return self.toks[self.i].pos if self.i < len(self.toks) else self.end_pos

    def take(self) -> Token:
        if self.done():
            raise self.error(self.end_pos, "unexpected end of action")
        tok = self.toks[self.i]
        self.i += 1
        return tok


def parse(
    name: str,
    text: str,
    funcs: Collection[str],
    delimiters: tuple[str, str] = DEFAULT_DELIMITERS,
) -> tuple[n.Node, ...]:
    """The tree of template ``name`` (actions between ``delimiters``); :class:`TemplateError` on
    bad syntax. Messages name constructs as Go does (``unexpected {{end}}``) whatever the
    delimiters."""
    return _Parser(name, text, funcs, delimiters).parse()
