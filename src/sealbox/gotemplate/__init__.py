"""A Go ``text/template`` + Sprig engine, written for faithfulness to Go's output on the subset
that Sealed Secrets (``spec.template.data``, see ``docs/sealing.md``, "Templates") and
ExternalSecret (``spec.target.template.data``) templates use. A leaf: pure, both render with it.

No maintained Python library implements Go templates, and the upstream controller renders these
templates with Go's engine, so the same template must give the same bytes here. The engine is
small and strict: whatever it does not implement is a :class:`TemplateError` naming the template
and position, never a silently different result.

- :mod:`.lexer`, :mod:`.parser`, :mod:`.nodes`: text → tree, with Go's parse-time checks.
- :mod:`.evaluator`: tree + data → text.
- :mod:`.values`, :mod:`.printf`, :mod:`.gojson`: Go's value model, ``fmt`` and ``encoding/json``.
- :mod:`.functions`, :mod:`.sprig`: the predefined functions and the Sprig subset.
- :mod:`.template`: :class:`Template` (parse, execute) over :data:`FUNCTIONS`.
"""

from __future__ import annotations

from sealbox.gotemplate.errors import TemplateError
from sealbox.gotemplate.functions import Func
from sealbox.gotemplate.lexer import DEFAULT_DELIMITERS
from sealbox.gotemplate.template import FUNCTIONS, Template
from sealbox.gotemplate.values import StringMap, from_bytes, to_bytes

__all__ = [
    "DEFAULT_DELIMITERS",
    "FUNCTIONS",
    "Func",
    "StringMap",
    "Template",
    "TemplateError",
    "from_bytes",
    "to_bytes",
]
