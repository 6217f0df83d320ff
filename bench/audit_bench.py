"""Audit at scale: ``sealbox audit`` and checkov side by side on one synthetic GitOps repository.

    .venv/bin/python bench/audit_bench.py [--count 10000] [--repeat 3] [--keep DIR]
                                          [--skip-checkov] [--checkov-venv DIR]

Writes COUNT Kubernetes objects (see ``_audit_corpus.py``: every workload kind, RBAC with
aggregated ClusterRoles, plaintext Secrets, SealedSecrets, ConfigMaps; several documents per
file, some ``List`` kinds and JSON) from a fixed seed, then times, each run as its own process:

* ``sealbox audit DIR -o json``
* ``checkov -d DIR --framework kubernetes -o json --quiet``, with and without ``--compact``
  (which leaves the code blocks out of its report)
* ``checkov ... --framework kubernetes secrets --compact``: checkov's best recall, since its
  secret scanner is the only part of it that looks at values

and prints wall time (best and median of REPEAT runs), memory, the files, objects and findings
each tool reports, and the speed-up of sealbox over the fastest checkov (target: at least 5x).
It also fails if the sealbox report contains any of the corpus's fake secret values.

Recall is counted on the generator's own labels (``CorpusStats.exposures``): an exposure is found
when a tool reports a check *about that kind of exposure* on the labelled object (or, for a
binding, on its role): see ``SEALBOX_CONTROLS`` and ``CHECKOV_CHECKS``. checkov's secret
scanner names lines, not objects, so its findings count for the credential categories when
they fall inside the object's lines. Generic checks (image tags, probes, resources) count for
nothing: they fire on every workload whatever it exposes.

Memory is measured twice per run: peak RSS is ``ru_maxrss`` of the largest single process
(getrusage of a fresh wrapper process's children); tree PSS is the largest sum of proportional
set sizes over the whole process tree, sampled from ``/proc`` every 100 ms, because checkov
forks one worker per CPU and forked workers share pages that summed RSS would count twice.

checkov lives in its own virtualenv, created on first use (``pip install checkov==VERSION``).
It is run as fast as it goes while still checking every file: only the kubernetes framework,
no platform download (``--skip-download``, ``BC_SKIP_MAPPING``), no PyPI version check
(``CKV_SKIP_PACKAGE_UPDATE_CHECK``), JSON with failed checks only (``--quiet``; listing the
passed checks as well costs it more time and a file of hundreds of MB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _audit_corpus import CATEGORIES, CorpusStats, Exposure, ObjectKey, write_corpus

CHECKOV_VERSION = "3.3.30"
DEFAULT_CHECKOV_VENV = Path.home() / ".cache" / "sealbox-bench" / "checkov-venv"
TARGET_SPEEDUP = 5.0
CHECKOV_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
    "LOG_LEVEL": "WARNING",
}
CHECKOV_ARGS = ("-o", "json", "--quiet", "--skip-download")
CHECKOV_RUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("checkov", ("--framework", "kubernetes")),
    ("checkov --compact", ("--framework", "kubernetes", "--compact")),
    ("checkov +secrets", ("--framework", "kubernetes", "secrets", "--compact")),
)
_RBAC_CONTROLS = tuple(f"SBX-3{n:02d}" for n in range(1, 20))
# The controls of each tool that are about each exposure category.
SEALBOX_CONTROLS: dict[str, tuple[str, ...]] = {
    "committed-secret": ("SBX-201", "SBX-206"),
    "configmap-credential": ("SBX-202",),
    "literal-credential": ("SBX-103",),
    "secret-env": ("SBX-101",),
    "secret-in-args": ("SBX-102",),
    "rbac-reader": _RBAC_CONTROLS,
    "rbac-escalation": _RBAC_CONTROLS,
}
_CHECKOV_RBAC = (
    "CKV2_K8S_1",  # bind to escalate through RoleBindings
    "CKV2_K8S_2",  # create pods/exec or nodes/proxy
    "CKV2_K8S_3",  # impersonate
    "CKV2_K8S_5",  # read all secrets
    "CKV_K8S_42",  # default service account bound
    "CKV_K8S_49",  # wildcards in Roles
    "CKV_K8S_155",  # admission webhooks
    "CKV_K8S_156",  # approve CSRs
    "CKV_K8S_157",  # bind
    "CKV_K8S_158",  # escalate
)
CHECKOV_CHECKS: dict[str, tuple[str, ...]] = {
    "secret-env": ("CKV_K8S_35",),
    "rbac-reader": _CHECKOV_RBAC,
    "rbac-escalation": _CHECKOV_RBAC,
}
# Categories where a checkov secret-scanner hit (CKV_SECRET_*) inside the object counts.
CHECKOV_SECRET_CATEGORIES = frozenset(
    {"committed-secret", "configmap-credential", "literal-credential"}
)
# Every plaintext value in the corpus starts with "fake-" (base64: "ZmFrZS"); the sealbox
# report must show key names only, so neither may appear in it.
VALUE_MARKERS = ("fake-", "ZmFrZS")
# sealbox exits 1 when it has findings at or above --fail-on, checkov when a check failed.
OK_EXIT_CODES = (0, 1)

# Runs one command, samples the PSS of its process tree, and prints wall seconds, the child's
# ru_maxrss (KiB), the tree's peak PSS (KiB) and the exit code. A fresh interpreter per run keeps
# RUSAGE_CHILDREN about that one command.
_PROBE = r"""
import os, resource, subprocess, sys, time

def descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found

def tree_pss(root):
    total = 0
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, ValueError):
            pass
    return total

out, err = open(sys.argv[1], "wb"), open(sys.argv[2], "wb")
started = time.perf_counter()
child = subprocess.Popen(sys.argv[3:], stdout=out, stderr=err)
peak = 0
while child.poll() is None:
    peak = max(peak, tree_pss(child.pid))
    time.sleep(0.1)
elapsed = time.perf_counter() - started
print(elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, peak, child.returncode)
"""


@dataclass
class Counts:
    """What one tool says it read and found."""

    files: int | None = None
    objects: int | None = None
    findings: int | None = None


@dataclass
class Result:
    """Every run of one tool configuration on the corpus."""

    tool: str
    counts: Counts = field(default_factory=Counts)
    found: dict[str, int] = field(default_factory=dict)  # exposures found, per category
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    tree_mb: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def timed(argv: Sequence[str], output: Path, env: Mapping[str, str] | None = None) -> list[float]:
    """Run ``argv`` once with stdout to ``output``: [wall s, maxrss MB, tree peak MB, load]."""
    errors = output.with_suffix(".err")
    probe = [sys.executable, "-c", _PROBE, str(output), str(errors), *argv]
    load = os.getloadavg()[0]
    merged = {**os.environ, **(env or {})}
    line = subprocess.run(probe, capture_output=True, text=True, check=True, env=merged).stdout
    seconds, maxrss, tree, code = line.split()
    # A Python traceback exits 1 too: a run only counts if it also wrote its report.
    if int(code) not in OK_EXIT_CODES or output.stat().st_size == 0:
        tail = errors.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{argv[0]} exited {code}:\n{tail}")
    return [float(seconds), int(maxrss) / 1024, int(tree) / 1024, load]


def measure(
    tool: str,
    argv: Sequence[str],
    repeat: int,
    work: Path,
    exposures: Sequence[Exposure],
    **kw: Any,
) -> Result:
    result = Result(tool)
    output = work / f"{tool.replace(' ', '_').replace('-', '')}.json"
    for run in range(repeat):
        seconds, rss, tree, load = timed(argv, output, **kw)
        result.seconds.append(seconds)
        result.rss_mb.append(rss)
        result.tree_mb.append(tree)
        result.load.append(load)
        print(
            f"  {tool} run {run + 1}/{repeat}: {seconds:.2f}s, {rss:.0f} MB "
            f"(tree PSS {tree:.0f} MB), load {load:.2f}",
            flush=True,
        )
    result.counts = sealbox_counts(output) if tool.startswith("sealbox") else checkov_counts(output)
    result.found = found_exposures(tool, output, exposures)
    return result


def _number(data: Mapping[str, Any], *keys: str) -> int | None:
    """The first integer found under ``keys``, at the top or in a ``summary`` mapping."""
    for scope in (data, data.get("summary") or {}):
        for key in keys:
            value = scope.get(key) if isinstance(scope, Mapping) else None
            if isinstance(value, int):
                return value
            if isinstance(value, list):
                return len(value)
    return None


def sealbox_counts(path: Path) -> Counts:
    text = path.read_text()
    leaks = [marker for marker in VALUE_MARKERS if marker in text]
    if leaks:
        raise SystemExit(f"the sealbox report contains corpus values ({', '.join(leaks)})")
    data = json.loads(text)
    return Counts(
        files=_number(data, "files"),
        objects=_number(data, "objects"),
        findings=_number(data, "findings"),
    )


def checkov_counts(path: Path) -> Counts:
    """checkov's JSON: one report per framework; ``--quiet`` keeps only the failed checks."""
    data = json.loads(path.read_text())
    reports = data if isinstance(data, list) else [data]
    files: set[str] = set()
    objects = findings = 0
    for report in reports:
        summary = report.get("summary", {})
        objects += int(summary.get("resource_count", 0))
        findings += int(summary.get("failed", 0))
        for checks in report.get("results", {}).values():
            files.update(check["file_path"] for check in checks)
    # checkov names no file it found nothing in, so the count is "files with a failed check".
    return Counts(files=len(files), objects=objects, findings=findings)


