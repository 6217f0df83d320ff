"""Turn a SealedSecret into the Secret it stands for, as upstream ``SealedSecret.Unseal`` does.

The label comes from the SealedSecret's **outer** annotations and its own namespace/name (so a
value cannot be replayed under another object); the Secret gets a deep copy of the template
metadata, ``type`` and ``immutable``, one ``data`` item per ``encryptedData`` item, then each
``template.data`` entry rendered over the decrypted values (overwriting an item of the same key).
A legacy ``spec.data`` object is the sealed Secret JSON itself. Name and namespace are forced to
the SealedSecret's. No ownerReference: the controller adds it (or not, per the skip annotation).

Every item is tried and every failure collected before :class:`UnsealFailed` is raised, so one
status message names all broken items; messages name items, never values. Where upstream only
says "no key could decrypt secret", a value that opens under another scope of the same object is
reported as ``ScopeMismatch`` (tried only after a failure, so a healthy object costs nothing).

Deliberate difference: upstream's lenient decoder silently mis-reads an ``encryptedData`` map that
holds a non-string value (our spec reads it as the whole map becoming empty; Go's decoder rules
say the item becomes ``""`` and then fails as too short). The CRD schema keeps such objects out of
a real cluster; here it is an ``InvalidSealedSecret`` naming the items either way, since a Secret
quietly missing data is the worse outcome.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable, Mapping
from typing import Any, Final

from sealbox.errors import (
    NoMatchingKey,
    ObjectDecodeError,
    SealedValueNotBase64,
    UnsealError,
    UnsealFailed,
)
from sealbox.sealing.encoding import decode_value
from sealbox.sealing.legacy import parse_v1_secret
from sealbox.sealing.object_meta import OBJECT_META_FIELDS
from sealbox.sealing.scope import Scope, label_for, scope_from_annotations
from sealbox.sealing.template import TemplateError, render_template

__all__ = ["OpenValue", "unseal_sealed_secret"]

OpenValue = Callable[[bytes, bytes], bytes]
"""``open_value(ciphertext, label) -> plaintext``, e.g. ``KeyRing.open``; raises
:class:`~sealbox.errors.NoMatchingKey` or another :class:`~sealbox.errors.UnsealError`."""

# Which reason the status shows when items fail differently: the most specific first.
_REASONS: Final = ("InvalidSealedSecret", "ScopeMismatch", "NoMatchingKey", "TemplateError")
_OBJECT_META: Final = frozenset(OBJECT_META_FIELDS)
_SECRET_FIELDS: Final = ("metadata", "type", "immutable", "data", "stringData")


class _Failures:
    """Per-item failures: (reason, message) pairs, reported together."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, reason: str, message: str) -> None:
        self.items.append((reason, message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        reason = next(r for r in _REASONS if any(r == got for got, _ in self.items))
        messages = sorted({message for _, message in self.items})
        raise UnsealFailed("; ".join(messages), reason=reason)


def _invalid(message: str) -> UnsealFailed:
    return UnsealFailed(message, reason="InvalidSealedSecret")


def _mapping(value: Any, field: str, *, strings: bool = False) -> Mapping[str, Any]:
    """``value`` as an object (absent/null is empty); with ``strings``, of string values."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _invalid(f"{field}: must be an object")
    if strings:
        bad = sorted(k for k, v in value.items() if not isinstance(v, str))
        if bad:
            raise _invalid(f"{field}: values must be strings (not for {', '.join(bad)})")
    return value


class _Opener:
    """Opens values for one SealedSecret, telling a wrong scope apart from a wrong key."""

    def __init__(self, open_value: OpenValue, scope: Scope, namespace: str, name: str) -> None:
        self.open_value = open_value
        self.scope = scope
        self.namespace = namespace
        self.name = name
        self.label = label_for(scope, namespace, name)

    def open(self, where: str, ciphertext: bytes, failures: _Failures) -> bytes | None:
        try:
            return self.open_value(ciphertext, self.label)
        except NoMatchingKey:
            other = self.other_scope(ciphertext)
            if other is None:
                failures.add("NoMatchingKey", f"{where}: no key could decrypt secret")
            else:
                failures.add(
                    "ScopeMismatch",
                    f"{where}: sealed with scope {other.value}, but the SealedSecret's "
                    f"annotations select scope {self.scope.value}",
                )
        except UnsealError as exc:
            failures.add("InvalidSealedSecret", f"{where}: {exc}")
        return None

    def other_scope(self, ciphertext: bytes) -> Scope | None:
        for scope in Scope:
            label = label_for(scope, self.namespace, self.name)
            if scope is self.scope or label == self.label:
                continue
            try:
                self.open_value(ciphertext, label)
            except UnsealError:
                continue
            return scope
        return None


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _template_metadata(template: Mapping[str, Any]) -> dict[str, Any]:
    metadata = _mapping(template.get("metadata"), "spec.template.metadata")
    for field in ("labels", "annotations"):
        _mapping(metadata.get(field), f"spec.template.metadata.{field}", strings=True)
    return {k: copy.deepcopy(v) for k, v in metadata.items() if k in _OBJECT_META}


def _from_encrypted_data(
    spec: Mapping[str, Any], opener: _Opener, failures: _Failures
) -> dict[str, Any]:
    template = _mapping(spec.get("template"), "spec.template")
    templates = _mapping(template.get("data"), "spec.template.data", strings=True)
    encrypted = _mapping(spec.get("encryptedData"), "spec.encryptedData", strings=True)
    secret: dict[str, Any] = {"metadata": _template_metadata(template)}
    secret_type = template.get("type")
    if secret_type is not None and not isinstance(secret_type, str):
        raise _invalid("spec.template.type: must be a string")
    if secret_type:
        secret["type"] = secret_type
    immutable = template.get("immutable")
    if immutable is not None and not isinstance(immutable, bool):
        raise _invalid("spec.template.immutable: must be true or false")
    if immutable is not None:
        secret["immutable"] = immutable
    data: dict[str, bytes] = {}
    values: dict[str, bytes] = {}
    for key in sorted(encrypted):
        where = f"encryptedData item {key!r}"
        try:
            ciphertext = decode_value(encrypted[key], key)
        except SealedValueNotBase64 as exc:
            failures.add("InvalidSealedSecret", str(exc))
            continue
        plaintext = opener.open(where, ciphertext, failures)
        data[key] = values[key] = plaintext if plaintext is not None else b""
    for key in sorted(templates):
        try:
            data[key] = render_template(key, templates[key], values)
        except TemplateError as exc:
            failures.add("TemplateError", f"template data {key!r}: {exc}")
    secret["data"] = {key: _b64(data[key]) for key in sorted(data)}
    return secret


def _from_legacy_data(blob: Any, opener: _Opener, failures: _Failures) -> dict[str, Any]:
    if not isinstance(blob, str):
        raise _invalid("spec.data: must be a base64 string")
    try:
        ciphertext = base64.b64decode(blob.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("spec.data: not standard base64") from None
    plaintext = opener.open("spec.data", ciphertext, failures)
    failures.raise_if_any()
    assert plaintext is not None
    try:
        secret = parse_v1_secret(plaintext)
    except ObjectDecodeError as exc:
        raise _invalid(str(exc)) from None
    metadata = _mapping(secret.get("metadata"), "spec.data: the sealed Secret's metadata")
    out: dict[str, Any] = {k: secret[k] for k in _SECRET_FIELDS if k in secret}
    out["metadata"] = {k: v for k, v in metadata.items() if k in _OBJECT_META}
    data = _mapping(secret.get("data"), "spec.data: the sealed Secret's data", strings=True)
    try:
        out["data"] = {k: _b64(base64.b64decode(v, validate=True)) for k, v in data.items()}
    except (binascii.Error, ValueError):
        raise _invalid("spec.data: the sealed Secret's data is not base64") from None
    return out


def unseal_sealed_secret(
    obj: Mapping[str, Any], open_value: OpenValue, *, accept_deprecated_v1_data: bool = True
) -> dict[str, Any]:
    """The Secret manifest (``data`` as base64 text) a SealedSecret object stands for.

    ``open_value(ciphertext, label)`` opens one value (e.g. ``KeyRing.open``). Raises
    :class:`~sealbox.errors.UnsealFailed` with ``reason`` ``NoMatchingKey``, ``ScopeMismatch``,
    ``TemplateError`` or ``InvalidSealedSecret``; nothing is returned unless every item and
    template succeeded. ``accept_deprecated_v1_data`` is upstream's
    ``--accept-deprecated-v1-data`` (default true there too).
    """
    metadata = _mapping(obj.get("metadata"), "metadata")
    name, namespace = metadata.get("name", ""), metadata.get("namespace", "")
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise _invalid("metadata.name and metadata.namespace must be strings")
    annotations = _mapping(metadata.get("annotations"), "metadata.annotations", strings=True)
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise _invalid("spec: must be an object")
    opener = _Opener(open_value, scope_from_annotations(annotations), namespace, name)
    failures = _Failures()
    if spec.get("data") is None:
        secret = _from_encrypted_data(spec, opener, failures)
    elif not accept_deprecated_v1_data:
        raise _invalid(
            "using deprecated 'data' field, use 'encryptedData' or flip the feature flag"
        )
    elif _mapping(spec.get("encryptedData"), "spec.encryptedData"):
        raise _invalid(
            "cannot use the field 'encryptedData' and the deprecated field 'data' at the same time"
        )
    else:
        secret = _from_legacy_data(spec["data"], opener, failures)
    failures.raise_if_any()
    secret["metadata"]["name"] = name
    secret["metadata"]["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Secret", **secret}
