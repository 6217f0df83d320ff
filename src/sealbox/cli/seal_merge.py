"""``sealbox seal --merge-into FILE``: add or replace items of an existing SealedSecret in place.

As kubeseal does, the input Secret is sealed under the name and namespace of the SealedSecret in
FILE, and its ``encryptedData`` items, template labels, template annotations and template data
are merged into it; every other item keeps its ciphertext byte for byte, so a Git diff shows
only what changed. Unlike kubeseal, the scope is checked: without ``--scope`` or a scope
annotation on the input, the file's own scope is used, and a different one is refused (the
controller opens every item with the scope of the outer annotations, so a mixed object would
never unseal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sealbox.cli.io import read_input
from sealbox.cli.seal_files import FormatChoice, documents, file_format, render, replace_file
from sealbox.errors import InputError, SealError
from sealbox.sealing import (
    CLUSTER_WIDE_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION,
    Scope,
    scope_from_annotations,
)

__all__ = ["checked_sealed_secret", "merge_into"]

Sealer = Callable[..., dict[str, Any]]
"""``seal_secret``'s shape: (document, *, scope, namespace, name) -> SealedSecret."""


def checked_sealed_secret(document: Any, where: str) -> dict[str, Any]:
    """``document`` once known to be a SealedSecret with a name; InputError naming the field."""
    if not isinstance(document, dict):
        raise InputError(f"{where}: expected a SealedSecret manifest, found a list or scalar")
    kind, api_version = document.get("kind"), document.get("apiVersion")
    if kind != "SealedSecret" or api_version != "bitnami.com/v1alpha1":
        raise InputError(
            f"{where}: kind: {kind!s}, apiVersion: {api_version!s}: expected kind: "
            "SealedSecret, apiVersion: bitnami.com/v1alpha1"
        )
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise InputError(f"{where}: metadata.name: missing; a SealedSecret names its Secret")
    spec = document.get("spec")
    if not isinstance(spec, dict):
        raise InputError(f"{where}: spec: missing or not a mapping")
    for field in ("encryptedData", "template"):
        if spec.get(field) is not None and not isinstance(spec[field], dict):
            raise InputError(f"{where}: spec.{field}: expected a mapping")
    return document


def merge_into(
    path: Path,
    secrets: list[Any],
    *,
    label: str,
    scope: Scope | None,
    output_format: FormatChoice | None,
    seal_one: Sealer,
) -> None:
    """Seal the one Secret of ``secrets`` into the SealedSecret file ``path`` (atomically).

    Raises:
        InputError: ``path`` is not one SealedSecret, or the input is not one Secret.
        SealError: the input cannot be sealed under the file's name, namespace and scope.
    """
    flag = f"--merge-into {path}"
    data = read_input(str(path), "--merge-into")
    found = documents(data, flag, "a SealedSecret")
    if len(found) != 1:
        raise InputError(f"{flag}: holds {len(found)} documents; merge into one SealedSecret")
    original = checked_sealed_secret(found[0], flag)
    if len(secrets) != 1:
        raise InputError(f"{label}: holds {len(secrets)} documents; merge one Secret at a time")
    (secret,) = secrets
    metadata = original["metadata"]
    file_scope = scope_from_annotations(_strings(metadata.get("annotations")))
    effective = scope or _own_scope(secret) or file_scope
    if effective is not file_scope:
        raise SealError(
            f"{label}: would be sealed {effective.value}, but {flag} is {file_scope.value}; "
            f"pass --scope {file_scope.value} (one SealedSecret has one scope)"
        )
    namespace = metadata.get("namespace") or None
    own = secret.get("metadata", {}).get("namespace") if isinstance(secret, Mapping) else None
    if own and namespace and own != namespace:
        raise SealError(
            f"{label}: metadata.namespace {own} differs from namespace {namespace} of {flag}; "
            "the items are sealed to the file's namespace"
        )
    try:
        update = seal_one(secret, scope=effective, namespace=namespace, name=metadata["name"])
    except SealError as exc:
        raise SealError(f"{label}: {exc}") from None
    _merge(original, update)
    text = render([original], output_format or file_format(path, data))
    replace_file(path, text.encode(), "--merge-into")


def _own_scope(secret: Any) -> Scope | None:
    """The scope the input's own annotations ask for, None when they name none."""
    if not isinstance(secret, Mapping) or not isinstance(secret.get("metadata"), Mapping):
        return None
    annotations = _strings(secret["metadata"].get("annotations"))
    if not {NAMESPACE_WIDE_ANNOTATION, CLUSTER_WIDE_ANNOTATION} & set(annotations):
        return None
    return scope_from_annotations(annotations)


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _merge(original: dict[str, Any], update: dict[str, Any]) -> None:
    """kubeseal's merge: encryptedData, template annotations, labels and data, item by item."""
    spec = original["spec"]
    new_spec = update["spec"]
    spec["encryptedData"] = _merged(spec.get("encryptedData") or {}, new_spec["encryptedData"])
    template = spec.setdefault("template", {})
    new_template = new_spec.get("template") or {}
    new_meta = new_template.get("metadata") or {}
    for field in ("labels", "annotations"):
        if new_meta.get(field):
            meta = template.setdefault("metadata", {})
            meta[field] = _merged(meta.get(field) or {}, new_meta[field])
    if new_template.get("data"):
        template["data"] = _merged(template.get("data") or {}, new_template["data"])


def _merged(old: dict[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``old`` updated by ``new``: existing items stay where they are (a small diff); new ones
    keep the map sorted when it was (Go writes maps sorted), else go at the end."""
    merged = {**old, **new}
    if list(old) == sorted(old):
        return {key: merged[key] for key in sorted(merged)}
    return merged
