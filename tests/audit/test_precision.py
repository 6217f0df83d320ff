"""Precision and recall of HIGH/CRITICAL findings, by labels judged by hand.

Two trees are audited: the manifest areas of ``corpus/`` (each area on its own, as
``test_corpus`` scans them) and ``realistic/repo/``, a monorepo written in the styles the audit
meets in practice (kustomize bases and overlays, Helm-rendered output, an OLM bundle, CRDs with
pod templates, committed credentials). Each has a labels file (``corpus_labels.yaml``,
``realistic/labels.yaml``) that says for every HIGH or CRITICAL finding whether it is true, and
lists the exposures the audit must report. ``test_corpus`` checks *where* findings are; this
test checks whether they are *right*: precision must stay at least 95% and every exposure
without a ``gap`` note must be found. An unlabelled finding fails with the entry to add.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from sealbox.audit.engine import AuditOptions, run_audit
from sealbox.audit.model import AuditReport, Finding, Severity
from sealbox.audit.report import to_json_dict, to_sarif
from tests.audit.markers import marker_needles

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
REALISTIC = HERE / "realistic" / "repo"
MANIFEST_AREAS = ("workloads", "manifests", "rbac")
MIN_PRECISION = 0.95
MARKER = re.compile(r"s3cr3t-marker-[A-Za-z0-9-]+|AKIAMARKER[0-9]+|ghp_MARKER[0-9]+")


@dataclass(frozen=True)
class Label:
    """A judged finding (or every finding of one control on one object, without ``line``)."""

    id: str
    file: str
    object: str | None
    line: int | None
    true_positive: bool
    reason: str

    def matches(self, row: Row) -> bool:
        same = (self.id, self.file, self.object) == (row.id, row.file, row.object)
        return same and self.line in (None, row.line)


@dataclass(frozen=True)
class Exposure:
    """A true exposure the audit must report: some finding on this file (and object)."""

    file: str
    object: str | None
    ids: tuple[str, ...]
    min_severity: Severity
    message_contains: str
    reason: str
    gap: str

    def found_by(self, row: Row) -> bool:
        return (
            row.file == self.file
            and (self.object is None or row.object == self.object)
            and (not self.ids or row.id in self.ids)
            and row.severity >= self.min_severity
            and self.message_contains in row.message
        )

    def describe(self) -> str:
        what = "/".join(self.ids) or "any control"
        where = f"{self.file} {self.object or ''}".strip()
        return f"{what} at {where}: {self.reason}"


@dataclass(frozen=True)
class Row:
    """A finding as the labels name it: file relative to the tree's root."""

    id: str
    file: str
    line: int
    object: str | None
    severity: Severity
    message: str


@dataclass(frozen=True)
class Tree:
    """One labelled tree: what to scan, where files are relative to, and its labels file."""

    name: str
    root: Path
    scans: tuple[Path, ...]
    labels: Path


TREES = (
    Tree(
        "corpus",
        CORPUS,
        tuple(CORPUS / area for area in MANIFEST_AREAS),
        HERE / "corpus_labels.yaml",
    ),
    Tree("realistic", REALISTIC, (REALISTIC,), HERE / "realistic" / "labels.yaml"),
)


@dataclass
class Score:
    """How one tree's findings compare with its labels."""

    findings: int = 0
    true_positives: int = 0
    false_positives: list[tuple[Row, Label]] = field(default_factory=list)
    unlabelled: list[Row] = field(default_factory=list)
    missed: list[Exposure] = field(default_factory=list)
    gaps_found: list[Exposure] = field(default_factory=list)
    exposures: int = 0

    @property
    def precision(self) -> float:
        judged = self.true_positives + len(self.false_positives)
        return self.true_positives / judged if judged else 1.0

    @property
    def recall(self) -> float | None:
        if not self.exposures:
            return None
        return (self.exposures - len(self.missed)) / self.exposures


