"""Render ``spec.template.data``: one Go template per output key, as the upstream controller does.

Upstream executes each template with Go's ``text/template`` and Sprig (minus ``env``,
``expandenv``, ``getHostByName``) against the map of decrypted values, a Go
``map[string]string``; the result becomes the Secret's value for that key. The engine is
:mod:`sealbox.gotemplate`; this module is the Sealed Secrets face of it: values in as
bytes (kept byte-exact even when they are not UTF-8), rendered bytes out.
"""

from __future__ import annotations

from collections.abc import Mapping

from sealbox.gotemplate import StringMap, Template, TemplateError, from_bytes, to_bytes

__all__ = ["TemplateError", "render_template", "template_values"]


def template_values(values: Mapping[str, bytes]) -> StringMap:
    """The data a template sees: each decrypted value as a Go string (its exact bytes)."""
    return StringMap((key, from_bytes(value)) for key, value in values.items())


def render_template(key: str, text: str, values: Mapping[str, bytes]) -> bytes:
    """The bytes template ``text`` for output ``key`` renders to with the decrypted ``values``.

    Raises :class:`TemplateError` (an :class:`~sealbox.errors.UnsealError`) for bad syntax, an
    unknown function or a failing call; the message says ``template: KEY:LINE:COL:`` and never
    carries a value.
    """
    return to_bytes(Template.parse(key, text).execute(template_values(values)))
