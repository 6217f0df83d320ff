"""The template object: parse once (Go's parse-time checks), execute against any data, with the
predefined functions and the Sprig subset as one function table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sealbox.gotemplate import nodes
from sealbox.gotemplate.errors import TemplateError
from sealbox.gotemplate.evaluator import Executor
from sealbox.gotemplate.functions import BUILTINS, Func
from sealbox.gotemplate.lexer import DEFAULT_DELIMITERS
from sealbox.gotemplate.parser import parse
from sealbox.gotemplate.sprig import SPRIG

__all__ = ["FUNCTIONS", "Template"]


FUNCTIONS: Final[Mapping[str, Func]] = {**SPRIG, **BUILTINS}
"""Every function a template may call: Go's predefined functions and the Sprig subset."""


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: parse once, execute against any data."""

    name: str
    text: str
    tree: tuple[nodes.Node, ...]

    @classmethod
    def parse(
        cls, name: str, text: str, *, delimiters: tuple[str, str] = DEFAULT_DELIMITERS
    ) -> Template:
        """Parse ``text``; :class:`TemplateError` (``template: NAME:LINE:COL: ...``) if bad.

        ``delimiters`` are the action delimiters, Go's ``Template.Delims(left, right)``: an empty
        string means Go's default (``{{`` or ``}}``); trim markers and comments go inside them
        (``<<- /* note */ ->>``), and text holding the other delimiters is plain text.
        """
        try:
            return cls(name, text, parse(name, text, FUNCTIONS, delimiters))
        except RecursionError:
            raise TemplateError(f"template: {name}: nested too deeply", name=name) from None

    def execute(self, data: Any) -> str:
        """The output for ``data`` (a Go ``map[string]string`` is a :class:`StringMap`)."""
        try:
            return Executor(self.name, self.text, FUNCTIONS, data).run(self.tree, data)
        except RecursionError:
            raise TemplateError(
                f"template: {self.name}: nested too deeply", name=self.name
            ) from None