@dataclass(frozen=True)
class Hit:
    """One finding, reduced to what recall needs: check id, object, file and lines."""

    check: str
    obj: ObjectKey | None
    file: str
    lines: tuple[int, int]


def _same_object(hit: ObjectKey, labelled: ObjectKey) -> bool:
    kind, namespace, name = labelled
    return hit[0] == kind and hit[2] == name and (namespace is None or hit[1] == namespace)


def sealbox_hits(path: Path) -> list[Hit]:
    hits = []
    for finding in json.loads(path.read_text())["findings"]:
        obj = finding.get("object")
        key = None if obj is None else (obj["kind"], obj["namespace"], obj["name"])
        line = finding.get("line") or 0
        hits.append(Hit(finding["id"], key, finding.get("file", ""), (line, line)))
    return hits


def checkov_hits(path: Path) -> list[Hit]:
    """checkov names objects as ``Kind.namespace.name`` (pods add their labels after it)."""
    data = json.loads(path.read_text())
    hits = []
    for report in data if isinstance(data, list) else [data]:
        for check in report.get("results", {}).get("failed_checks", []):
            parts = str(check.get("resource", "")).split(".")
            key = (parts[0], parts[1], parts[2]) if len(parts) >= 3 else None
            first, last = (check.get("file_line_range") or [0, 0])[:2]
            file = str(check.get("file_path", "")).lstrip("/")
            hits.append(Hit(check["check_id"], key, file, (first, last)))
    return hits


def _finds(tool: str, hit: Hit, exposure: Exposure) -> bool:
    if tool.startswith("sealbox"):
        if hit.check not in SEALBOX_CONTROLS[exposure.category]:
            return False
    elif hit.check.startswith("CKV_SECRET_"):
        first, last = exposure.lines
        return (
            exposure.category in CHECKOV_SECRET_CATEGORIES
            and hit.file == exposure.file
            and hit.lines[0] <= last
            and hit.lines[1] >= first
        )
    elif hit.check not in CHECKOV_CHECKS.get(exposure.category, ()):
        return False
    return hit.obj is not None and any(_same_object(hit.obj, key) for key in exposure.objects)


def found_exposures(tool: str, output: Path, exposures: Sequence[Exposure]) -> dict[str, int]:
    """How many labelled exposures of each category the tool's report finds."""
    hits = sealbox_hits(output) if tool.startswith("sealbox") else checkov_hits(output)
    by_object: dict[tuple[str, str], list[Hit]] = {}
    by_file: dict[str, list[Hit]] = {}
    for hit in hits:
        by_file.setdefault(hit.file, []).append(hit)
        if hit.obj is not None:
            by_object.setdefault((hit.obj[0], hit.obj[2]), []).append(hit)
    found = dict.fromkeys(CATEGORIES, 0)
    for exposure in exposures:
        candidates = [h for key in exposure.objects for h in by_object.get((key[0], key[2]), [])]
        candidates += by_file.get(exposure.file, [])
        if any(_finds(tool, hit, exposure) for hit in candidates):
            found[exposure.category] += 1
    return found


def ensure_checkov(venv: Path) -> Path:
    """The checkov executable in ``venv``, installing the pinned version there if needed."""
    checkov = venv / "bin" / "checkov"
    if checkov.exists():
        version = subprocess.run(
            [str(checkov), "--version"], capture_output=True, text=True
        ).stdout.strip()
        if version == CHECKOV_VERSION:
            return checkov
    print(f"installing checkov {CHECKOV_VERSION} into {venv} (takes a few minutes)", flush=True)
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, f"checkov=={CHECKOV_VERSION}"], check=True)
    return checkov


def sealbox_executable() -> str:
    beside = Path(sys.executable).parent / "sealbox"
    found = str(beside) if beside.exists() else shutil.which("sealbox")
    if found is None:
        raise SystemExit("sealbox is not installed next to this Python (make install)")
    return found