def _labels(path: Path) -> tuple[list[Label], list[Exposure]]:
    data = yaml.safe_load(path.read_text())
    labels = [
        Label(
            id=entry["id"],
            file=entry["file"],
            object=entry["object"],
            line=entry.get("line"),
            true_positive=bool(entry["true_positive"]),
            reason=entry["reason"],
        )
        for entry in data["findings"]
    ]
    exposures = [
        Exposure(
            file=entry["file"],
            object=entry.get("object"),
            ids=tuple(entry.get("ids", ())),
            min_severity=Severity.parse(entry.get("min_severity", "info")),
            message_contains=entry.get("message_contains", ""),
            reason=entry["reason"],
            gap=entry.get("gap", ""),
        )
        for entry in data["must_find"] or []
    ]
    return labels, exposures


def _reports(tree: Tree) -> list[AuditReport]:
    return [run_audit(AuditOptions(paths=(str(path),))) for path in tree.scans]


def _rows(tree: Tree, findings: Iterable[Finding]) -> list[Row]:
    rows = []
    for finding in findings:
        path = Path(finding.location.path)
        if not path.is_absolute():
            path = Path.cwd() / path
        rows.append(
            Row(
                id=finding.control.id,
                file=path.resolve().relative_to(tree.root.resolve()).as_posix(),
                line=finding.location.line,
                object=None if finding.obj is None else str(finding.obj),
                severity=finding.severity,
                message=finding.message,
            )
        )
    return rows


def _label_for(row: Row, labels: Sequence[Label]) -> Label | None:
    matching = [label for label in labels if label.matches(row)]
    exact = [label for label in matching if label.line is not None]
    best = exact or matching
    return best[0] if best else None


def score(rows: Sequence[Row], labels: Sequence[Label], exposures: Sequence[Exposure]) -> Score:
    """Judge every HIGH/CRITICAL row by its label and look up every exposure among all rows."""
    result = Score(exposures=len(exposures))
    for row in rows:
        if row.severity < Severity.HIGH:
            continue
        result.findings += 1
        label = _label_for(row, labels)
        if label is None:
            result.unlabelled.append(row)
        elif label.true_positive:
            result.true_positives += 1
        else:
            result.false_positives.append((row, label))
    for exposure in exposures:
        found = any(exposure.found_by(row) for row in rows)
        if not found:
            result.missed.append(exposure)
        elif exposure.gap:
            result.gaps_found.append(exposure)
    return result


def _how_to_label(tree: Tree, row: Row) -> str:
    obj = "null" if row.object is None else row.object
    return (
        f"unlabelled {row.severity.label} finding {row.id} at {row.file}:{row.line} ({obj}): "
        f"{row.message}\n  judge it and add to {tree.labels.relative_to(HERE)} under findings:\n"
        f"  - {{id: {row.id}, file: {row.file}, object: {obj}, line: {row.line}, "
        f'true_positive: true|false, reason: "<one line: why>"}}'
    )


