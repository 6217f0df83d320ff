"""Credentials in the two client-side files a repository commits beside its manifests.

* A kubeconfig file (``apiVersion: v1``, ``kind: Config``) whose users carry a token, client key
  or password is SBX-206, as a kubeconfig inside a Secret is: whoever reads the repository can
  call the API server as that user.
* A kustomize ``secretGenerator`` with ``literals`` (``password=...``) writes the value into the
  repository as surely as a Secret manifest does: SBX-201 on the Secret it generates (named as
  kustomize names it before the hash suffix), SBX-204 for placeholders; usernames alone and
  references are not values. ``envs`` and ``files`` name other files, which are not read here.

Values are never printed: findings name the keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from sealbox.audit.checks._kubecreds import kubeconfig_labels
from sealbox.audit.checks._placeholders import placeholder_finding
from sealbox.audit.checks._sensitive import ValueKind, classify_value, is_username_name
from sealbox.audit.checks._token_secrets import KUBE_CREDENTIALS
from sealbox.audit.model import Control, Finding, Manifest, ObjectRef

__all__ = ["committed_config_findings"]

_SECRET_VALUES = (ValueKind.LITERAL, ValueKind.NUMBER, ValueKind.STRUCTURE)


def committed_config_findings(manifest: Manifest, plaintext: Control) -> Iterator[Finding]:
    """SBX-206 for a kubeconfig file with credentials; ``plaintext`` (SBX-201) for each
    secretGenerator with literal values."""
    if manifest.kind == "Config" and manifest.api_version == "v1":
        labels = kubeconfig_labels(manifest.body)
        if labels:
            message = f"kubeconfig file holds Kubernetes API credentials: {'; '.join(labels)}"
            details = {"field": "users", "credentials": labels}
            yield Finding(KUBE_CREDENTIALS, message, manifest.location, None, details)
    elif manifest.kind == "Kustomization":
        generators = manifest.body.get("secretGenerator")
        for generator in generators if isinstance(generators, list) else ():
            if isinstance(generator, Mapping):
                yield from _generator_findings(manifest, generator, plaintext)


def _generator_findings(
    manifest: Manifest, generator: Mapping[str, object], plaintext: Control
) -> Iterator[Finding]:
    literals = generator.get("literals")
    if not isinstance(literals, list):
        return
    values: list[str] = []
    placeholders: list[str] = []
    for entry in literals:
        key, sep, value = str(entry).partition("=")
        if not sep or is_username_name(key):
            continue
        kind = classify_value(value)
        if kind in _SECRET_VALUES:
            values.append(key)
        elif kind is ValueKind.PLACEHOLDER:
            placeholders.append(key)
    name = generator.get("name")
    namespace = generator.get("namespace") or manifest.body.get("namespace")
    secret = ObjectRef(
        "Secret",
        namespace if isinstance(namespace, str) else None,
        name if isinstance(name, str) else "?",
    )
    at = manifest.at(generator)
    if values:
        names = ", ".join(repr(key) for key in values)
        message = (
            f"kustomize secretGenerator {secret.name!r} commits {len(values)} literal "
            f"value(s) in plain text: {names}"
        )
        details = {"field": "secretGenerator.literals", "keys": values}
        yield Finding(plaintext, message, at, secret, details)
    if placeholders:
        where = f"kustomize secretGenerator {secret.name!r}"
        yield placeholder_finding(None, where, placeholders, at)
