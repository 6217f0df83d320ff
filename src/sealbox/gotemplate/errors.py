"""The one error a template raises, parse or execution, with Go's ``template: NAME:LINE:COL:``
prefix so the author finds the spot. It never quotes data values, only template text."""

from __future__ import annotations

from sealbox.errors import InputError


class TemplateError(InputError):
    """A template does not parse or fails to execute: the template is its author's input (exit 2).

    Callers catch it by this class: the unsealer turns it into the ``TemplateError`` status
    reason, the sync model into a spec error naming the template's key."""

    def __init__(self, message: str, *, name: str = "", line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.name = name
        self.line = line
        self.column = column

    @classmethod
    def at(cls, source: tuple[str, str], pos: int, message: str) -> TemplateError:
        """An error at character offset ``pos`` of template ``source`` = (name, text)."""
        name, text = source
        before = text[:pos]
        line = before.count("\n") + 1
        column = pos - (before.rfind("\n") + 1) + 1
        return cls(
            f"template: {name}:{line}:{column}: {message}", name=name, line=line, column=column
        )
