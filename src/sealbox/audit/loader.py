"""Read manifests from files, directories and stdin, keeping the line every mapping starts on.

What is accepted: YAML streams (documents split on ``---`` lines the way ``kubectl`` splits
them, so one broken document does not hide the ones after it), JSON files, and ``*List`` kinds
(``v1/List``, ``SecretList``, ...), whose items become manifests of their own. Directories are
walked recursively for ``*.yaml``, ``*.yml`` and ``*.json``, skipping hidden directories.

Config files are recognised by kind among the manifests: an ``EncryptionConfiguration`` (or the
legacy ``EncryptionConfig`` of ``v1``) and an ``audit.k8s.io`` ``Policy`` are kept as
:class:`ConfigDocument` (the document's own text and first line), for the engine to audit exactly
as the file named by ``--encryption-config`` or ``--audit-policy``. Audit logs are not looked for:
they are JSON lines in ``.log`` or ``.gz`` files, which are not walked.

What is reported instead of read (as :class:`InputProblem`, and the scan goes on): unreadable
files, files over ``max_bytes``, binary files, malformed YAML or JSON, documents that are not
mappings, mappings without ``kind``/``apiVersion`` (except Helm values files, which are kept as
:class:`ValuesDocument`). Kinds the audit does not know were read fine and are not problems: they
are listed once per kind as :class:`NotAudited` (``LoadResult.not_audited``), for the report.
Custom resources that hold pod specs (found by :mod:`sealbox.audit.custom_workloads`) are
kept and audited like workloads.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from sealbox.audit.custom_workloads import pod_specs
from sealbox.audit.model import InputProblem, Location, Manifest, NotAudited
from sealbox.yamldoc import YamlMapping, error_line, load_yaml

__all__ = [
    "AUDIT_POLICY",
    "DEFAULT_MAX_BYTES",
    "ENCRYPTION_CONFIG",
    "IGNORE_FILE",
    "KNOWN_KINDS",
    "STDIN",
    "SUFFIXES",
    "ConfigDocument",
    "LoadResult",
    "ValuesDocument",
    "config_role",
    "is_values_file",
    "load_paths",
    "load_text",
]

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
IGNORE_FILE = ".sealbox-ignore.yaml"
STDIN = "<stdin>"  # the file name of what was read from stdin
SUFFIXES = (".yaml", ".yml", ".json")
ENCRYPTION_CONFIG = "EncryptionConfiguration"
AUDIT_POLICY = "audit policy"
_CONFIG_KINDS = frozenset({"EncryptionConfiguration", "EncryptionConfig", "Policy"})
_DOC_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$")
_VALUES_NAME = re.compile(r"(^|[-_.])values([-_.][^/]*)?\.ya?ml$", re.IGNORECASE)
_BINARY_PROBE = 8192
_KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
_KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"

# Kinds some control reads, plus built-in and common kinds that hold nothing the audit checks.
# Anything else is listed once per kind as "not audited", so a typo in `kind:` is visible.
WORKLOAD_KINDS = frozenset(
    {
        "Pod",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicaSet",
        "ReplicationController",
        "PodTemplate",
    }
)
RBAC_KINDS = frozenset(
    {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount"}
)
KNOWN_KINDS = (
    WORKLOAD_KINDS
    | RBAC_KINDS
    | frozenset(
        {
            "Secret",
            "ConfigMap",
            "SealedSecret",
            "ExternalSecret",
            "SecretStore",
            "ClusterSecretStore",
            "Namespace",
            "Service",
            "Endpoints",
            "EndpointSlice",
            "Ingress",
            "IngressClass",
            "NetworkPolicy",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "StorageClass",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "PriorityClass",
            "LimitRange",
            "ResourceQuota",
            "CustomResourceDefinition",
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "APIService",
            "Lease",
            "Node",
            "RuntimeClass",
            "CSIDriver",
            "VolumeAttachment",
            "CertificateSigningRequest",
            "Kustomization",
            "Config",  # a kubeconfig file (v1): audited for committed credentials
            "Policy",  # Kyverno's; an audit.k8s.io Policy is a ConfigDocument
        }
    )
)


@dataclass(frozen=True, slots=True)
class ValuesDocument:
    """A Helm values file (a mapping without ``kind``, in a file named like ``values*.yaml``)."""

    body: Mapping[str, Any]
    location: Location


@dataclass(frozen=True, slots=True)
class ConfigDocument:
    """A config found among the manifests: ``role`` is :data:`ENCRYPTION_CONFIG` or
    :data:`AUDIT_POLICY`; ``text`` is the document alone, whose first line is line
    ``line_offset + 1`` of the file; ``location`` is where its mapping starts."""

    role: str
    location: Location
    text: str
    line_offset: int = 0


@dataclass(slots=True)
class LoadResult:
    """Everything read from the inputs, in input order (``directories``: how many were walked)."""

    manifests: list[Manifest] = field(default_factory=list)
    values: list[ValuesDocument] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    configs: list[ConfigDocument] = field(default_factory=list)
    files: int = 0
    directories: int = 0
    not_audited: list[NotAudited] = field(default_factory=list)

    def extend(self, other: LoadResult) -> None:
        self.manifests.extend(other.manifests)
        self.values.extend(other.values)
        self.problems.extend(other.problems)
        self.configs.extend(other.configs)
        self.not_audited.extend(other.not_audited)
        self.files += other.files
        self.directories += other.directories


def config_role(kind: str, api_version: str) -> str | None:
    """What a document is audited as if it is a config file rather than an API object."""
    if kind == "EncryptionConfiguration" or (kind == "EncryptionConfig" and api_version == "v1"):
        return ENCRYPTION_CONFIG
    if kind == "Policy" and api_version.startswith("audit.k8s.io/"):
        return AUDIT_POLICY
    return None


def _is_kustomization(path: str) -> bool:
    """A kustomize file, which may leave out ``kind`` and ``apiVersion``: a Kustomization like
    any other (nothing to audit in it), not a document that could not be read."""
    return os.path.basename(path) in _KUSTOMIZATION_FILES


def is_values_file(path: str) -> bool:
    """True for ``values.yaml``, ``values-prod.yaml``, ``prod.values.yml`` and the like."""
    return bool(_VALUES_NAME.search(os.path.basename(path)))


def load_paths(
    paths: Sequence[str],
    *,
    stdin: TextIO | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> LoadResult:
    """Load every manifest under ``paths`` (``-`` is stdin). Never raises for bad content."""
    result = LoadResult()
    for raw in paths:
        if raw == "-":
            stream = stdin if stdin is not None else sys.stdin
            result.extend(load_text(stream.read(), STDIN))
            continue
        path = Path(raw)
        if path.is_dir():
            for file in _walk(path, result):
                result.extend(_load_file(file, max_bytes))
        elif path.exists():
            result.extend(_load_file(path, max_bytes))
        else:
            result.problems.append(InputProblem(Location(raw), "no such file or directory"))
    # Custom resources that hold pod specs (Argo Rollouts, RayClusters, ...) are audited too.
    audited = {id(m) for m in result.manifests if m.kind in KNOWN_KINDS or pod_specs(m)}
    result.not_audited.extend(_unknown_kinds(m for m in result.manifests if id(m) not in audited))
    result.manifests = [m for m in result.manifests if id(m) in audited]
    return result


def load_text(text: str, path: str) -> LoadResult:
    """Parse one file's text (YAML stream or JSON); ``path`` is only used in locations."""
    result = LoadResult(files=1)
    looks_json = path.endswith(".json") or text.lstrip().startswith(("{", "["))
    if looks_json and _load_json(text, path, result):
        return result
    for offset, chunk in _documents(text):
        _load_yaml_document(chunk, offset, path, result)
    return result


