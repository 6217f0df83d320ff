"""``sealbox audit -o sarif``: SARIF 2.1.0 for code-scanning UIs (GitHub, GitLab, Azure DevOps).

One run whose driver lists every control of the audit as a rule (title, rationale, remediation,
the ids of other tools as tags, and a numeric ``security-severity`` that GitHub uses to rank
alerts). Each finding becomes a result pointing at ``file:line`` relative to ``%SRCROOT%`` so the
UI can open the manifest at the right line; suppressed findings are results too, carrying a
``suppressions`` entry, so the UI shows them as dismissed instead of forgetting them. The other
files of a finding collapsed from duplicated bundles are its ``relatedLocations``. Files the audit
could not read become tool execution notifications (warnings), and kinds it read but does not
audit notifications of level ``note``.

``partialFingerprints`` hashes the control id, the object and the message only: the alert keeps
its identity when lines move, and no value could ever be inferred from the hash.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import sealbox
from sealbox.audit.model import (
    AuditReport,
    Control,
    Finding,
    Location,
    NotAudited,
    Severity,
    Suppressed,
)
from sealbox.audit.report._jsonable import jsonable

__all__ = ["INFORMATION_URI", "SARIF_SCHEMA", "SECURITY_SEVERITY", "sarif_level", "to_sarif"]

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "sealboxFinding/v1"

INFORMATION_URI: str | None = None
"""The project's public home page, named in the driver when set (it has none yet)."""

SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
"""GitHub's scale: over 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low."""


def sarif_level(severity: Severity) -> str:
    """``error`` for high and critical, ``warning`` for medium, ``note`` below."""
    if severity >= Severity.HIGH:
        return "error"
    return "warning" if severity == Severity.MEDIUM else "note"


