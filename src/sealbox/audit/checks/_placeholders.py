"""Placeholder and default credentials (SBX-204): ``changeme`` where a credential belongs.

A well-known stand-in under a credential-like name (:func:`._sensitive.name_judgement` says
``placeholder``) is not a leak, so it is never reported as a literal credential (SBX-103,
SBX-201..203); it is a low note, because a chart or manifest deployed unchanged runs with a
credential anyone can guess. The repository controls call :func:`placeholder_finding` for
Secrets, ConfigMaps and Helm values; :func:`env_placeholder_findings` covers container env.
"""

from __future__ import annotations

from collections.abc import Iterator

from sealbox.audit.checks._sensitive import ValueKind, name_judgement, placeholder_assignments
from sealbox.audit.model import Control, Finding, Location, Manifest, Severity
from sealbox.audit.podspec import mappings, pod_spec

__all__ = [
    "PLACEHOLDER_CREDENTIAL",
    "env_placeholder_findings",
    "has_placeholder",
    "placeholder_finding",
]

PLACEHOLDER_CREDENTIAL = Control(
    id="SBX-204",
    title="Placeholder or default credential committed",
    severity=Severity.LOW,
    rationale=(
        "A well-known stand-in or default (changeme, xxx, REPLACE_ME, INSERT_KEY_HERE, a value in "
        "angle brackets, admin, 123456) under a credential name leaks nothing, but if it is "
        "deployed unchanged the credential is one anyone can guess; it is a note, not a literal "
        "credential."
    ),
    remediation=(
        "Leave the value out of the manifest (reference a Secret, existingSecret, or a "
        "required value that fails the render when unset) so nothing can run with it."
    ),
)


def placeholder_finding(
    manifest: Manifest | None, where: str, keys: list[str], at: Location
) -> Finding:
    names = ", ".join(repr(key) for key in keys)
    message = f"{where} sets a placeholder or default credential: {names}"
    details = {"where": where, "keys": keys}
    return Finding(PLACEHOLDER_CREDENTIAL, message, at, manifest.ref if manifest else None, details)


def has_placeholder(name: str, value: object) -> bool:
    """True when ``name: value`` sets a placeholder credential (directly or in a file's text)."""
    if name_judgement(name, value) is ValueKind.PLACEHOLDER:
        return True
    return isinstance(value, str) and bool(placeholder_assignments(value))


def env_placeholder_findings(manifest: Manifest) -> Iterator[Finding]:
    """SBX-204 for container env vars with a credential-like name and a placeholder value."""
    pod = pod_spec(manifest)
    if pod is None:
        return
    for container in pod.containers():
        for _, entry in mappings(container.body.get("env")):
            name = entry.get("name")
            value = entry.get("value")
            if isinstance(name, str) and name_judgement(name, value) is ValueKind.PLACEHOLDER:
                where = f"container {container.name!r} env"
                yield placeholder_finding(manifest, where, [name], manifest.at(entry))
