"""Workload controls (SBX-1xx): how Pods and pod templates consume Secrets and their API token.

Every workload is reduced to its pod specs (:mod:`sealbox.audit.podspec` for built-in kinds,
:mod:`sealbox.audit.custom_workloads` for custom resources: Argo, Ray, Kubeflow, ...), and each
container of them (init, regular and ephemeral) is checked for Secrets passed as environment
variables, Secret values expanded into the command line, and credential-like literal env values.
The pod's Secret volumes are checked for file modes, ``readOnly`` and ``subPath`` mounts (no
scanner checks these), and the pod for a service account token it does not need or that reads
Secrets, judged against the ServiceAccounts, bindings and roles of the same input
(:mod:`._tokens`).

Findings point at the mapping that causes them (the env entry, the volume, the mount, the
container or the pod spec) and name containers, variables, Secrets and keys, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sealbox.audit.checks import _tokens
from sealbox.audit.checks._sensitive import credential_kinds, is_literal, is_sensitive_name
from sealbox.audit.checks._volumes import FILE_MODE, SUBPATH, WRITABLE_MOUNT, volume_findings
from sealbox.audit.checks.rbac import ClusterAnalyses, RbacSettings
from sealbox.audit.custom_workloads import pod_specs
from sealbox.audit.loader import KNOWN_KINDS
from sealbox.audit.model import Control, Finding, Manifest, Severity
from sealbox.audit.podspec import Container, PodSpec, as_mapping, mappings

__all__ = [
    "CONTROLS",
    "FILE_MODE",
    "LITERAL_ENV",
    "READER_TOKEN",
    "SECRET_ARGS",
    "SECRET_ENV",
    "SUBPATH",
    "TOKEN",
    "WRITABLE_MOUNT",
    "check",
]

SECRET_ENV = Control(
    id="SBX-101",
    title="Secret passed to a container as environment variables",
    severity=Severity.MEDIUM,
    rationale=(
        "Environment variables are inherited by every child process and often end up in logs and "
        "crash reports; CIS Kubernetes Benchmark 5.4.1 prefers Secrets mounted as files."
    ),
    remediation=(
        "Mount the Secret as a volume and have the application read the file "
        "(e.g. a *_FILE variable holding the path) instead of env valueFrom.secretKeyRef "
        "or envFrom.secretRef."
    ),
    mappings=("kubescape C-0207", "checkov CKV_K8S_35", "kube-bench 5.4.1"),
)
SECRET_ARGS = Control(
    id="SBX-102",
    title="Secret value expanded into a container's command line",
    severity=Severity.HIGH,
    rationale=(
        "The kubelet expands $(VAR) in command and args before starting the container "
        "(https://kubernetes.io/docs/tasks/inject-data-application/"
        "define-command-argument-container/), "
        "so a Secret-backed variable ends up in the runtime's container config and in the "
        "process's command line, readable on the node via the process list."
    ),
    remediation=(
        "Let the program read the Secret itself (from a mounted file or its environment) "
        "instead of passing it as an argument."
    ),
)
LITERAL_ENV = Control(
    id="SBX-103",
    title="Credential written as a literal env value",
    severity=Severity.HIGH,
    rationale=(
        "A credential typed into a manifest's env value is stored in Git and readable by anyone "
        "who can read the workload (kubescape C-0012, Polaris sensitiveContainerEnvVar); variables "
        "that hold a file path or a $(VAR) reference are not flagged."
    ),
    remediation=(
        "Move the value into a Secret (sealed or synced from a secret store) and mount it as a "
        "file; rotate the credential, it is in the repository history."
    ),
    mappings=("kubescape C-0012", "kubescape C-0259", "Polaris sensitiveContainerEnvVar"),
)
TOKEN = _tokens.TOKEN
READER_TOKEN = _tokens.READER_TOKEN

CONTROLS: tuple[Control, ...] = (
    SECRET_ENV,
    SECRET_ARGS,
    LITERAL_ENV,
    FILE_MODE,
    WRITABLE_MOUNT,
    SUBPATH,
    TOKEN,
    READER_TOKEN,
)

# The kubelet expands $(VAR) in command, args and env values; $$ escapes a literal $.
_EXPANSION = re.compile(r"\$\$|\$\(([^)]*)\)")


def check(
    manifests: Sequence[Manifest],
    settings: RbacSettings | None = None,
    analyses: ClusterAnalyses | None = None,
) -> Iterator[Finding]:
    """Run every workload control over ``manifests`` (all kinds; non-workloads give context).

    ``settings`` place the input in clusters and namespaces for SBX-108, as for the RBAC
    controls (``analyses``: theirs, when the RBAC check has split the input already). The pod
    specs of one object may share volumes (an Argo workflow's, a SparkApplication's): a finding
    repeated at the same place is given once.
    """
    accounts = _tokens.Accounts.from_manifests(manifests)
    readers = _tokens.TokenReaders(manifests, settings or RbacSettings(), analyses)
    for manifest in manifests:
        seen: set[tuple[str, int, str]] = set()
        for pod in pod_specs(manifest, known=KNOWN_KINDS):
            for finding in _pod_findings(pod, accounts, readers):
                key = (finding.control.id, finding.location.line, finding.message)
                if key not in seen:
                    seen.add(key)
                    yield finding


def _pod_findings(
    pod: PodSpec, accounts: _tokens.Accounts, readers: _tokens.TokenReaders
) -> Iterator[Finding]:
    for container in pod.containers():
        yield from _env_findings(pod, container)
        yield from _argument_findings(pod, container)
    yield from volume_findings(pod)
    yield from _tokens.token_findings(pod, accounts, readers)


def _finding(
    pod: PodSpec, control: Control, message: str, *, at: object, details: dict[str, Any]
) -> Finding:
    """A finding about ``pod``'s workload, located at the mapping ``at`` of its manifest."""
    return Finding(control, message, pod.manifest.at(at), pod.manifest.ref, details)


