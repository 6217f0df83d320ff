"""Repository controls (SBX-2xx): credentials committed in Secret, ConfigMap and Helm values files.

* A ``v1`` Secret with ``data`` or ``stringData`` in a repository is a credential in Git history
  (base64 is an encoding, not encryption); the Kubernetes docs say not to commit Secret manifests
  (Good practices for Kubernetes Secrets). gitleaks only looks at ``data`` values of ten or more
  base64 characters. Values that are empty, Helm templates (``{{ ... }}``), substitution
  placeholders or SOPS ``ENC[...]`` are not secrets, and a file carrying SOPS metadata (a top-level
  ``sops`` key) is encrypted. SealedSecrets and ExternalSecrets are other kinds and never match.
* ConfigMaps are checked per key: a credential-like key name holding a literal, or a value
  (raw or base64-decoded) containing a credential format (:mod:`._sensitive`).
* Helm values files are walked through nested mappings and lists; a credential-like key holding
  a literal (``db.auth.password: hunter2``), a ``name``/``value`` pair with a credential-like
  name (``extraEnv``), or a string containing a credential format is flagged. References such
  as ``existingSecret`` or ``passwordSecretName`` are not.

Messages list key names and the kind of match, never a value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from sealbox.audit.checks._sensitive import credential_kinds, is_literal, is_sensitive_name
from sealbox.audit.loader import ValuesDocument
from sealbox.audit.model import Control, Finding, Location, Manifest, Severity

__all__ = ["CONFIGMAP_CREDENTIALS", "CONTROLS", "PLAINTEXT_SECRET", "VALUES_CREDENTIALS", "check"]

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

CONTROLS: tuple[Control, ...] = (PLAINTEXT_SECRET, CONFIGMAP_CREDENTIALS, VALUES_CREDENTIALS)

_MAX_DEPTH = 64


def check(manifests: Sequence[Manifest], values: Sequence[ValuesDocument]) -> Iterator[Finding]:
    """Run the repository controls over manifests and Helm values documents."""
    for manifest in manifests:
        if "sops" in manifest.body:
            continue
        if manifest.kind == "Secret" and manifest.api_version == "v1":
            yield from _secret_findings(manifest)
        elif manifest.kind == "ConfigMap" and manifest.api_version == "v1":
            yield from _configmap_findings(manifest)
    for document in values:
        if "sops" not in document.body:
            yield from _values_findings(document)


def _secret_findings(manifest: Manifest) -> Iterator[Finding]:
    for field_name in ("data", "stringData"):
        data = manifest.body.get(field_name)
        if not isinstance(data, Mapping):
            continue
        keys = [str(key) for key, value in data.items() if is_literal(value)]
        if not keys:
            continue
        how = "base64-encoded, not encrypted" if field_name == "data" else "in plain text"
        names = ", ".join(repr(key) for key in keys)
        message = f"Secret manifest holds {len(keys)} value(s) in {field_name} ({how}): {names}"
        details = {"field": field_name, "keys": keys}
        yield Finding(PLAINTEXT_SECRET, message, manifest.at(data), manifest.ref, details)


def _configmap_findings(manifest: Manifest) -> Iterator[Finding]:
    for field_name in ("data", "binaryData"):
        data = manifest.body.get(field_name)
        if not isinstance(data, Mapping):
            continue
        hits: dict[str, list[str]] = {}
        for key, value in data.items():
            reasons = _reasons(str(key), value)
            if reasons:
                hits[str(key)] = reasons
        if not hits:
            continue
        listed = "; ".join(f"{key!r} ({', '.join(reasons)})" for key, reasons in hits.items())
        message = f"ConfigMap {field_name} holds credential-like entries: {listed}"
        details = {"field": field_name, "keys": hits}
        yield Finding(CONFIGMAP_CREDENTIALS, message, manifest.at(data), manifest.ref, details)


def _reasons(name: str, value: object) -> list[str]:
    """Why ``name: value`` looks like a credential (empty when it does not)."""
    reasons = ["credential-like name"] if is_sensitive_name(name) and is_literal(value) else []
    if isinstance(value, str):
        reasons.extend(credential_kinds(value))
    return reasons


def _values_findings(document: ValuesDocument) -> Iterator[Finding]:
    for path, reasons, owner in _walk(document.body, "", document.body, 0):
        line = getattr(owner, "line", 0) or document.location.line
        message = f"Helm values key {path!r} holds a literal credential: {', '.join(reasons)}"
        details = {"key": path, "reasons": reasons}
        location = Location(document.location.path, line)
        yield Finding(VALUES_CREDENTIALS, message, location, None, details)


def _walk(
    node: object, path: str, owner: object, depth: int
) -> Iterator[tuple[str, list[str], object]]:
    """(key path, reasons, nearest mapping) for every credential-like leaf under ``node``."""
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
    if pair and is_literal(node["value"]):
        yield _join(path, "value"), [f"credential-like name {pair_name!r}"], node
    for key, value in node.items():
        child = _join(path, str(key))
        if isinstance(value, Mapping | list):
            yield from _walk(value, child, value if isinstance(value, Mapping) else node, depth + 1)
        elif not (pair and key == "value"):  # a pair's value was judged by the pair's name
            reasons = _reasons(str(key), value)
            if reasons:
                yield child, reasons, node


def _join(path: str, key: str) -> str:
    part = f'["{key}"]' if "." in key or not key or " " in key else key
    if not path:
        return part
    return f"{path}{part}" if part.startswith("[") else f"{path}.{part}"
