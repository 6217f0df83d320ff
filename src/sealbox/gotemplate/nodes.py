"""The parse tree of a template, one small frozen class per Go ``parse.Node`` kind we support."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Text:
    pos: int
    text: str


@dataclass(frozen=True, slots=True)
class Field:
    """``.a.b``: fields of dot."""

    pos: int
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Variable:
    """``$x.a.b``: a variable and fields of it (``$`` is the data)."""

    pos: int
    name: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Dot:
    pos: int


@dataclass(frozen=True, slots=True)
class Nil:
    pos: int


@dataclass(frozen=True, slots=True)
class Literal:
    """A bool, number, string or character constant, already as its Python value."""

    pos: int
    value: str | int | float | bool
    text: str


@dataclass(frozen=True, slots=True)
class Identifier:
    """A function name."""

    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class Chain:
    """``(pipeline).a.b`` or ``func.a``."""

    pos: int
    node: Operand
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Command:
    pos: int
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Pipe:
    """Commands joined by ``|``, optionally declaring (``:=``) or assigning (``=``) variables."""

    pos: int
    decl: tuple[str, ...]
    is_assign: bool
    cmds: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class Action:
    pos: int
    pipe: Pipe


@dataclass(frozen=True, slots=True)
class Control:
    """``if``, ``range`` or ``with`` (``kind``), with body and optional else branch."""

    pos: int
    kind: str
    pipe: Pipe
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class LoopJump:
    """``{{break}}`` or ``{{continue}}`` (``kind``)."""

    pos: int
    kind: str


Operand: TypeAlias = Field | Variable | Dot | Nil | Literal | Identifier | Chain | Pipe
Node: TypeAlias = Text | Action | Control | LoopJump
