"""``sealbox audit`` default output: rich tables for a terminal or a CI log.

Findings come grouped by severity, most severe first, one table per severity with the control id,
the object, ``file:line`` (relative to the scanned path, with "also in N files" when the same
finding was collapsed from duplicated bundles) and the message. Then the number of suppressed
findings, the inputs that could not be read, the kinds that were read but not audited, every extra
section of the report (the audit-log summary, the API calls of a live audit, ...) as tables of
their own, and one closing line with the counts per severity and the ``--fail-on`` verdict.

Every cell is a :class:`rich.text.Text`, never a markup string, so a ``[bold]`` in an object name
is printed as written; control characters are escaped by :func:`clean` so a hostile name cannot
drive the terminal.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sealbox.audit.model import AuditReport, Finding, Severity
from sealbox.audit.report._paths import PathDisplay, also_files
from sealbox.audit.report._sections import SectionTable, not_audited_table, section_tables
from sealbox.audit.report._severities import SEVERITIES
from sealbox.audit.report._text import clean
from sealbox.words import plural

__all__ = ["SEVERITY_STYLES", "render_table"]

SEVERITY_STYLES: dict[Severity, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def render_table(report: AuditReport, console: Console) -> None:
    """Print the whole report to ``console``."""
    shown = PathDisplay(report.roots)
    groups: dict[Severity, list[Finding]] = {severity: [] for severity in SEVERITIES}
    for finding in report.findings:
        groups[finding.severity].append(finding)
    for severity in SEVERITIES:
        if groups[severity]:
            console.print(_findings_table(severity, groups[severity], shown))
            console.print()
    if not report.findings:
        console.print(Text("No findings.", style="green"))
    if report.suppressed:
        console.print(_suppressed_line(report))
    if report.problems:
        console.print(_problems_table(report, shown))
        console.print()
    if report.not_audited:
        console.print(_section_table(not_audited_table(report.not_audited, shown)))
        console.print()
    for name, value in report.sections.items():
        for table in section_tables(name, value):
            console.print(_section_table(table))
            console.print()
    console.print(summary_line(report))


def summary_line(report: AuditReport) -> Text:
    """``"FAILED (fail-on high): 3 findings (0 critical, 2 high, ...) · 1 suppressed · ..."``."""
    threshold = report.fail_on_label
    if report.failed:
        line = Text(f"FAILED (fail-on {threshold})", style="bold red")
    else:
        line = Text(f"PASSED (fail-on {threshold})", style="bold green")
    counts = report.counts()
    line.append(f": {plural(len(report.findings), 'finding')} (")
    for index, severity in enumerate(SEVERITIES):
        if index:
            line.append(", ")
        line.append(f"{counts[severity]} {severity.label}", style=_count_style(severity, counts))
    line.append(f") · {len(report.suppressed)} suppressed")
    line.append(f" · {plural(len(report.problems), 'input problem')}")
    line.append(f" · {plural(report.files, 'file')}, {plural(report.objects, 'object')}")
    return line


def _count_style(severity: Severity, counts: dict[Severity, int]) -> str:
    return SEVERITY_STYLES[severity] if counts[severity] else ""


def _findings_table(severity: Severity, findings: list[Finding], shown: PathDisplay) -> Table:
    style = SEVERITY_STYLES[severity]
    table = Table(
        title=Text(f"{severity.label.upper()} ({len(findings)})", style=style),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_lines=False,
        expand=True,
    )
    table.add_column("ID", no_wrap=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Object", overflow="fold", ratio=2)
    table.add_column("Location", overflow="fold", ratio=2)
    table.add_column("Message", overflow="fold", ratio=5)
    for finding in findings:
        table.add_row(
            Text(finding.control.id, style="bold"),
            Text(severity.label, style=style),
            Text(clean(finding.obj) if finding.obj else "-"),
            _location_cell(finding, shown),
            Text(clean(finding.message)),
        )
    return table


def _location_cell(finding: Finding, shown: PathDisplay) -> Text:
    cell = Text(clean(shown.location(finding.location)))
    if finding.also:
        cell.append(f"\nalso in {also_files(finding)}", style="dim")
    return cell


def _suppressed_line(report: AuditReport) -> Text:
    ids: dict[str, int] = {}
    for item in report.suppressed:
        ids[item.finding.control.id] = ids.get(item.finding.control.id, 0) + 1
    listed = ", ".join(f"{key}: {count}" for key, count in sorted(ids.items()))
    count = plural(len(report.suppressed), "finding")
    return Text(f"Suppressed: {count} ({listed})", style="dim")


def _problems_table(report: AuditReport, shown: PathDisplay) -> Table:
    table = Table(
        title=Text(f"Input problems ({len(report.problems)})", style="bold yellow"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        expand=True,
    )
    table.add_column("Location", overflow="fold", ratio=1)
    table.add_column("Problem", overflow="fold", ratio=3)
    for problem in report.problems:
        table.add_row(Text(clean(shown.location(problem.location))), Text(clean(problem.message)))
    return table


def _section_table(section: SectionTable) -> Table:
    table = Table(
        title=Text(clean(section.title), style="bold"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for column in section.columns:
        table.add_column(Text(clean(column)), overflow="fold")
    for row in section.rows:
        table.add_row(*(Text(clean(cell)) for cell in row))
    if not section.rows:
        blanks = [Text("") for _ in section.columns[1:]]
        table.add_row(Text("none", style="dim"), *blanks)
    return table