def _fmt(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def print_table(corpus: CorpusStats, results: list[Result]) -> None:
    print(f"\ncorpus: {corpus.files:,} files, {corpus.objects:,} objects")
    print(", ".join(f"{kind} {n:,}" for kind, n in sorted(corpus.kinds.items())))
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    print(
        "| tool | files | objects | findings | wall s (best/median) | peak RSS MB "
        "| tree PSS MB | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        c = r.counts
        print(
            f"| {r.tool} | {_fmt(c.files)} | {_fmt(c.objects)} | {_fmt(c.findings)} "
            f"| {r.best:.2f} / {r.median:.2f} | {max(r.rss_mb):.0f} | {max(r.tree_mb):.0f} "
            f"| {statistics.mean(r.load):.2f} |"
        )
    sealbox = results[0]
    checkovs = results[1:]
    if not checkovs:
        return
    fastest = min(checkovs, key=lambda r: r.best)
    best_ratio = fastest.best / sealbox.best
    median_ratio = fastest.median / sealbox.median
    verdict = "met" if best_ratio >= TARGET_SPEEDUP else "MISSED"
    print(
        f"\nspeed-up over {fastest.tool}: {best_ratio:.1f}x best, {median_ratio:.1f}x median "
        f"(target >= {TARGET_SPEEDUP:g}x: {verdict})"
    )
    print(
        "checkov's objects are its resource count, which adds the pod template of every "
        "Deployment, StatefulSet, DaemonSet and Job (and one resource per secret-scanner hit); "
        "its files are the files it names in a failed check."
    )


def print_recall(corpus: CorpusStats, results: list[Result]) -> None:
    """Exposures found per category and in all, and whether sealbox's recall is at least the
    best checkov's."""
    labelled = {category: 0 for category in CATEGORIES}
    for exposure in corpus.exposures:
        labelled[exposure.category] += 1
    print("\nrecall on the corpus's labelled exposures (found / labelled):\n")
    print("| exposure | labelled | " + " | ".join(r.tool for r in results) + " |")
    print("|---|---:|" + "---:|" * len(results))
    for category, count in labelled.items():
        cells = " | ".join(f"{r.found.get(category, 0):,}" for r in results)
        print(f"| {category} | {count:,} | {cells} |")
    total = sum(labelled.values())
    recalls = [sum(r.found.values()) / total if total else 0.0 for r in results]
    print(f"| all | {total:,} | " + " | ".join(f"{x:.1%}" for x in recalls) + " |")
    if len(results) > 1:
        best = max(range(1, len(results)), key=lambda i: recalls[i])
        verdict = "met" if recalls[0] >= recalls[best] else "MISSED"
        print(
            f"\nrecall: sealbox {recalls[0]:.1%}, best checkov ({results[best].tool}) "
            f"{recalls[best]:.1%} (target: equal or better: {verdict})"
        )
    print("; ".join(f"{name}: {text}" for name, text in CATEGORIES.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="objects to generate")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool")
    parser.add_argument("--seed", type=int, default=5, help="corpus seed")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the corpus here, keep it")
    parser.add_argument("--skip-checkov", action="store_true", help="time sealbox only")
    parser.add_argument(
        "--checkov-venv", type=Path, default=DEFAULT_CHECKOV_VENV, help="checkov's own virtualenv"
    )
    args = parser.parse_args()
    checkov = None if args.skip_checkov else ensure_checkov(args.checkov_venv.expanduser())
    work = Path(tempfile.mkdtemp(prefix="sbx-audit-bench-"))
    try:
        root = args.keep or work / "repo"
        if root.exists() and any(root.iterdir()):
            raise SystemExit(f"{root} is not empty")
        corpus = write_corpus(root, args.count, args.seed)
        print(f"wrote {corpus.objects:,} objects in {corpus.files:,} files under {root}")
        sealbox = [sealbox_executable(), "audit", str(root), "-o", "json"]
        exposures = corpus.exposures
        results = [measure("sealbox audit", sealbox, args.repeat, work, exposures)]
        if checkov is not None:
            base = [str(checkov), "-d", str(root), *CHECKOV_ARGS]
            for name, extra in CHECKOV_RUNS:
                argv = [*base, *extra]
                results.append(measure(name, argv, args.repeat, work, exposures, env=CHECKOV_ENV))
        print_table(corpus, results)
        print_recall(corpus, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
