"""``sealbox audit -o json``: the report as one JSON document, a public contract for scripts and CI.

The shape (keys are stable; new keys may be added, none removed or renamed without a major
version)::

    {
      "tool": "sealbox",
      "version": "0.1.0",
      "summary": {
        "total": 3,                       # unsuppressed findings
        "bySeverity": {"critical": 0, "high": 2, "medium": 1, "low": 0, "info": 0},
        "failOn": "high",                 # the --fail-on threshold
        "failed": true,                   # some finding is at or above failOn (exit code 1)
        "files": 12, "objects": 40,       # inputs read
        "suppressed": 1, "inputProblems": 0,
        "notAudited": 1,                  # kinds read but not audited
        "roots": ["deploy"]               # the paths scanned, as given ("-": stdin)
      },
      "findings": [                       # most severe first, then widest blast radius, file
        {
          "id": "SBX-101", "title": "...", "severity": "high",
          "message": "...",
          "file": "app.yaml", "line": 14, # relative to its root (see below); line 0: unknown
          "object": {"kind": "Deployment", "namespace": "prod", "name": "app"},  # or null
          "scope": "namespace",           # "cluster", "namespace" or null (unknown)
          "alsoIn": [{"file": "copy/app.yaml", "line": 14}],  # same finding, other files
          "remediation": "...",
          "details": {...}                # control-specific facts (container, subject, path...)
        }
      ],
      "suppressed": [ {... same keys as a finding ..., "reason": "...", "source": "..."} ],
      "inputProblems": [ {"file": "bad.yaml", "line": 3, "message": "..."} ],
      "notAudited": [ {"kind": "Widget", "objects": 2, "file": "crd.yaml", "line": 1} ],
      "sections": {                       # extra summaries, keyed by name
        "inputs": [{"input": "deploy", "auditedAs": "manifests", "from": "argument"}, ...],
        "auditLog": {...}
      }
    }

``yaml`` output is this same document, written as YAML.

File names are relative to the root (the scanned path) they were found under; with several
roots they start with that root's name (see :mod:`sealbox.audit.report._paths`). ``<stdin>`` and
files named by flags are written as given.

Like every report, it names objects, fields and key names and never a value: findings are built
that way (see :mod:`sealbox.audit.model`), and this module only copies them.
"""

from __future__ import annotations

from typing import Any

import sealbox
from sealbox.audit.model import (
    AuditReport,
    Finding,
    InputProblem,
    Location,
    NotAudited,
    ObjectRef,
    Suppressed,
)
from sealbox.audit.ordering import finding_scope
from sealbox.audit.report._jsonable import jsonable
from sealbox.audit.report._paths import PathDisplay
from sealbox.audit.report._severities import summary_counts

__all__ = ["to_json_dict"]


def to_json_dict(report: AuditReport) -> dict[str, Any]:
    """The report as JSON-serialisable data in the documented shape (``json.dumps`` it)."""
    shown = PathDisplay(report.roots)
    return {
        "tool": "sealbox",
        "version": sealbox.__version__,
        "summary": {
            "total": len(report.findings),
            "bySeverity": summary_counts(report),
            "failOn": report.fail_on_label,
            "failed": report.failed,
            "files": report.files,
            "objects": report.objects,
            "suppressed": len(report.suppressed),
            "inputProblems": len(report.problems),
            "notAudited": len(report.not_audited),
            "roots": list(report.roots),
        },
        "findings": [finding_dict(finding, shown) for finding in report.findings],
        "suppressed": [suppressed_dict(item, shown) for item in report.suppressed],
        "inputProblems": [problem_dict(problem, shown) for problem in report.problems],
        "notAudited": [not_audited_dict(item, shown) for item in report.not_audited],
        "sections": jsonable(report.sections),
    }


def finding_dict(finding: Finding, shown: PathDisplay | None = None) -> dict[str, Any]:
    """One finding in the JSON shape (also used for suppressed findings); ``shown`` makes file
    names relative to their root (as given without it)."""
    control = finding.control
    return {
        "id": control.id,
        "title": control.title,
        "severity": control.severity.label,
        "message": finding.message,
        **location_dict(finding.location, shown),
        "object": object_dict(finding.obj),
        "scope": finding_scope(finding),
        "alsoIn": [location_dict(where, shown) for where in finding.also],
        "remediation": control.remediation,
        "details": jsonable(finding.details, shown.location if shown is not None else str),
    }


def suppressed_dict(item: Suppressed, shown: PathDisplay | None = None) -> dict[str, Any]:
    return {**finding_dict(item.finding, shown), "reason": item.reason, "source": item.source}


def problem_dict(problem: InputProblem, shown: PathDisplay | None = None) -> dict[str, Any]:
    return {**location_dict(problem.location, shown), "message": problem.message}


def not_audited_dict(item: NotAudited, shown: PathDisplay | None = None) -> dict[str, Any]:
    return {"kind": item.kind, "objects": item.objects, **location_dict(item.location, shown)}


def location_dict(location: Location, shown: PathDisplay | None = None) -> dict[str, Any]:
    path = shown(location.path) if shown is not None else location.path
    return {"file": path, "line": location.line}


def object_dict(obj: ObjectRef | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"kind": obj.kind, "namespace": obj.namespace, "name": obj.name}
