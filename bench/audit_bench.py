"""Audit at scale: ``sealbox audit`` and checkov side by side on one synthetic GitOps repository.

    .venv/bin/python bench/audit_bench.py [--count 10000] [--repeat 3] [--keep DIR]
                                          [--skip-checkov] [--checkov-venv DIR]

Writes COUNT Kubernetes objects (see ``_audit_corpus.py``: every workload kind, RBAC with
aggregated ClusterRoles, plaintext Secrets, SealedSecrets, ConfigMaps; several documents per
file, some ``List`` kinds and JSON) from a fixed seed, then times, each run as its own process:

* ``sealbox audit DIR -o json``
* ``checkov -d DIR --framework kubernetes -o json --quiet``, with and without ``--compact``
  (which leaves the code blocks out of its report)

and prints wall time (best and median of REPEAT runs), memory, the files, objects and findings
each tool reports, and the speed-up of sealbox over the faster checkov (target: at least 5x).
It also fails if the sealbox report contains any of the corpus's fake secret values.

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

from _audit_corpus import CorpusStats, write_corpus

CHECKOV_VERSION = "3.3.30"
DEFAULT_CHECKOV_VENV = Path.home() / ".cache" / "sealbox-bench" / "checkov-venv"
TARGET_SPEEDUP = 5.0
CHECKOV_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
    "LOG_LEVEL": "WARNING",
}
CHECKOV_ARGS = ("--framework", "kubernetes", "-o", "json", "--quiet", "--skip-download")
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


def measure(tool: str, argv: Sequence[str], repeat: int, work: Path, **kw: Any) -> Result:
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
        "Deployment, StatefulSet, DaemonSet and Job; its files are the files it names in a "
        "failed check."
    )


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
        results = [measure("sealbox audit", sealbox, args.repeat, work)]
        if checkov is not None:
            base = [str(checkov), "-d", str(root), *CHECKOV_ARGS]
            for name, extra in (("checkov", []), ("checkov --compact", ["--compact"])):
                results.append(measure(name, [*base, *extra], args.repeat, work, env=CHECKOV_ENV))
        print_table(corpus, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
