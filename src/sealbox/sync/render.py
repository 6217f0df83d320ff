"""What an ExternalSecret's target Secret holds: fetched values decoded, merged and templated.

Pure: the controller fetches, this module decides the bytes. ESO's order, exactly:

1. each ``spec.dataFrom[i]`` map, its keys converted as ESO's ``conversionStrategy: Default``
   does (a character a Secret key cannot hold, such as the ``/`` of a found path, becomes
   ``_``: ``shop/feature-a`` is ``shop_feature-a``), decoded by its ``decodingStrategy``, merged
   in order (a later map wins a key);
2. each ``spec.data[i]`` value, decoded by its ``remoteRef.decodingStrategy``, set over them (a
   ``data`` item wins over ``dataFrom``);
3. ``spec.target.template`` (engine v2), when it has ``data``: every template key is rendered with
   :mod:`sealbox.gotemplate` against the merged values (each a Go string, so ``.password``,
   ``index . "db-pass"`` and the Sprig functions work as in ESO). ``mergePolicy: Replace`` keeps
   only the rendered keys, ``Merge`` keeps the fetched keys too, rendered keys winning. A template
   without ``data`` keeps the fetched keys (ESO's fallback). ``template.metadata`` labels and
   annotations are templates too (ESO v2 renders them), applied by :mod:`.target`.

Decoding is Go's: ``Base64`` is ``base64.StdEncoding`` and ``Base64URL`` ``base64.URLEncoding``
(padding required, CR and LF ignored); ``Auto`` tries the first, then the second, and keeps the
raw value when neither decodes. Errors (:class:`RenderError`) name the field path and never carry
a value; :class:`Rendered` shows only key names in its repr.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from sealbox.errors import InputError
from sealbox.gotemplate import (
    DEFAULT_DELIMITERS,
    StringMap,
    Template,
    TemplateError,
    from_bytes,
    to_bytes,
)
from sealbox.sync.model import DecodingStrategy, ExternalSecretSpec, MergePolicy

__all__ = [
    "DEFAULT_SECRET_TYPE",
    "Fetched",
    "RenderError",
    "Rendered",
    "decode_value",
    "render_target",
]

DEFAULT_SECRET_TYPE: Final = "Opaque"  # noqa: S105 - a Secret type, not a password

# Go's padded encodings: whole quanta, padding only at the end.
_STD: Final = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_URL: Final = re.compile(rb"(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?")


class RenderError(InputError):
    """The fetched values cannot become the target Secret: a value that does not decode as its
    ``decodingStrategy`` says (``reason`` ``DecodingError``), two dataFrom keys that convert to
    one Secret key (``KeyCollision``) or a template that fails (``TemplateError``). The message
    names the field path (``spec.target.template.data.dsn``) and, for a template, Go's error
    text; never a value."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


#: What ESO's ``conversionStrategy: Default`` replaces with ``_`` in a dataFrom key.
_NOT_KEY_CHARACTER = re.compile(r"[^-._a-zA-Z0-9]")


