"""The order every report format lists severities in, and the findings counted per severity."""

from __future__ import annotations

from sealbox.audit.model import AuditReport, Severity

__all__ = ["SEVERITIES", "summary_counts"]

SEVERITIES: tuple[Severity, ...] = tuple(sorted(Severity, reverse=True))
"""Most severe first: the order every output lists severities in."""


def summary_counts(report: AuditReport) -> dict[str, int]:
    """Findings per severity label, most severe first (every severity present, maybe 0)."""
    counts = report.counts()
    return {severity.label: counts[severity] for severity in SEVERITIES}
