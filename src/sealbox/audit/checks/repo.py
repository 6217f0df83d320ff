"""Repository controls (SBX-2xx): credentials committed in Secret, ConfigMap and Helm values files.

* A ``v1`` Secret with ``data`` or ``stringData`` in a repository is a credential in Git history
  (base64 is an encoding, not encryption); the Kubernetes docs say not to commit Secret manifests
  (Good practices for Kubernetes Secrets). gitleaks only looks at ``data`` values of ten or more
  base64 characters. ``data`` values are judged decoded (:mod:`._values`): values that are empty,
  booleans, Helm templates (``{{ ... }}``), substitution placeholders, SOPS ``ENC[...]`` or only
  public PEM blocks (certificates, DH parameters) are not secrets, nor is a username alone; a
  file carrying SOPS metadata (a top-level ``sops`` key) is encrypted. SealedSecrets and
  ExternalSecrets are other kinds and never match.
* ConfigMaps are checked per key: a credential-like key name holding a literal, or a value
  (raw or base64-decoded) containing a credential format (:mod:`._sensitive`).
* Helm values files are walked through nested mappings and lists; a credential-like key holding
  a literal (``db.auth.password: hunter2``), a ``name``/``value`` pair with a credential-like
  name (``extraEnv``), or a string containing a credential format is flagged. References such
  as ``existingSecret`` or ``passwordSecretName`` are not.
* A well-known placeholder or default (``changeme``, ``<password>``, ``xxx``) under a
  credential-like name, in any of these or in a container's env, is a low note (SBX-204)
  instead: not a leak, but a credential that is guessable if deployed unchanged.
* A Secret of type ``kubernetes.io/service-account-token`` asks the token controller for a
  token that never expires (SBX-205), reported even without data since the controller fills it.
* A service-account JWT, kubeconfig or Argo CD cluster credentials in a Secret or ConfigMap
  value are API credentials (SBX-206, critical, :mod:`._kubecreds`), reported as such instead
  of as generic values: SBX-201/202 then list only the object's other credential keys.

Messages list key names and the kind of match, never a value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping, Sequence

from sealbox.audit.checks._committed_configs import committed_config_findings
from sealbox.audit.checks._kubecreds import kube_credentials
from sealbox.audit.checks._placeholders import (
    PLACEHOLDER_CREDENTIAL,
    env_placeholder_findings,
    has_placeholder,
    placeholder_finding,
)
from sealbox.audit.checks._sensitive import (
    ValueKind,
    classify_value,
    credential_kinds,
    decode_base64,
    is_sensitive_name,
    is_username_name,
    name_judgement,
)
from sealbox.audit.checks._token_secrets import (
    KUBE_CREDENTIALS,
    LEGACY_TOKEN_SECRET,
    LEGACY_TYPE,
    api_finding,
    token_secret_findings,
)
from sealbox.audit.loader import ValuesDocument
from sealbox.audit.model import Control, Finding, Location, Manifest, Severity

__all__ = [
    "CONFIGMAP_CREDENTIALS",
    "CONTROLS",
    "KUBE_CREDENTIALS",
    "LEGACY_TOKEN_SECRET",
    "PLACEHOLDER_CREDENTIAL",
    "PLAINTEXT_SECRET",
    "VALUES_CREDENTIALS",
    "check",
]

PLAINTEXT_SECRET = Control(
    id="SBX-201",
    title="Plaintext Secret manifest committed",
    severity=Severity.HIGH,
    rationale=(
        "Secret data is only base64-encoded, so a committed Secret manifest puts the values in Git "
        "history for everyone with read access; the Kubernetes docs say to avoid sharing Secret "
        "manifests (https://kubernetes.io/docs/concepts/security/secrets-good-practices/)."
    ),
    remediation=(
        "Replace the manifest with a SealedSecret, a SOPS-encrypted file or an ExternalSecret "
        "that syncs from a secret store; rotate the values, they stay in the history."
    ),
    mappings=("gitleaks kubernetes-secret-yaml",),
)
CONFIGMAP_CREDENTIALS = Control(
    id="SBX-202",
    title="Credentials stored in a ConfigMap",
    severity=Severity.HIGH,
    rationale=(
        "ConfigMaps provide no secrecy or encryption "
        "(https://kubernetes.io/docs/concepts/configuration/configmap/), are not guarded like "
        "Secrets by RBAC or audit policies, and their values are readable by many roles (kubescape "
        "C-0012, Trivy KSV-0109)."
    ),
    remediation=(
        "Move the credential into a Secret (sealed or synced from a secret store), reference it "
        "from the workload, and rotate it."
    ),
    mappings=("kubescape C-0012", "Trivy KSV-0109", "Polaris sensitiveConfigmapContent"),
)
VALUES_CREDENTIALS = Control(
    id="SBX-203",
    title="Literal credential in a Helm values file",
    severity=Severity.HIGH,
    rationale=(
        "Charts render values such as auth.password into Secrets, so a literal in a committed "
        "values file is a plaintext Secret in Git by another name."
    ),
    remediation=(
        "Point the chart at an existing Secret (existingSecret and similar values), or keep "
        "the values file encrypted (helm-secrets/SOPS); rotate the credential."
    ),
)

CONTROLS: tuple[Control, ...] = (
    PLAINTEXT_SECRET,
    CONFIGMAP_CREDENTIALS,
    VALUES_CREDENTIALS,
    PLACEHOLDER_CREDENTIAL,
    LEGACY_TOKEN_SECRET,
    KUBE_CREDENTIALS,
)

_MAX_DEPTH = 64
_SECRET_VALUES = (ValueKind.LITERAL, ValueKind.NUMBER, ValueKind.STRUCTURE)


def check(manifests: Sequence[Manifest], values: Sequence[ValuesDocument]) -> Iterator[Finding]:
    """Run the repository controls over manifests and Helm values documents."""
    for manifest in manifests:
        if "sops" in manifest.body:
            continue
        if manifest.kind == "Secret" and manifest.api_version == "v1":
            yield from token_secret_findings(manifest)
            yield from _secret_findings(manifest)
        elif manifest.kind == "ConfigMap" and manifest.api_version == "v1":
            yield from _configmap_findings(manifest)
        elif manifest.kind in ("Config", "Kustomization"):
            yield from committed_config_findings(manifest, PLAINTEXT_SECRET)
        else:
            yield from env_placeholder_findings(manifest)
    for document in values:
        if "sops" not in document.body:
            yield from _values_findings(document)


def _secret_findings(manifest: Manifest) -> Iterator[Finding]:
    token_secret = manifest.body.get("type") == LEGACY_TYPE
    for field_name in ("data", "stringData"):
        data = manifest.body.get(field_name)
        if not isinstance(data, Mapping):
            continue
        literal: list[str] = []
        placeholders: list[str] = []
        api: dict[str, list[str]] = {}
        for raw_key, value in data.items():
            key = str(raw_key)
            if token_secret and key != "token":
                continue  # ca.crt and namespace are filled in by the controller, not secret
            text = _secret_text(value, encoded=field_name == "data")
            if text is not None and (labels := kube_credentials(text)):
                api[key] = labels
                continue  # an API credential is reported as such (critical), not as a value
            kind = classify_value(text) if text is not None else ValueKind.LITERAL
            if is_username_name(key):
                continue  # a username alone is not a secret value
            if kind in _SECRET_VALUES:
                literal.append(key)
            elif kind is ValueKind.PLACEHOLDER:
                placeholders.append(key)
        at = manifest.at(data)
        if api:
            yield api_finding(manifest, "Secret", field_name, api, at)
        if literal:
            how = "base64-encoded, not encrypted" if field_name == "data" else "in plain text"
            names = ", ".join(repr(key) for key in literal)
            message = (
                f"Secret manifest holds {len(literal)} value(s) in {field_name} ({how}): {names}"
            )
            details = {"field": field_name, "keys": literal}
            yield Finding(PLAINTEXT_SECRET, message, at, manifest.ref, details)
        if placeholders:
            yield placeholder_finding(manifest, f"Secret {field_name}", placeholders, at)


def _secret_text(value: object, *, encoded: bool) -> str | None:
    """The text of a Secret value (base64-decoded for ``data``); None for binary data."""
    if value is None or isinstance(value, list | dict):
        return ""
    text = value if isinstance(value, str) else str(value)
    if not encoded or classify_value(text) is not ValueKind.LITERAL:
        return text
    try:
        decoded = base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded if all(ch.isprintable() or ch in "\r\n\t" for ch in decoded) else None


def _configmap_findings(manifest: Manifest) -> Iterator[Finding]:
    for field_name in ("data", "binaryData"):
        data = manifest.body.get(field_name)
        if not isinstance(data, Mapping):
            continue
        hits: dict[str, list[str]] = {}
        api: dict[str, list[str]] = {}
        placeholders: list[str] = []
        for raw_key, value in data.items():
            key = str(raw_key)
            if isinstance(value, str) and (labels := _kube_labels(value)):
                api[key] = labels
                continue  # an API credential is reported as such (critical), not as a value
            reasons = _reasons(key, value)
            if reasons:
                hits[key] = reasons
            elif has_placeholder(key, value):
                placeholders.append(key)
        at = manifest.at(data)
        if api:
            yield api_finding(manifest, "ConfigMap", field_name, api, at)
        if hits:
            listed = "; ".join(f"{key!r} ({', '.join(reasons)})" for key, reasons in hits.items())
            message = f"ConfigMap {field_name} holds credential-like entries: {listed}"
            details = {"field": field_name, "keys": hits}
            yield Finding(CONFIGMAP_CREDENTIALS, message, at, manifest.ref, details)
        if placeholders:
            yield placeholder_finding(manifest, f"ConfigMap {field_name}", placeholders, at)


def _kube_labels(value: str) -> list[str]:
    labels = kube_credentials(value)
    decoded = decode_base64(value)
    if decoded is not None:
        labels += [f"{label} (base64-encoded)" for label in kube_credentials(decoded)]
    return labels


def _reasons(name: str, value: object) -> list[str]:
    """Why ``name: value`` looks like a credential (empty when it does not)."""
    judged = name_judgement(name, value)
    reasons = ["credential-like name"] if judged is ValueKind.LITERAL else []
    if isinstance(value, str):
        reasons.extend(credential_kinds(value))
    return reasons


def _values_findings(document: ValuesDocument) -> Iterator[Finding]:
    for path, reasons, owner in _walk(document.body, "", document.body, 0):
        line = getattr(owner, "line", 0) or document.location.line
        location = Location(document.location.path, line)
        if not reasons:
            where = f"Helm values key {path!r}"
            yield placeholder_finding(None, where, [path.rsplit(".", 1)[-1]], location)
            continue
        message = f"Helm values key {path!r} holds a literal credential: {', '.join(reasons)}"
        details = {"key": path, "reasons": reasons}
        yield Finding(VALUES_CREDENTIALS, message, location, None, details)


def _walk(
    node: object, path: str, owner: object, depth: int
) -> Iterator[tuple[str, list[str], object]]:
    """(key path, reasons, nearest mapping) for every credential-like leaf under ``node``;
    no reasons for a placeholder credential."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, list):
        for index, item in enumerate(node):
            if isinstance(item, Mapping | list):
                yield from _walk(item, f"{path}[{index}]", owner, depth + 1)
            elif isinstance(item, str) and (kinds := credential_kinds(item)):
                yield f"{path}[{index}]", kinds, owner
        return
    if not isinstance(node, Mapping):
        return
    pair_name = node.get("name")
    pair = isinstance(pair_name, str) and "value" in node and is_sensitive_name(pair_name)
    if pair:
        judged = name_judgement(str(pair_name), node["value"])
        if judged is ValueKind.LITERAL:
            yield _join(path, "value"), [f"credential-like name {pair_name!r}"], node
        elif judged is ValueKind.PLACEHOLDER:
            yield _join(path, "value"), [], node
    for key, value in node.items():
        child = _join(path, str(key))
        if isinstance(value, Mapping | list):
            yield from _walk(value, child, value if isinstance(value, Mapping) else node, depth + 1)
        elif not (pair and key == "value"):  # a pair's value was judged by the pair's name
            reasons = _reasons(str(key), value)
            if reasons or has_placeholder(str(key), value):
                yield child, reasons, node


def _join(path: str, key: str) -> str:
    part = f'["{key}"]' if "." in key or not key or " " in key else key
    if not path:
        return part
    return f"{path}{part}" if part.startswith("[") else f"{path}.{part}"