def to_sarif(report: AuditReport, *, base_dir: Path | None) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (``json.dumps`` it).

    ``base_dir`` is the directory ``%SRCROOT%`` stands for (the repository root): paths under it
    (relative ones taken from the current directory) become URIs relative to it, others ``file:``
    URIs. Without it, relative paths are taken as already relative to the root and absolute
    paths become ``file:`` URIs.
    """
    controls = _controls(report)
    index = {control.id: position for position, control in enumerate(controls)}
    root = base_dir.resolve() if base_dir is not None else None
    results = [_result(finding, index, root) for finding in report.findings]
    results += [_suppressed_result(item, index, root) for item in report.suppressed]
    driver: dict[str, Any] = {"name": "sealbox", "version": sealbox.__version__}
    if INFORMATION_URI:
        driver["informationUri"] = INFORMATION_URI
    driver["rules"] = [_rule(control) for control in controls]
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    *(
                        _notification(problem.location, problem.message, root)
                        for problem in report.problems
                    ),
                    *(_not_audited(item, root) for item in report.not_audited),
                ],
            }
        ],
        "results": results,
        "properties": {"failOn": report.fail_on_label, "failed": report.failed},
    }
    if root is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": root.as_uri() + "/"}}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _controls(report: AuditReport) -> list[Control]:
    """Every control once, in report order, plus any a finding names that the report lacks."""
    seen: dict[str, Control] = {}
    findings = [*report.findings, *(item.finding for item in report.suppressed)]
    for control in (*report.controls, *(finding.control for finding in findings)):
        seen.setdefault(control.id, control)
    return list(seen.values())


def _rule(control: Control) -> dict[str, Any]:
    tags = ["security", "kubernetes", "secrets", control.area, *control.mappings]
    return {
        "id": control.id,
        "name": _rule_name(control.title),
        "shortDescription": {"text": control.title},
        "fullDescription": {"text": control.rationale},
        "help": {"text": control.remediation},
        "defaultConfiguration": {"level": sarif_level(control.severity)},
        "properties": {
            "tags": list(dict.fromkeys(tags)),
            "security-severity": SECURITY_SEVERITY[control.severity],
            "severity": control.severity.label,
            "precision": "high",
        },
    }


def _rule_name(title: str) -> str:
    """``"Secret in env var"`` -> ``"SecretInEnvVar"``: SARIF wants an identifier-like name."""
    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", title))


def _result(finding: Finding, index: dict[str, int], root: Path | None) -> dict[str, Any]:
    control = finding.control
    location: dict[str, Any] = {"physicalLocation": _physical(finding.location, root)}
    related = [
        {
            "id": number,
            "physicalLocation": _physical(where, root),
            "message": {"text": "the same finding, on the same object, in another file"},
        }
        for number, where in enumerate(finding.also, start=1)
    ]
    if finding.obj is not None:
        location["logicalLocations"] = [
            {"name": finding.obj.name, "fullyQualifiedName": str(finding.obj), "kind": "resource"}
        ]
    properties: dict[str, Any] = {"severity": control.severity.label}
    if finding.obj is not None:
        properties["object"] = {
            "kind": finding.obj.kind,
            "namespace": finding.obj.namespace,
            "name": finding.obj.name,
        }
    if finding.details:
        properties["details"] = jsonable(finding.details, lambda where: _place(where, root))
    result: dict[str, Any] = {
        "ruleId": control.id,
        "ruleIndex": index[control.id],
        "level": sarif_level(control.severity),
        "message": {"text": finding.message},
        "locations": [location],
    }
    if related:
        result["relatedLocations"] = related
    result["partialFingerprints"] = {FINGERPRINT_KEY: fingerprint(finding)}
    result["properties"] = properties
    return result


def _suppressed_result(
    item: Suppressed, index: dict[str, int], root: Path | None
) -> dict[str, Any]:
    result = _result(item.finding, index, root)
    kind = "inSource" if item.source.startswith("annotation") else "external"
    result["suppressions"] = [
        {
            "kind": kind,
            "status": "accepted",
            "justification": item.reason,
            "properties": {"source": item.source},
        }
    ]
    return result


def fingerprint(finding: Finding) -> str:
    """A stable hash of the control id, the object and the message (never of any value)."""
    obj = str(finding.obj) if finding.obj is not None else ""
    text = "\x1f".join((finding.control.id, obj, finding.message))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _notification(location: Location, message: str, root: Path | None) -> dict[str, Any]:
    return {
        "level": "warning",
        "message": {"text": f"input problem: {message}"},
        "locations": [{"physicalLocation": _physical(location, root)}],
        "descriptor": {"id": "input-problem"},
    }


def _place(location: Location, root: Path | None) -> str:
    """A location inside ``details`` as text: relative to the root when under it."""
    artifact = artifact_location(location.path, root)
    path = location.path if artifact.get("uriBaseId") is None else artifact["uri"]
    return str(Location(path, location.line))


def _not_audited(item: NotAudited, root: Path | None) -> dict[str, Any]:
    return {
        "level": "note",
        "message": {"text": f"not audited: {item}"},
        "locations": [{"physicalLocation": _physical(item.location, root)}],
        "descriptor": {"id": "not-audited"},
    }


def _physical(location: Location, root: Path | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": artifact_location(location.path, root)}
    if location.line > 0:
        physical["region"] = {"startLine": location.line}
    return physical


def artifact_location(path: str, root: Path | None) -> dict[str, str]:
    """``{"uri": ..., "uriBaseId": "%SRCROOT%"}`` for a path under the root, else a file URI."""
    candidate = Path(path)
    if root is not None:
        absolute = candidate if candidate.is_absolute() else Path.cwd() / candidate
        try:
            relative = absolute.resolve().relative_to(root)
        except ValueError:
            return {"uri": absolute.resolve().as_uri()}
        return {"uri": _relative_uri(PurePosixPath(relative.as_posix())), "uriBaseId": SRCROOT}
    if candidate.is_absolute():
        return {"uri": candidate.as_uri()}
    return {"uri": _relative_uri(PurePosixPath(candidate.as_posix())), "uriBaseId": SRCROOT}


def _relative_uri(path: PurePosixPath) -> str:
    return quote(str(path), safe="/-._~!$&'()*+,;=@")
