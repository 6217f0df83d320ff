"""Execute a parsed template against data, following ``text/template``'s ``exec.go``: dot and
variables, field lookup on maps (a missing key is Go's invalid value, printed ``<no value>``),
pipelines passing the previous result as the last argument, lazy ``and``/``or``, ``if``/``with``
truth, ``range`` over lists, maps (sorted keys) and integers, ``break``/``continue``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from sealbox.gotemplate import nodes as n
from sealbox.gotemplate.errors import TemplateError
from sealbox.gotemplate.functions import Func
from sealbox.gotemplate.values import (
    MAX_TEXT,
    MISSING,
    FuncError,
    go_type,
    print_value,
    truth,
)

_NO_FINAL: Final = object()
_GO_KIND: Final = {"str": "string", "int": "int", "bool": "bool"}
_MAX_STEPS: Final = 1_000_000  # actions, iterations and calls: bounds CPU per template


class _Jump(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


class Executor:
    """One execution of one template; not reused."""

    def __init__(self, name: str, text: str, funcs: Mapping[str, Func], data: Any) -> None:
        self.source = (name, text)
        self.funcs = funcs
        self.vars: list[list[Any]] = [["$", data]]
        self.out: list[str] = []
        self.size = 0
        self.steps = 0

    def error(self, pos: int, message: str) -> TemplateError:
        return TemplateError.at(self.source, pos, f'executing "{self.source[0]}": {message}')

    def run(self, tree: tuple[n.Node, ...], data: Any) -> str:
        self.walk(data, tree)
        return "".join(self.out)

    def write(self, text: str, pos: int) -> None:
        self.size += len(text)
        if self.size > MAX_TEXT:
            raise self.error(pos, "output larger than a Secret can hold (1 MiB)")
        self.out.append(text)

    def step(self, pos: int) -> None:
        self.steps += 1
        if self.steps > _MAX_STEPS:
            raise self.error(pos, f"template takes more than {_MAX_STEPS} steps")

    def walk(self, dot: Any, nodes: tuple[n.Node, ...]) -> None:
        for node in nodes:
            self.step(node.pos)
            if isinstance(node, n.Text):
                self.write(node.text, node.pos)
            elif isinstance(node, n.Action):
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.write(print_value(value), node.pos)
            elif isinstance(node, n.Control):
                mark = len(self.vars)
                try:
                    self.control(dot, node)
                finally:
                    del self.vars[mark:]
            else:
                raise _Jump(node.kind)

    def control(self, dot: Any, node: n.Control) -> None:
        value = self.pipeline(dot, node.pipe)
        if node.kind == "range":
            self.range(dot, node, value)
        elif truth(value):
            self.walk(value if node.kind == "with" else dot, node.body)
        elif node.orelse:
            self.walk(dot, node.orelse)

    def range(self, dot: Any, node: n.Control, value: Any) -> None:
        pairs: Iterable[tuple[Any, Any]]
        if isinstance(value, dict):
            pairs = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list):
            pairs = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = ((i, i) for i in range(value)) if value > 0 else []
        elif value is None or value is MISSING:
            pairs = []
        else:
            raise self.error(node.pos, f"range can't iterate over a {go_type(value)}")
        if isinstance(pairs, list) and not pairs:
            if node.orelse:
                self.walk(dot, node.orelse)
            return
        mark = len(self.vars)
        decl = node.pipe.decl
        for key, elem in pairs:
            self.step(node.pos)
            if len(decl) == 1:
                self.assign(decl[0], elem)
            elif len(decl) == 2:
                self.assign(decl[0], key)
                self.assign(decl[1], elem)
            try:
                self.walk(elem, node.body)
            except _Jump as jump:
                if jump.kind == "break":
                    break
            finally:
                del self.vars[mark:]

    def pipeline(self, dot: Any, pipe: n.Pipe) -> Any:
        value: Any = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.is_assign:
                self.assign(name, value)
            else:
                self.vars.append([name, value])
        return value

    def assign(self, name: str, value: Any) -> None:
        next(v for v in reversed(self.vars) if v[0] == name)[1] = value

    def variable(self, name: str) -> Any:
        return next(v[1] for v in reversed(self.vars) if v[0] == name)

    def command(self, dot: Any, cmd: n.Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, n.Identifier):
            return self.call(dot, first, cmd.args[1:], final)
        has_args = len(cmd.args) > 1 or final is not _NO_FINAL
        if isinstance(first, (n.Field, n.Variable, n.Chain)):
            return self.fields(dot, first, has_args)
        if has_args:
            raise self.error(first.pos, "can't give argument to non-function")
        if isinstance(first, n.Nil):
            raise self.error(first.pos, "nil is not a command")
        return self.arg(dot, first)

    def fields(self, dot: Any, node: n.Field | n.Variable | n.Chain, has_args: bool) -> Any:
        if isinstance(node, n.Field):
            receiver = dot
        elif isinstance(node, n.Variable):
            receiver = self.variable(node.name)
            if not node.names and has_args:
                raise self.error(node.pos, "can't give argument to non-function")
        else:
            receiver = self.arg(dot, node.node)
        for i, name in enumerate(node.names):
            last = i == len(node.names) - 1
            if receiver is MISSING or receiver is None:
                return MISSING
            if not isinstance(receiver, dict):
                raise self.error(
                    node.pos, f"can't evaluate field {name} in type {go_type(receiver)}"
                )
            if last and has_args:
                raise self.error(node.pos, f"{name} is not a method but has arguments")
            receiver = receiver.get(name, MISSING)
        return receiver

    def arg(self, dot: Any, node: n.Operand) -> Any:
        if isinstance(node, n.Dot):
            return dot
        if isinstance(node, n.Nil):
            return None
        if isinstance(node, n.Literal):
            return node.value
        if isinstance(node, n.Identifier):
            return self.call(dot, node, (), _NO_FINAL)
        if isinstance(node, n.Pipe):
            mark = len(self.vars)
            try:
                return self.pipeline(dot, node)
            finally:
                del self.vars[mark:]
        return self.fields(dot, node, False)

    def call(self, dot: Any, ident: n.Identifier, args: tuple[n.Operand, ...], final: Any) -> Any:
        name, func = ident.name, self.funcs[ident.name]
        nodes: list[n.Operand | None] = list(args)
        if final is not _NO_FINAL:
            nodes.append(None)
        fixed = len(func.params)
        if len(nodes) < fixed or (func.variadic is None and len(nodes) > fixed):
            want = f"at least {fixed}" if func.variadic else str(fixed)
            raise self.error(
                ident.pos, f"wrong number of args for {name}: want {want} got {len(nodes)}"
            )

        def value(i: int) -> Any:
            node = nodes[i]
            raw = final if node is None else self.arg(dot, node)
            kind = func.params[i] if i < fixed else func.variadic or "any"
            return self.coerce(kind, raw, ident.pos, name)

        if name in ("and", "or"):
            result: Any = None
            for i in range(len(nodes)):
                result = value(i)
                if truth(result) != (name == "and"):
                    return result
            return result
        self.step(ident.pos)
        try:
            result = func.fn(*(value(i) for i in range(len(nodes))))
        except FuncError as exc:
            raise self.error(ident.pos, f"error calling {name}: {exc}") from None
        if isinstance(result, str) and len(result) > MAX_TEXT:
            raise self.error(ident.pos, f"error calling {name}: result larger than 1 MiB")
        return result

    def coerce(self, kind: str, value: Any, pos: int, name: str) -> Any:
        if kind == "any":
            return None if value is MISSING else value
        go_kind = _GO_KIND[kind]
        if value is MISSING or value is None:
            raise self.error(pos, f"error calling {name}: invalid value; expected {go_kind}")
        ok = {
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
        }[kind]
        if not ok:
            raise self.error(pos, f"wrong type for value; expected {go_kind}; got {go_type(value)}")
        return value
