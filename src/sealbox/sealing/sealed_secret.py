"""A SealedSecret document from a Secret manifest, as ``kubeseal`` writes it.

The output is the ``bitnami.com/v1alpha1`` object upstream builds (``NewSealedSecret``): the
Secret's own metadata, minus server-set fields, ``ownerReferences`` and the last-applied
annotations (they hold the plaintext), becomes ``spec.template.metadata``; ``type`` and
``immutable`` ride along; every ``data`` (base64-decoded first) and ``stringData`` item is sealed
into ``spec.encryptedData``, ``stringData`` winning a name both hold. Keys are in Go's order:
struct fields as declared, map keys sorted, so the JSON matches kubeseal's. Messages name
fields, never values.

Each value is sealed to the certificate with upstream's hybrid scheme unless the caller passes
``seal_value`` (plaintext, label -> sealed bytes): ``sealbox seal --recipients`` seals each to
several keys that way, and everything else about the document (checks, scope, template) stays
in one place.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.errors import SealError
from sealbox.sealing.encoding import encode_value
from sealbox.sealing.hybrid import seal
from sealbox.sealing.object_meta import KUBESEAL_CLEARED, OBJECT_META_FIELDS
from sealbox.sealing.scope import (
    CLUSTER_WIDE_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION,
    Scope,
    label_for,
    scope_annotations,
    scope_from_annotations,
)

__all__ = ["LAST_APPLIED_ANNOTATIONS", "SealValue", "seal_raw", "seal_secret"]

#: Seals one value: (plaintext, label) -> the sealed bytes that go, base64, in encryptedData.
SealValue = Callable[[bytes, bytes], bytes]

API_VERSION = "bitnami.com/v1alpha1"
KIND = "SealedSecret"

#: Annotations kubeseal strips from the template: they carry the whole Secret in clear (#227).
LAST_APPLIED_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
)

# ObjectMeta fields in Go's declaration order, minus the server-set ones kubeseal clears and
# ownerReferences, which it drops from the template.
_TEMPLATE_FIELDS = tuple(
    field
    for field in OBJECT_META_FIELDS
    if field not in KUBESEAL_CLEARED and field != "ownerReferences"
)
_LINE_BREAKS = str.maketrans("", "", "\r\n")


def seal_secret(
    secret: Any,
    public_key: rsa.RSAPublicKey,
    *,
    scope: Scope | None = None,
    namespace: str | None = None,
    name: str | None = None,
    allow_empty_data: bool = False,
    seal_value: SealValue | None = None,
) -> dict[str, Any]:
    """The SealedSecret for the Secret manifest ``secret``.

    ``scope`` overrides the manifest's scope annotations (None keeps them); ``namespace`` and
    ``name`` stand in for missing ``metadata`` fields (a namespace that differs from the
    manifest's is refused, as kubeseal does since v0.31). ``seal_value`` is called once per item
    with its plaintext and the scope's label; by default the value is sealed to ``public_key``.

    Raises:
        SealError: not a v1 Secret (or already sealed), a missing name or namespace the scope
            needs, a ``data`` item that is not base64, or no item at all.
    """
    meta = _checked_secret(secret)
    meta = _with_identity(meta, namespace=namespace, name=name)
    annotations = dict(_string_map(meta.get("annotations"), "metadata.annotations"))
    if scope is not None:
        annotations.pop(NAMESPACE_WIDE_ANNOTATION, None)
        annotations.pop(CLUSTER_WIDE_ANNOTATION, None)
        annotations.update(scope_annotations(scope))
    effective = scope_from_annotations(annotations)
    meta["annotations"] = annotations
    _require_namespace(effective, meta.get("namespace"))
    items = _plaintext_items(secret, allow_empty_data)
    label = label_for(effective, meta.get("namespace", ""), meta["name"])
    sealer = seal_value or _sealing_to(public_key)
    encrypted = {key: encode_value(sealer(items[key], label)) for key in sorted(items)}
    outer: dict[str, Any] = {"name": meta["name"]}
    if meta.get("namespace"):
        outer["namespace"] = meta["namespace"]
    if scope_annotations(effective):
        outer["annotations"] = scope_annotations(effective)
    template: dict[str, Any] = {"metadata": _template_metadata(meta)}
    if secret.get("type"):
        template["type"] = secret["type"]
    if secret.get("immutable") is not None:
        template["immutable"] = secret["immutable"]
    return {
        "kind": KIND,
        "apiVersion": API_VERSION,
        "metadata": outer,
        "spec": {"template": template, "encryptedData": encrypted},
    }


def seal_raw(
    public_key: rsa.RSAPublicKey,
    value: bytes,
    scope: Scope,
    namespace: str | None,
    name: str | None,
    *,
    seal_value: SealValue | None = None,
) -> str:
    """One sealed value as ``encryptedData`` text (``kubeseal --raw``); ``seal_value`` as in
    :func:`seal_secret`.

    Raises:
        SealError: strict scope without ``namespace`` and ``name``, or namespace-wide without
            ``namespace``.
    """
    if scope is not Scope.CLUSTER_WIDE and not namespace:
        raise SealError(f"--raw with --scope {scope.value} needs --namespace")
    if scope is Scope.STRICT and not name:
        raise SealError(
            "--raw with --scope strict needs --name (or seal with --scope namespace-wide or "
            "cluster-wide)"
        )
    sealer = seal_value or _sealing_to(public_key)
    return encode_value(sealer(value, label_for(scope, namespace or "", name or "")))


def _sealing_to(public_key: rsa.RSAPublicKey) -> SealValue:
    """Upstream's hybrid seal to one certificate's key."""

    def seal_to_key(plaintext: bytes, label: bytes) -> bytes:
        return seal(public_key, plaintext, label)

    return seal_to_key


def _checked_secret(secret: Any) -> dict[str, Any]:
    """The manifest's metadata, once ``secret`` is known to be a v1 Secret."""
    if not isinstance(secret, Mapping):
        raise SealError(
            f"the input is a {type(secret).__name__}, not a manifest; expected a v1 Secret"
        )
    kind, api_version = secret.get("kind"), secret.get("apiVersion")
    if kind == KIND:
        raise SealError(
            f"the input is already a SealedSecret ({api_version}); seal a v1 Secret instead"
        )
    if kind != "Secret" or api_version != "v1":
        raise SealError(
            f"kind: {kind!s}, apiVersion: {api_version!s}: expected kind: Secret, apiVersion: v1"
        )
    meta = secret.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise SealError("metadata: expected a mapping with name and namespace")
    return dict(meta)


def _with_identity(
    meta: dict[str, Any], *, namespace: str | None, name: str | None
) -> dict[str, Any]:
    """``meta`` with the name and namespace given by flag filled in."""
    own = meta.get("namespace")
    if namespace and own and own != namespace:
        raise SealError(
            f"--namespace {namespace} does not match metadata.namespace {own} of the Secret; "
            "drop one or make them equal"
        )
    if namespace and not own:
        meta["namespace"] = namespace
    if name:
        meta["name"] = name
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        raise SealError("metadata.name: missing; name the Secret or pass --name")
    if "namespace" in meta and not isinstance(meta["namespace"], str):
        raise SealError("metadata.namespace: expected a string")
    return meta


def _require_namespace(scope: Scope, namespace: str | None) -> None:
    if scope is not Scope.CLUSTER_WIDE and not namespace:
        raise SealError(
            f"metadata.namespace: missing, and --namespace not given; --scope {scope.value} "
            "binds the value to a namespace (or seal with --scope cluster-wide)"
        )


def _string_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise SealError(f"{field}: expected a map of strings to strings")
    return dict(value)


def _plaintext_items(secret: Mapping[str, Any], allow_empty: bool) -> dict[str, bytes]:
    items: dict[str, bytes] = {}
    for key, text in _string_map(secret.get("data"), "data").items():
        try:
            # Go decodes []byte fields with StdEncoding, which skips line breaks.
            items[key] = base64.b64decode(text.translate(_LINE_BREAKS), validate=True)
        except (binascii.Error, ValueError):
            raise SealError(
                f"data.{key}: not base64; put plain text under stringData instead"
            ) from None
    for key, text in _string_map(secret.get("stringData"), "stringData").items():
        items[key] = text.encode("utf-8")
    if not items and not allow_empty:
        raise SealError(
            "the Secret has neither data nor stringData; add an item or pass --allow-empty-data"
        )
    return items


def _template_metadata(meta: Mapping[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = {}
    for field in _TEMPLATE_FIELDS:
        value = meta.get(field)
        if field == "annotations" and value:
            value = {k: v for k, v in value.items() if k not in LAST_APPLIED_ANNOTATIONS}
        if isinstance(value, Mapping):
            value = {k: value[k] for k in sorted(value)}
        if value:
            template[field] = value
    return template