@dataclass(frozen=True, slots=True)
class Fetched:
    """What the provider returned for one ExternalSecret, before decoding.

    ``data`` maps ``spec.data[i].secretKey`` to its value; an item missing from it is left out of
    the Secret (as ESO leaves out a key gone from the store under ``deletionPolicy`` Delete or
    Merge). ``data_from`` holds one map per ``spec.dataFrom[i]``, in order.
    """

    data: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    data_from: tuple[Mapping[str, bytes], ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        maps = [sorted(m) for m in self.data_from]
        return f"Fetched(data keys={sorted(self.data)}, data_from keys={maps})"


@dataclass(frozen=True, slots=True)
class Rendered:
    """The target Secret's content: its ``type`` (``template.type`` or ``Opaque``), ``data``
    (decoded bytes), and the labels and annotations rendered from ``template.metadata``."""

    type: str
    data: Mapping[str, bytes]
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Rendered(type={self.type!r}, data keys={sorted(self.data)}, "
            f"labels={sorted(self.labels)}, annotations={sorted(self.annotations)})"
        )


def _go_base64(value: bytes, pattern: re.Pattern[bytes], *, urlsafe: bool) -> bytes | None:
    """Go's padded ``DecodeString`` (CR and LF skipped), or None when it would fail."""
    cleaned = value.replace(b"\r", b"").replace(b"\n", b"")
    if not pattern.fullmatch(cleaned):
        return None
    try:
        return base64.urlsafe_b64decode(cleaned) if urlsafe else base64.b64decode(cleaned)
    except (binascii.Error, ValueError):  # pragma: no cover - the pattern already checked
        return None


def decode_value(value: bytes, strategy: DecodingStrategy, where: str) -> bytes:
    """``value`` decoded by ``strategy``, as ESO's ``utils.Decode``.

    Raises:
        RenderError: reason ``DecodingError``, naming ``where`` (a field path) and the strategy;
            ``Auto`` never fails (it keeps the raw value).
    """
    if strategy is DecodingStrategy.NONE:
        return value
    standard = _go_base64(value, _STD, urlsafe=False)
    if strategy is DecodingStrategy.BASE64 or (
        strategy is DecodingStrategy.AUTO and standard is not None
    ):
        if standard is None:
            raise _decoding_error(where, strategy)
        return standard
    url = _go_base64(value, _URL, urlsafe=True)
    if url is not None:
        return url
    if strategy is DecodingStrategy.AUTO:
        return value
    raise _decoding_error(where, strategy)


def _decoding_error(where: str, strategy: DecodingStrategy) -> RenderError:
    alphabet = "A-Z a-z 0-9 + /" if strategy is DecodingStrategy.BASE64 else "A-Z a-z 0-9 - _"
    return RenderError(
        f"{where}: the fetched value is not {strategy} text (padded, alphabet {alphabet}); "
        f"set decodingStrategy to None or Auto to keep it as it is",
        reason="DecodingError",
    )


def _converted_keys(values: Mapping[str, bytes], path: str) -> dict[str, str]:
    """ESO's ``conversionStrategy: Default`` for a dataFrom map: every character a Secret key
    cannot hold (``/`` of a found path, a space...) becomes ``_``; original key -> Secret key.

    Raises:
        RenderError: reason ``KeyCollision``, two remote keys that convert to one Secret key.
    """
    names: dict[str, str] = {}
    seen: dict[str, str] = {}
    for key in sorted(values):
        name = _NOT_KEY_CHARACTER.sub("_", key)
        if name in seen:
            raise RenderError(
                f"{path}: remote keys {seen[name]!r} and {key!r} both become Secret key "
                f"{name!r}; narrow the match or use template.data to name them",
                reason="KeyCollision",
            )
        seen[name] = key
        names[key] = name
    return names


def _merged(spec: ExternalSecretSpec, fetched: Fetched) -> dict[str, bytes]:
    if len(fetched.data_from) != len(spec.data_from):
        raise ValueError(
            f"fetched {len(fetched.data_from)} dataFrom maps for {len(spec.data_from)} entries"
        )
    merged: dict[str, bytes] = {}
    for index, (item, values) in enumerate(zip(spec.data_from, fetched.data_from, strict=True)):
        if item.extract is not None:
            path, strategy = f"spec.dataFrom[{index}].extract", item.extract.decoding
        elif item.find is not None:
            path, strategy = f"spec.dataFrom[{index}].find", item.find.decoding
        else:  # pragma: no cover - the model requires one of them
            continue
        for key, name in _converted_keys(values, path).items():
            merged[name] = decode_value(values[key], strategy, f"{path} (key {name})")
    for index, data_item in enumerate(spec.data):
        if data_item.secret_key not in fetched.data:
            continue
        merged[data_item.secret_key] = decode_value(
            fetched.data[data_item.secret_key],
            data_item.remote_ref.decoding,
            f"spec.data[{index}].remoteRef (secretKey {data_item.secret_key})",
        )
    return merged


def _render(
    templates: Mapping[str, str],
    values: StringMap,
    path: str,
    delimiters: tuple[str, str],
) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, text in templates.items():
        try:
            out[key] = to_bytes(Template.parse(key, text, delimiters=delimiters).execute(values))
        except TemplateError as error:
            raise RenderError(f"{path}.{key}: {error}", reason="TemplateError") from None
    return out


def _text(rendered: Mapping[str, bytes]) -> dict[str, str]:
    return {key: value.decode("utf-8", errors="replace") for key, value in rendered.items()}


def render_target(
    spec: ExternalSecretSpec,
    fetched: Fetched,
    *,
    delimiters: tuple[str, str] = DEFAULT_DELIMITERS,
) -> Rendered:
    """The Secret content ``spec`` asks for from the ``fetched`` values (ESO's order: module
    text). ``delimiters`` are the template action delimiters (the controller's
    ``--template-left-delimiter``/``--template-right-delimiter``; empty means ``{{``/``}}``).

    Raises:
        RenderError: a value that does not decode, or a template that fails (its field path, e.g.
            ``spec.target.template.data.dsn``, and Go's error text).
        ValueError: ``fetched.data_from`` does not have one map per ``spec.data_from`` entry.
    """
    merged = _merged(spec, fetched)
    template = spec.target.template
    if template is None:
        return Rendered(DEFAULT_SECRET_TYPE, merged)
    values = StringMap((key, from_bytes(value)) for key, value in merged.items())
    path = "spec.target.template"
    data: dict[str, bytes] = {}
    if not template.data or template.merge_policy is MergePolicy.MERGE:
        data.update(merged)
    data.update(_render(template.data, values, f"{path}.data", delimiters))
    labels = _render(template.labels, values, f"{path}.metadata.labels", delimiters)
    annotations = _render(template.annotations, values, f"{path}.metadata.annotations", delimiters)
    return Rendered(template.type or DEFAULT_SECRET_TYPE, data, _text(labels), _text(annotations))
