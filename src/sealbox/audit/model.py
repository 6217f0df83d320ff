"""The audit's vocabulary: controls, findings, input problems and the manifests they point at.

Every check module declares its :class:`Control` objects in a module-level ``CONTROLS`` tuple and
yields :class:`Finding` objects. A finding names one control, one place (file and 1-based line)
and, when it is about a Kubernetes object, that object. Its message names objects, fields and key
*names* only: no check ever copies a value out of a Secret, ConfigMap, env var or Helm values file
into a finding, because reports end up in CI logs and code-scanning UIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = [
    "AuditReport",
    "Control",
    "Finding",
    "InputProblem",
    "Location",
    "Manifest",
    "NotAudited",
    "ObjectRef",
    "Severity",
    "Suppressed",
]


class Severity(IntEnum):
    """Ordered so that ``finding.severity >= threshold`` reads naturally."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}; choose one of {choices}") from None


@dataclass(frozen=True, slots=True)
class Control:
    """One thing the audit checks, documented once and referenced by every finding it raises.

    ``mappings`` lists the closest control of other tools (``"kubescape C-0207"``,
    ``"checkov CKV_K8S_35"``, ``"kube-bench 5.4.1"``); empty when no tool has one.
    """

    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    mappings: tuple[str, ...] = ()

    @property
    def area(self) -> str:
        return _AREAS.get(self.id[4:5], "other")


_AREAS = {
    "1": "workloads",
    "2": "manifests",
    "3": "rbac",
    "4": "encryption",
    "5": "audit-policy",
    "6": "audit-log",
}


@dataclass(frozen=True, slots=True)
class Location:
    """A file and a 1-based line (0 when the line is unknown, e.g. for stdin JSON)."""

    path: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """A Kubernetes object by kind, namespace (None when cluster-scoped or unknown) and name."""

    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed control at one place.

    ``details`` holds structured, JSON-serialisable facts for machine output (for RBAC: the subject
    and the path; for workloads: the container and the field). It must never hold a secret value.

    ``scope`` (``"cluster"`` or ``"namespace"``) and ``subject`` (the User, Group or
    ServiceAccount that holds the access, as an :class:`ObjectRef` with a namespace only for a
    ServiceAccount) say how far the finding reaches; a check that knows them sets them, and
    :mod:`sealbox.audit.ordering` infers them from the object and ``details`` otherwise.
    ``also`` lists the other files where the same finding was raised on the same object (the
    engine collapses duplicated bundles into one finding).
    """

    control: Control
    message: str
    location: Location
    obj: ObjectRef | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    scope: str | None = None
    subject: ObjectRef | None = None
    also: tuple[Location, ...] = ()

    @property
    def severity(self) -> Severity:
        return self.control.severity


@dataclass(frozen=True, slots=True)
class InputProblem:
    """An input the audit could not (fully) read: malformed YAML, binary data, a huge file, ..."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True, slots=True)
class NotAudited:
    """A kind no control reads, read without trouble: how many objects, and where the first is.

    Not an :class:`InputProblem` (nothing failed to load); the report lists these so that a typo
    in ``kind:`` or a custom resource the audit skips is visible."""

    kind: str
    objects: int
    location: Location

    def __str__(self) -> str:
        many = "object" if self.objects == 1 else "objects"
        return f"kind {self.kind} ({self.objects} {many}, first at {self.location})"


@dataclass(frozen=True, slots=True)
class Manifest:
    """One Kubernetes object from the inputs (``List`` items are unpacked into their own entries).

    ``body`` is the parsed object. Its mappings are :class:`sealbox.yamldoc.YamlMapping`
    instances, so :meth:`at` gives the place a nested mapping (a container, an env entry, a rule)
    starts on. ``namespace`` is ``metadata.namespace`` as written (None when absent).
    """

    body: Mapping[str, Any]
    location: Location
    kind: str
    api_version: str
    name: str
    namespace: str | None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.kind, self.namespace, self.name)

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, Mapping) else {}

    @property
    def annotations(self) -> Mapping[str, Any]:
        annotations = self.metadata.get("annotations")
        return annotations if isinstance(annotations, Mapping) else {}

    def at(self, node: object) -> Location:
        """The location of a nested mapping of ``body`` (the object's own line if unknown)."""
        line = getattr(node, "line", 0)
        return Location(self.location.path, line) if line else self.location


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A finding a user chose to accept, and where that choice was written down."""

    finding: Finding
    reason: str
    source: str  # "annotation sealbox.io/ignore" or ".sealbox-ignore.yaml:12"


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The whole result of one ``sealbox audit`` run, ready for any output format.

    ``findings`` are sorted by :func:`sealbox.audit.ordering.order_key` (severity, blast radius,
    file, line).
    ``sections`` carries extra, JSON-serialisable summaries keyed by name (``"inputs"``: what each
    input was audited as; ``"auditLog"``: reads per identity, ...), which the table and HTML
    outputs render as tables of their own. ``files`` counts the files read, ``objects`` the
    Kubernetes objects audited, ``not_audited`` the kinds read but skipped. ``roots`` are the
    paths the scan was given (``-`` for stdin): reports show file names relative to them.
    """

    findings: tuple[Finding, ...]
    suppressed: tuple[Suppressed, ...]
    problems: tuple[InputProblem, ...]
    controls: tuple[Control, ...]
    fail_on: Severity | None  # None: never fail (``--fail-on never``)
    files: int = 0
    objects: int = 0
    sections: Mapping[str, Any] = field(default_factory=dict)
    not_audited: tuple[NotAudited, ...] = ()
    roots: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        threshold = self.fail_on
        if threshold is None:
            return False
        return any(finding.severity >= threshold for finding in self.findings)

    @property
    def fail_on_label(self) -> str:
        return "never" if self.fail_on is None else self.fail_on.label

    def counts(self) -> dict[Severity, int]:
        counts = dict.fromkeys(Severity, 0)
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts
