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
        "suppressed": 1, "inputProblems": 0
      },
      "findings": [                       # most severe first, then file, line, id
        {
          "id": "SBX-101", "title": "...", "severity": "high",
          "message": "...",
          "file": "deploy/app.yaml", "line": 14,      # line 0: unknown
          "object": {"kind": "Deployment", "namespace": "prod", "name": "app"},  # or null
          "remediation": "...",
          "details": {...}                # control-specific facts (container, subject, path...)
        }
      ],
      "suppressed": [ {... same keys as a finding ..., "reason": "...", "source": "..."} ],
      "inputProblems": [ {"file": "bad.yaml", "line": 3, "message": "..."} ],
      "sections": {                       # extra summaries, keyed by name
        "inputs": [{"input": "deploy", "auditedAs": "manifests", "from": "argument"}, ...],
        "auditLog": {...}
      }
    }

``yaml`` output is this same document, written as YAML.

Like every report, it names objects, fields and key names and never a value: findings are built
that way (see :mod:`sealbox.audit.model`), and this module only copies them.
"""

from __future__ import annotations

from typing import Any

import sealbox
from sealbox.audit.model import AuditReport, Finding, InputProblem, ObjectRef, Suppressed
from sealbox.audit.report._jsonable import jsonable
from sealbox.audit.report._severities import summary_counts

__all__ = ["to_json_dict"]


def to_json_dict(report: AuditReport) -> dict[str, Any]:
    """The report as JSON-serialisable data in the documented shape (``json.dumps`` it)."""
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
        },
        "findings": [finding_dict(finding) for finding in report.findings],
        "suppressed": [suppressed_dict(item) for item in report.suppressed],
        "inputProblems": [problem_dict(problem) for problem in report.problems],
        "sections": jsonable(report.sections),
    }


def finding_dict(finding: Finding) -> dict[str, Any]:
    """One finding in the JSON shape (also used for suppressed findings)."""
    control = finding.control
    return {
        "id": control.id,
        "title": control.title,
        "severity": control.severity.label,
        "message": finding.message,
        "file": finding.location.path,
        "line": finding.location.line,
        "object": object_dict(finding.obj),
        "remediation": control.remediation,
        "details": jsonable(finding.details),
    }


def suppressed_dict(item: Suppressed) -> dict[str, Any]:
    return {**finding_dict(item.finding), "reason": item.reason, "source": item.source}


def problem_dict(problem: InputProblem) -> dict[str, Any]:
    return {
        "file": problem.location.path,
        "line": problem.location.line,
        "message": problem.message,
    }


def object_dict(obj: ObjectRef | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"kind": obj.kind, "namespace": obj.namespace, "name": obj.name}