def _table(results: Mapping[str, Score]) -> str:
    lines = [
        "| tree | HIGH/CRITICAL findings | TP | FP | unlabelled | precision | recall |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in results.items():
        recall = (
            "n/a"
            if s.recall is None
            else f"{s.recall:.0%} ({s.exposures - len(s.missed)}/{s.exposures})"
        )
        lines.append(
            f"| {name} | {s.findings} | {s.true_positives} | {len(s.false_positives)} "
            f"| {len(s.unlabelled)} | {s.precision:.1%} | {recall} |"
        )
    for name, s in results.items():
        for row, label in s.false_positives:
            lines.append(f"FP {name}: {row.id} {row.file}:{row.line} {row.object}: {label.reason}")
        for exposure in s.missed:
            kind = "gap" if exposure.gap else "MISSED"
            lines.append(f"{kind} {name}: {exposure.describe()}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def audited() -> dict[str, tuple[Tree, list[AuditReport], Score]]:
    results = {}
    for tree in TREES:
        reports = _reports(tree)
        rows = _rows(tree, (f for report in reports for f in report.findings))
        labels, exposures = _labels(tree.labels)
        results[tree.name] = (tree, reports, score(rows, labels, exposures))
    print("\n" + _table({name: s for name, (_, _, s) in results.items()}))
    return results


@pytest.mark.parametrize("name", [tree.name for tree in TREES])
def test_every_high_finding_is_labelled(
    audited: dict[str, tuple[Tree, list[AuditReport], Score]], name: str
) -> None:
    tree, _, result = audited[name]
    assert not result.unlabelled, "\n".join(_how_to_label(tree, row) for row in result.unlabelled)


@pytest.mark.parametrize("name", [tree.name for tree in TREES])
def test_precision_of_high_findings_is_at_least_95_percent(
    audited: dict[str, tuple[Tree, list[AuditReport], Score]], name: str
) -> None:
    _, _, result = audited[name]
    assert result.findings, "no HIGH/CRITICAL finding to judge"
    assert result.precision >= MIN_PRECISION, _table({name: result})


@pytest.mark.parametrize("name", [tree.name for tree in TREES])
def test_every_labelled_exposure_is_found(
    audited: dict[str, tuple[Tree, list[AuditReport], Score]], name: str
) -> None:
    _, _, result = audited[name]
    missed = [e for e in result.missed if not e.gap]
    assert not missed, "\n".join(f"missed {e.describe()}" for e in missed)
    assert not result.gaps_found, "\n".join(
        f"now found, remove its gap note: {e.describe()}" for e in result.gaps_found
    )


def test_labels_are_well_formed() -> None:
    """Every labelled file exists, and no finding has two contradicting labels."""
    for tree in TREES:
        labels, exposures = _labels(tree.labels)
        for file in [label.file for label in labels] + [e.file for e in exposures]:
            assert (tree.root / file).is_file(), f"{tree.labels.name}: no file {file}"
        seen: dict[tuple[str, str, str | None, int | None], bool] = {}
        for label in labels:
            key = (label.id, label.file, label.object, label.line)
            assert seen.setdefault(key, label.true_positive) == label.true_positive, key


def test_scoring_counts_false_and_unlabelled_findings() -> None:
    """The scoring itself: a line label wins over an object label, gaps count as misses."""
    row = Row("SBX-103", "a.yaml", 7, "Pod ns/p", Severity.HIGH, "env var 'MAX_TOKENS'")
    other = Row("SBX-201", "b.yaml", 3, "Secret ns/s", Severity.HIGH, "")
    low = Row("SBX-104", "a.yaml", 9, "Pod ns/p", Severity.LOW, "")
    labels = [
        Label("SBX-103", "a.yaml", "Pod ns/p", None, True, "object"),
        Label("SBX-103", "a.yaml", "Pod ns/p", 7, False, "line"),
    ]
    exposures = [
        Exposure("b.yaml", None, (), Severity.CRITICAL, "", "needs critical", ""),
        Exposure("a.yaml", "Pod ns/p", ("SBX-104",), Severity.INFO, "", "low counts", ""),
    ]
    result = score([row, other, low], labels, exposures)
    assert (result.findings, result.true_positives) == (2, 0)
    assert [label.reason for _, label in result.false_positives] == ["line"]
    assert result.unlabelled == [other]
    assert result.missed == [exposures[0]]
    assert result.recall == 0.5


def test_no_planted_value_leaks_into_the_realistic_reports(
    audited: dict[str, tuple[Tree, list[AuditReport], Score]],
) -> None:
    needles = marker_needles(REALISTIC, MARKER)
    assert "s3cr3t-marker-jwt-signature-release-bot-xy" in needles  # base64 in a JWT in base64
    _, reports, _ = audited["realistic"]
    for report in reports:
        text = json.dumps(to_json_dict(report)) + json.dumps(to_sarif(report, base_dir=REALISTIC))
        for needle in needles:
            assert needle not in text
