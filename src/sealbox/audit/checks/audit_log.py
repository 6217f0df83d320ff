"""Area 6: who read which Secrets, according to the audit log given with ``--audit-log``.

The log is streamed line by line (plain or gzip; see :mod:`._auditlog_parse`), each request
counted once. A *Secret read* is get, list or watch on core ``secrets`` (no subresource) that was
not refused: response code below 400, or unknown when only ``RequestReceived`` was logged.
A *denied* request has code 401 or 403.

Identities are classified by user name. *Built-in* readers are the control plane and nodes:
``system:node:*`` users (or group ``system:nodes``), service accounts of ``kube-system``, and
other ``system:`` users except ``system:anonymous`` (the apiserver reserves that prefix for its
components: ``system:kube-controller-manager``, ``system:kube-scheduler``, ...). *Expected* readers
are the built-in ones plus ``expected_readers``: shell-style patterns matched against the user
name, or against each group when written ``group:PATTERN``.

* SBX-601: list/watch of Secrets across all namespaces (no ``objectRef.namespace``) by an
  identity that is not expected; one finding per identity, at its first such request.
* SBX-602: any Secret read by an identity that is not expected; one finding per identity.
* SBX-603: one identity (not built-in; expected readers included) getting at least
  :data:`READ_BURST_THRESHOLD` distinct Secrets within :data:`READ_BURST_WINDOW`, the docs'
  "concurrent reading of multiple Secrets by a single user" (Good practices for Kubernetes
  Secrets); lists are not counted.
* SBX-604: requests on Secrets logged at ``Request``/``RequestResponse``: their values are in the
  log. One finding per log (first request, total in details); no content is ever copied.
* SBX-605: Secret reads made through impersonation; one finding per (caller, impersonated user).
* SBX-606: at least :data:`DENIED_BURST_THRESHOLD` denied requests by one identity within
  :data:`DENIED_BURST_WINDOW` (RBAC probing); one finding per identity.

``check`` also returns a JSON-serialisable summary for the report's ``auditLog`` section.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sealbox.audit.checks._auditlog_parse import (
    MAX_LINE_BYTES,
    ReadError,
    Request,
    open_log,
    parse_line,
    read_lines,
)
from sealbox.audit.checks._auditlog_stats import Analysis
from sealbox.audit.model import Control, Finding, InputProblem, Location, Severity
from sealbox.words import plural

__all__ = [
    "CONTROLS",
    "DENIED_BURST_THRESHOLD",
    "DENIED_BURST_WINDOW",
    "MAX_LINE_PROBLEMS",
    "READ_BURST_THRESHOLD",
    "READ_BURST_WINDOW",
    "check",
]

READ_BURST_THRESHOLD = 10
READ_BURST_WINDOW = timedelta(minutes=10)
DENIED_BURST_THRESHOLD = 10
DENIED_BURST_WINDOW = timedelta(minutes=10)
MAX_LINE_PROBLEMS = 20

CLUSTER_WIDE = Control(
    id="SBX-601",
    title="Secrets listed or watched across all namespaces",
    severity=Severity.HIGH,
    rationale=(
        "A list or watch returns the data of every Secret in scope "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#listing-secrets); "
        "across all namespaces that is every Secret of the cluster."
    ),
    remediation=(
        "Find out why this identity needs it; narrow its RBAC to the namespaces and names it "
        "uses, or add it to --expected-reader if it is a known controller."
    ),
)
UNUSUAL_READER = Control(
    id="SBX-602",
    title="Secrets read by an unexpected identity",
    severity=Severity.MEDIUM,
    rationale=(
        "Outside the control plane, nodes and the readers you declared, a Secret read is a person "
        "or workload using a path in the RBAC graph; get, list and watch all reveal values."
    ),
    remediation="Confirm the reads were intended; otherwise revoke the access and rotate.",
)
MANY_SECRETS = Control(
    id="SBX-603",
    title="One identity read many Secrets in a short time",
    severity=Severity.HIGH,
    rationale=(
        "The Kubernetes docs recommend audit rules that alert on 'concurrent reading of multiple "
        "Secrets by a single user' "
        "(https://kubernetes.io/docs/concepts/security/secrets-good-practices/)."
    ),
    remediation="Investigate the identity (credential theft, enumeration) and rotate if needed.",
)
VALUES_IN_LOG = Control(
    id="SBX-604",
    title="Secret values recorded in the audit log",
    severity=Severity.HIGH,
    rationale=(
        "Events at Request/RequestResponse carry requestObject/responseObject "
        "(https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/): the Secret data itself "
        "ends up in the log and everywhere it is shipped."
    ),
    remediation=(
        "Log secrets at Metadata in the audit policy; treat the existing log as holding "
        "secrets (restrict, purge) and rotate the Secrets it contains."
    ),
    mappings=("kubescape C-0161", "kube-bench 3.2.2"),
)
IMPERSONATED = Control(
    id="SBX-605",
    title="Secrets read through impersonation",
    severity=Severity.MEDIUM,
    rationale=(
        "impersonate lets a subject act with another identity's rights "
        "(https://kubernetes.io/docs/reference/access-authn-authz/authentication/"
        "#user-impersonation); "
        "the audit log records the real caller in user and the target in impersonatedUser."
    ),
    remediation="Check the caller is allowed to impersonate; limit impersonate by resourceNames.",
)
DENIED_BURST = Control(
    id="SBX-606",
    title="Burst of denied requests",
    severity=Severity.MEDIUM,
    rationale=(
        "Many 403s from one identity in a short time are a sign of RBAC probing with a stolen or "
        "over-curious credential."
    ),
    remediation="Find which credential it is and who uses it; revoke it if it is not expected.",
)

CONTROLS: tuple[Control, ...] = (
    CLUSTER_WIDE,
    UNUSUAL_READER,
    MANY_SECRETS,
    VALUES_IN_LOG,
    IMPERSONATED,
    DENIED_BURST,
)


def check(
    path: Path, *, expected_readers: tuple[str, ...] = ()
) -> tuple[list[Finding], list[InputProblem], dict[str, Any]]:
    """Analyse the audit log at ``path``. Never raises for bad content."""
    name = str(path)
    analysis = Analysis(
        name,
        expected_readers,
        read_burst=(READ_BURST_THRESHOLD, READ_BURST_WINDOW),
        denied_burst=(DENIED_BURST_THRESHOLD, DENIED_BURST_WINDOW),
    )
    problems: list[InputProblem] = []
    malformed = 0
    try:
        with open_log(path) as stream:
            for number, raw in read_lines(stream):
                analysis.lines = number
                requests: list[Request] = []
                problem: str | None = f"line over {MAX_LINE_BYTES} bytes skipped"
                if raw is not None:
                    requests, problem = parse_line(raw, number)
                for request in requests:
                    analysis.feed(request)
                if problem is not None:
                    malformed += 1
                    if malformed <= MAX_LINE_PROBLEMS:
                        problems.append(InputProblem(Location(name, number), problem))
    except ReadError as exc:
        problems.append(InputProblem(Location(name, exc.line), f"log unreadable: {exc.reason}"))
    except OSError as exc:
        problems.append(InputProblem(Location(name), f"cannot read the audit log: {exc}"))
    analysis.finish()
    if malformed > MAX_LINE_PROBLEMS:
        more = malformed - MAX_LINE_PROBLEMS
        problems.append(
            InputProblem(Location(name), f"{plural(more, 'more malformed line')} skipped")
        )
    summary = analysis.summary()
    summary["malformedLines"] = malformed
    return _findings(analysis), problems, summary


def _findings(analysis: Analysis) -> list[Finding]:
    controls = {control.id: control for control in CONTROLS}
    return [
        Finding(controls[hit.control], hit.message, hit.location, hit.obj, hit.details)
        for hit in analysis.hits()
    ]
