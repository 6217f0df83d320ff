"""The rich table output: grouping and order, every row's fields, the extra sections, the verdict,
and hostile object names printed as text rather than markup or terminal control sequences."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from sealbox.audit.model import AuditReport, Finding, Location, ObjectRef, Severity
from sealbox.audit.report import render_table
from tests.audit.report_sample import (
    ENV,
    LIVE_SECTIONS,
    MARKER,
    READS,
    WILDCARD,
    empty_report,
    sample_report,
)


def _render(report: AuditReport, *, color: bool = False) -> str:
    console = Console(record=True, width=140, force_terminal=color, file=io.StringIO())
    render_table(report, console)
    return console.export_text()


def _line_with(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


def test_groups_by_severity_most_severe_first() -> None:
    text = _render(sample_report())
    headings = ["CRITICAL (1)", "HIGH (2)", "MEDIUM (1)", "LOW (1)", "INFO (1)"]
    positions = [text.index(heading) for heading in headings]
    assert positions == sorted(positions)
    assert text.index("SBX-301") < text.index("SBX-201") < text.index("SBX-101")


def test_rows_show_id_severity_object_location_and_message() -> None:
    text = _render(sample_report())
    row = _line_with(text, "SBX-101")
    for cell in ("medium", "Deployment prod/app", "deploy/app.yaml:27", "container web env"):
        assert cell in row
    row = _line_with(text, "SBX-301")
    for cell in ("critical", "ClusterRoleBinding", "rbac/admin.yaml:12", "grants ClusterRole"):
        assert cell in row
    unknown_line = _line_with(text, "SBX-401")
    assert "/etc/kubernetes/enc.yaml " in unknown_line  # line 0 is not shown as ":0"


def test_suppressed_problems_and_sections() -> None:
    text = _render(sample_report())
    assert "Suppressed: 2 findings (SBX-101: 1, SBX-103: 1)" in text
    assert "Input problems (2)" in text
    assert "broken/bad.yaml:7" in _line_with(text, "malformed YAML")
    assert "blob.bin" in _line_with(text, "binary file skipped")
    assert "Audit log" in text
    assert "1200" in _line_with(text, "Events")
    assert "Audit log / Per identity" in text
    header = _line_with(text, "Identity")
    for column in ("Get", "List", "Watch", "Secrets"):
        assert column in header
    alice = _line_with(text, "alice@example.com")
    assert alice.split() == ["alice@example.com", "0", "2", "0", "*/", "(all", "namespaces)"]


def test_summary_line_counts_and_verdict() -> None:
    summary = _render(sample_report()).rstrip().splitlines()[-1]
    assert summary == (
        "FAILED (fail-on high): 6 findings (1 critical, 2 high, 1 medium, 1 low, 1 info)"
        " · 2 suppressed · 2 input problems · 9 files, 23 objects"
    )
    below = tuple(f for f in sample_report().findings if f.severity < Severity.CRITICAL)
    passing = replace(sample_report(fail_on=Severity.CRITICAL), findings=below)
    assert (
        _render(passing)
        .rstrip()
        .splitlines()[-1]
        .startswith("PASSED (fail-on critical): 5 findings (0 critical, 2 high,")
    )


def test_empty_report() -> None:
    text = _render(empty_report())
    assert "No findings." in text
    assert "PASSED (fail-on high): 0 findings (0 critical, 0 high, 0 medium, 0 low" in text
    assert "CRITICAL (" not in text
    assert "Suppressed" not in text
    assert "Input problems" not in text


def test_markup_and_control_characters_in_names_are_inert() -> None:
    finding = Finding(
        WILDCARD,
        "evil [bold red]name[/] \x1b[2J\x1b]0;pwned\x07 here",
        Location("x[/].yaml", 4),
        ObjectRef("Secret", "ns", "[b]s[/b]"),
    )
    report = replace(empty_report(), findings=(finding,))
    console = Console(record=True, width=140, force_terminal=True, file=io.StringIO())
    render_table(report, console)
    raw = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[2J" not in raw
    assert "\x1b]0;" not in raw
    text = console.export_text()
    assert "\x1b[2J" not in text
    assert "\x07" not in text
    assert "\\x1b[2J" in text
    assert "[bold red]name[/]" in text
    assert "Secret ns/[b]s[/b]" in text
    assert "x[/].yaml:4" in text


def test_section_shapes_render_as_tables() -> None:
    report = replace(
        empty_report(),
        findings=(Finding(READS, "m", Location("audit.log")),),
        sections={
            "plain": 7,
            "names": ["a", "b"],
            "nothing": [],
            "nested": {"inner": {"count": 2, "who": ["x", "y"]}},
        },
    )
    lines = [line.strip() for line in _render(report).splitlines()]
    assert _after(lines, "Plain")[:3] == ["Value", _RULE, "7"]
    assert _after(lines, "Names")[:4] == ["Value", _RULE, "a", "b"]
    assert _after(lines, "Nothing")[:3] == ["Value", _RULE, "none"]
    inner = _after(lines, "Nested / Inner")
    assert inner[2].split() == ["Count", "2"]
    assert inner[3].split() == ["Who", "x,", "y"]


def test_sections_of_a_live_audit_and_custom_workloads_read_as_tables() -> None:
    report = replace(empty_report(), sections=LIVE_SECTIONS)
    lines = [line.strip() for line in _render(report).splitlines()]
    calls = _after(lines, "API calls")
    assert calls[0].split() == ["Verb", "Resource", "Read", "Requests", "Objects"]
    assert calls[2].split() == ["list", "secrets", "metadata", "only", "2", "9"]
    assert calls[3].split() == ["list", "pods", "full", "1", "4"]
    custom = _after(lines, "Custom workloads")
    assert custom[0].split() == ["Kind", "API", "group", "Objects", "Pod", "specs", "Found", "by"]
    assert custom[2].split() == ["Rollout", "argoproj.io", "2", "2", "known", "path"]


_RULE = "RULE"


def _after(lines: list[str], title: str) -> list[str]:
    """The non-blank lines after a table title, with the header rule shown as ``_RULE``."""
    rest = lines[lines.index(title) + 1 :]
    return [_RULE if set(line) == {"─"} else line for line in rest if line]


def test_no_secret_value_in_output() -> None:
    report = replace(sample_report(), findings=(*sample_report().findings,))
    text = _render(report)
    assert MARKER not in text
    assert ENV.id in text