def _secret_key_ref(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    ref = as_mapping(entry.get("valueFrom")).get("secretKeyRef")
    return ref if isinstance(ref, Mapping) else None


def _env_findings(pod: PodSpec, container: Container) -> Iterator[Finding]:
    for index, entry in mappings(container.body.get("env")):
        name = str(entry.get("name") or f"#{index}")
        field = f"{container.path}.env[{index}]"
        ref = _secret_key_ref(entry)
        if ref is not None:
            secret, key = str(ref.get("name") or ""), str(ref.get("key") or "")
            message = (
                f"container {container.name!r} gets key {key!r} of Secret {secret!r} "
                f"as env var {name!r} (valueFrom.secretKeyRef)"
            )
            details = {"container": container.name, "field": f"{field}.valueFrom.secretKeyRef"}
            details |= {"env": name, "secret": secret, "key": key}
            yield _finding(pod, SECRET_ENV, message, at=entry, details=details)
        elif "value" in entry:
            yield from _literal_env(pod, container, entry, name=name, field=field)
    for index, entry in mappings(container.body.get("envFrom")):
        ref = entry.get("secretRef")
        if not isinstance(ref, Mapping):
            continue
        secret = str(ref.get("name") or "")
        prefix = entry.get("prefix")
        with_prefix = f" with prefix {prefix!r}" if isinstance(prefix, str) and prefix else ""
        message = (
            f"container {container.name!r} gets every key of Secret {secret!r} as env vars"
            f"{with_prefix} (envFrom.secretRef)"
        )
        details = {"container": container.name, "field": f"{container.path}.envFrom[{index}]"}
        details |= {"secret": secret}
        yield _finding(pod, SECRET_ENV, message, at=entry, details=details)


def _literal_env(
    pod: PodSpec, container: Container, entry: Mapping[str, Any], *, name: str, field: str
) -> Iterator[Finding]:
    value = entry.get("value")
    reasons: list[str] = []
    if is_sensitive_name(name) and is_literal(value):
        reasons.append("its name says it holds a credential")
    if isinstance(value, str):
        reasons.extend(f"the value contains {kind}" for kind in credential_kinds(value))
    if reasons:
        message = (
            f"container {container.name!r} sets env var {name!r} to a literal value: "
            + "; ".join(reasons)
        )
        details: dict[str, Any] = {"container": container.name, "env": name}
        details |= {"field": f"{field}.value", "reasons": reasons}
        yield _finding(pod, LITERAL_ENV, message, at=entry, details=details)


def _argument_findings(pod: PodSpec, container: Container) -> Iterator[Finding]:
    """SBX-102: ``$(VAR)`` in command/args where VAR is (or may be) filled from a Secret."""
    sources = _VariableSources(container.body)
    seen: set[str] = set()
    for field_name in ("command", "args"):
        items = container.body.get(field_name)
        for index, item in enumerate(items if isinstance(items, list) else ()):
            if not isinstance(item, str):
                continue
            for var in _expansions(item):
                source = None if var in seen else sources.secret_source(var)
                if source is None:
                    continue
                seen.add(var)
                message = (
                    f"container {container.name!r} expands $({var}) in its {field_name}, "
                    f"{source}: the value lands in the process list"
                )
                details = {"container": container.name, "env": var}
                details |= {"field": f"{container.path}.{field_name}[{index}]"}
                yield _finding(pod, SECRET_ARGS, message, at=container.body, details=details)


def _expansions(text: str) -> Iterator[str]:
    """The variable names ``$(NAME)`` in ``text`` refers to (``$$(NAME)`` is an escape)."""
    for match in _EXPANSION.finditer(text):
        if match.group(1) is not None:
            yield match.group(1)


class _VariableSources:
    """Which of a container's variables may hold a Secret value, and why (for messages).

    ``env`` takes precedence over ``envFrom``; an ``env`` value that expands a Secret-backed
    variable defined before it (the kubelet expands only earlier ones) is Secret-backed too. A
    variable only ``envFrom`` can supply is attributed to a Secret when a ``secretRef`` (with a
    matching prefix) could supply it, unless a ``configMapRef`` could supply it as well and the
    name does not look like a credential.
    """

    def __init__(self, container: Mapping[str, Any]) -> None:
        self.secret_from: list[tuple[str, str]] = []
        self.config_prefixes: list[str] = []
        for _, entry in mappings(container.get("envFrom")):
            prefix = entry.get("prefix")
            prefix = prefix if isinstance(prefix, str) else ""
            ref = entry.get("secretRef")
            if isinstance(ref, Mapping):
                self.secret_from.append((prefix, str(ref.get("name") or "")))
            elif isinstance(entry.get("configMapRef"), Mapping):
                self.config_prefixes.append(prefix)
        self.env: dict[str, str | None] = {}
        for _, entry in mappings(container.get("env")):
            name = entry.get("name")
            if not isinstance(name, str):
                continue
            ref = _secret_key_ref(entry)
            value = entry.get("value")
            source = None
            if ref is not None:
                source = f"which holds key {ref.get('key')!r} of Secret {ref.get('name')!r}"
            elif isinstance(value, str):
                source = next(
                    (
                        f"which expands $({inner}) {inner_source}"
                        for inner in _expansions(value)
                        if (inner_source := self.secret_source(inner)) is not None
                    ),
                    None,
                )
            self.env[name] = source  # a later duplicate wins, as in the kubelet

    def secret_source(self, var: str) -> str | None:
        if var in self.env:
            return self.env[var]
        secrets = [name for prefix, name in self.secret_from if var.startswith(prefix)]
        if not secrets:
            return None
        configs = any(var.startswith(prefix) for prefix in self.config_prefixes)
        if configs and not is_sensitive_name(var):
            return None
        names = ", ".join(repr(name) for name in secrets)
        return f"which may come from Secret {names} (envFrom.secretRef)"