def _walk(root: Path, result: LoadResult) -> Iterator[Path]:
    """The manifest files under ``root``; a directory that cannot be listed is a problem."""

    def unreadable(exc: OSError) -> None:
        where = Location(str(exc.filename or root))
        result.problems.append(InputProblem(where, f"cannot read directory: {exc.strerror}"))

    for directory, dirnames, filenames in os.walk(root, onerror=unreadable):
        result.directories += 1
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(SUFFIXES) and name != IGNORE_FILE:
                yield Path(directory, name)


def _load_file(path: Path, max_bytes: int) -> LoadResult:
    where = Location(str(path))
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return _problem(where, f"skipped: {size} bytes is over the {max_bytes}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        return _problem(where, f"cannot read: {exc.strerror or exc}")
    if b"\x00" in data[:_BINARY_PROBE]:
        return _problem(where, "skipped: binary file (NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _problem(where, f"skipped: not UTF-8 text (invalid byte at offset {exc.start})")
    return load_text(text, str(path))


def _problem(where: Location, message: str) -> LoadResult:
    return LoadResult(problems=[InputProblem(where, message)], files=1)


def _documents(text: str) -> Iterator[tuple[int, str]]:
    """Split a YAML stream on ``---`` lines; yield (line offset, document text)."""
    start = 0
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        # startswith first: most lines are not separators, and it is much cheaper than the regex
        if line.startswith("---") and _DOC_SEPARATOR.match(line.rstrip("\r\n")):
            if index > start:
                yield start, "".join(lines[start:index])
            start = index + 1
    if start < len(lines):
        yield start, "".join(lines[start:])


def _load_yaml_document(chunk: str, offset: int, path: str, result: LoadResult) -> None:
    try:
        document = load_yaml(chunk, line_offset=offset)
    except yaml.YAMLError as exc:
        found = error_line(exc)
        last = offset + max(1, chunk.rstrip().count("\n") + 1)  # not past the document's end
        line = min(offset + found, last) if found else offset + 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        result.problems.append(InputProblem(Location(path, line), f"malformed YAML: {problem}"))
        return
    if document is None:
        return
    where = Location(path, _line(document) or offset + 1)
    _add_document(document, where, result, (chunk, offset))


def _load_json(text: str, path: str, result: LoadResult) -> bool:
    """Parse JSON with line numbers (via the YAML parser) or without; False if it is not JSON."""
    try:
        document = load_yaml(text)
    except yaml.YAMLError:
        document = None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            if path.endswith(".json"):
                where = Location(path, exc.lineno)
                result.problems.append(InputProblem(where, f"malformed JSON: {exc.msg}"))
                return True
            return False
    if document is not None:
        _add_document(document, Location(path, _line(document) or 1), result, (text, 0))
    return True


def _line(node: object) -> int:
    """The line a parsed mapping starts on; 0 for anything else (and for JSON read by json)."""
    return node.line if isinstance(node, YamlMapping) else 0


def _add_document(
    document: object, where: Location, result: LoadResult, source: tuple[str, int] | None = None
) -> None:
    """Add one parsed document; ``source`` is its text and line offset (None for a List item)."""
    if not isinstance(document, Mapping):
        what = type(document).__name__
        result.problems.append(InputProblem(where, f"not a Kubernetes object (a YAML {what})"))
        return
    kind, api_version = document.get("kind"), document.get("apiVersion")
    if kind is None and api_version is None and _is_kustomization(where.path):
        kind, api_version = "Kustomization", _KUSTOMIZE_API  # what kustomize assumes
    if not isinstance(kind, str) or not kind or not isinstance(api_version, str):
        if is_values_file(where.path):
            result.values.append(ValuesDocument(document, where))
        else:
            message = "not a Kubernetes object (no kind/apiVersion); not audited"
            result.problems.append(InputProblem(where, message))
        return
    role = config_role(kind, api_version) if kind in _CONFIG_KINDS else None
    if role is not None:
        if source is None:
            message = f"an {role} inside a List is not audited; give it a file of its own"
            result.problems.append(InputProblem(where, message))
        else:
            result.configs.append(ConfigDocument(role, where, *source))
        return
    items = document.get("items")
    if kind.endswith("List") and isinstance(items, list):
        for item in items:
            line = _line(item)
            _add_document(item, Location(where.path, line) if line else where, result)
        return
    result.manifests.append(_manifest(document, kind, api_version, where))


def _manifest(body: Mapping[str, Any], kind: str, api_version: str, where: Location) -> Manifest:
    meta = body.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name") or meta.get("generateName") or ""
    namespace = meta.get("namespace")
    return Manifest(
        body=body,
        location=where,
        kind=kind,
        api_version=api_version,
        name=str(name),
        namespace=str(namespace) if namespace not in (None, "") else None,
    )


def _unknown_kinds(manifests: Iterable[Manifest]) -> list[NotAudited]:
    counts: Counter[str] = Counter()
    first: dict[str, Location] = {}
    for manifest in manifests:
        if manifest.kind not in KNOWN_KINDS:
            counts[manifest.kind] += 1
            first.setdefault(manifest.kind, manifest.location)
    return [NotAudited(kind, count, first[kind]) for kind, count in sorted(counts.items())]
