"""One way one subject can read one Secret: the record ``who_can_read`` returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sealbox.audit.rbac.capabilities import Link
from sealbox.audit.rbac.graph import Identity

__all__ = ["ReadAccess"]


@dataclass(frozen=True, slots=True)
class ReadAccess:
    """One way one subject can read one Secret.

    ``how`` is the first step the subject takes (``get``, ``list``, ``create pods``,
    ``pods/exec``, ``impersonate users``, ...), ``reads`` the step that finally reveals the
    value (equal to ``how`` for a path of one step), ``via`` the identities acted as on the
    way, and ``chain`` every binding and rule used, in order. ``workloads`` names the input's
    workloads whose pods hold the Secret (exec and nodes/proxy paths).
    """

    subject_kind: str
    subject_name: str
    subject_namespace: str | None
    how: str
    reads: str
    direct: bool
    scope: str
    family: str
    chain: tuple[Link, ...]
    via: tuple[str, ...] = ()
    workloads: tuple[str, ...] = ()
    note: str = ""

    @property
    def identity(self) -> Identity:
        return Identity(self.subject_kind, self.subject_name, self.subject_namespace or "")

    @property
    def subject(self) -> str:
        return str(self.identity)

    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.subject_kind,
            self.subject_namespace or "",
            self.subject_name,
            not self.direct,
            self.family,
            self.how,
            self.reads,
            self.scope,
            self.via,
            tuple(str(link) for link in self.chain),
        )

    def as_dict(self) -> dict[str, Any]:
        subject: dict[str, Any] = {"kind": self.subject_kind, "name": self.subject_name}
        if self.subject_namespace is not None:
            subject["namespace"] = self.subject_namespace
        return {
            "subject": subject,
            "how": self.how,
            "reads": self.reads,
            "direct": self.direct,
            "scope": self.scope,
            "family": self.family,
            "via": list(self.via),
            "chain": [link.as_dict() for link in self.chain],
            "workloads": list(self.workloads),
            "note": self.note,
        }
