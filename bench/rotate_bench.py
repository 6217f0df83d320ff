"""Re-encrypting 10,000 Secrets after an encryption-at-rest key rotation, three ways in one run.

    .venv/bin/python -m bench.rotate_bench [--count 10000] [--concurrency 8] [--qps 200]

Starts etcd and one kube-apiserver (the test fixtures', from ``tests.integration``) with an
EncryptionConfiguration of aescbc ``key1`` alone, creates COUNT Secrets of about 1 KiB
(concurrently, through lightkube) in 10 namespaces, and restarts the apiserver on the same etcd
prefix with aesgcm ``key2`` first and aescbc ``key1`` second: the state a rotation is in after its
promote stage (a restart here, not a reload: what is measured is the re-encryption). Then it
re-encrypts every Secret, each way as its own process so its peak RSS is its own:

* the documented ritual, ``kubectl get secrets -A -o json | kubectl replace -f -`` (the kubectl
  of the test assets): the baseline;
* ``reencrypt_via_api`` (what ``sealbox rotate apply`` does without etcd flags) at
  ``--concurrency``/``--qps``, and again with the qps limit lifted (100,000), to show what the
  throttle costs;
* ``sealbox etcd rewrap --apply`` (offline, straight in etcd, compare-and-swap per batch), with
  the apiserver left running: the command needs no downtime, since it never overwrites a
  concurrent write.

Before each, every value is put back under ``key1`` by a rewrap with the old order (aescbc
``key1`` first), not timed, so each method starts from the same state with the same objects.
After each, an etcd scan counts the values still under ``key1`` (must be 0) and under ``key2``
(must be COUNT). Seconds are the wall time of the working process(es), start-up included.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from sealbox.encryption import StorageTransformers, load_config
from sealbox.kms.client import GrpcConnector
from sealbox.kube import KubeTarget, async_client
from sealbox.ops import RewrapOptions, config_prefixes, rewrap
from sealbox.rotate import reencrypt_via_api, verify_etcd
from sealbox.rotate.verify import StoredKey
from sealbox.storage.etcd import EtcdClient
from tests.integration.etcd_server import EtcdServer, running_etcd
from tests.integration.kube_apiserver import KubeApiserver, running_apiserver

NAMESPACES = 10
CREATORS = 32  # concurrent creates while seeding
OLD: StoredKey = ("aescbc", "key1")
NEW: StoredKey = ("aesgcm", "key2")
RITUAL = "`kubectl get secrets -A -o json | kubectl replace -f -`"
UNLIMITED_QPS = 100_000.0  # TokenBucket needs a finite rate; this one never makes a worker wait


def namespace(index: int) -> str:
    return f"bench-rotate-{index % NAMESPACES}"


def write_config(path: Path, providers: Sequence[dict[str, Any]]) -> Path:
    document = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": list(providers)}],
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def aes_key(kind: str, name: str) -> dict[str, Any]:
    secret = base64.b64encode(os.urandom(32)).decode()
    return {kind: {"keys": [{"name": name, "secret": secret}]}}


async def create_secrets(server: KubeApiserver, count: int) -> None:
    """``count`` Secrets of about 1 KiB over :data:`NAMESPACES` namespaces, ``CREATORS`` at once."""
    blob = base64.b64encode(os.urandom(768)).decode()
    async with async_client(KubeTarget(server.kubeconfig), timeout=60) as client:
        for index in range(min(count, NAMESPACES)):
            await client.create(Namespace(metadata=ObjectMeta(name=namespace(index))))
        pending = list(range(count))

        async def creator() -> None:
            while pending:
                index = pending.pop()
                token = base64.b64encode(os.urandom(24)).decode()
                meta = ObjectMeta(name=f"secret-{index:06d}", namespace=namespace(index))
                await client.create(Secret(metadata=meta, data={"token": token, "blob": blob}))

        await asyncio.gather(*(creator() for _ in range(CREATORS)))


@dataclass(frozen=True)
class Measured:
    """One child process (and whatever it waited for): wall seconds, peak RSS, its output."""

    seconds: float
    rss_mb: float
    returncode: int
    stdout: str
    stderr: str


# A small parent for the measured command: a child forked from the bench itself would count the
# bench's own resident pages in its peak RSS (the hiwater mark of the mm it replaced at exec).
_PROBE = """\
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as report:
    report.write(f"{seconds} {peak} {code}")
"""


def measured(argv: Sequence[str], directory: Path, name: str) -> Measured:
    """Run ``argv`` under :data:`_PROBE`, its output in files: wall seconds and the peak RSS of
    the largest process it ran (for a shell pipe, the larger kubectl)."""
    out, err, probe = (directory / f"{name}.{ext}" for ext in ("out", "err", "probe"))
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    command = [sys.executable, "-c", _PROBE, str(probe), *argv]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, env=env, start_new_session=True
        )
        try:
            process.wait()
        except BaseException:  # interrupted: neither the probe nor its child may outlive us
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            raise
    seconds, peak_kb, code = probe.read_text().split()
    return Measured(
        float(seconds),
        int(peak_kb) / 1024,
        int(code),
        out.read_text(errors="replace"),
        err.read_text(errors="replace"),
    )


def stored_keys(etcd: EtcdServer, prefix: str, config: Path) -> Counter[StoredKey]:
    """Stored Secret values per (provider, key name), from each value's prefix."""
    with EtcdClient(etcd.config(timeout_seconds=60)) as client:
        result = verify_etcd(client, load_config(config), ["secrets"], {OLD}, etcd_prefix=prefix)
    return result.by_key


def rewrap_in_process(etcd: EtcdServer, prefix: str, config: Path) -> int:
    """Every Secret value rewritten with ``config``'s first key (the reset between methods)."""
    encryption = load_config(config)
    options = RewrapOptions(dry_run=False, etcd_prefix=prefix)
    with EtcdClient(etcd.config(timeout_seconds=60)) as client, GrpcConnector() as connector:
        transformers = StorageTransformers(encryption, connector, etcd_prefix=prefix)
        summary = rewrap(client, config_prefixes(encryption, prefix), transformers, options)
    if summary.failed:
        raise SystemExit(f"reset failed for {len(summary.failed)} keys")
    return summary.rewritten


@dataclass
class Row:
    method: str
    objects: int
    seconds: float
    left: int
    notes: str


class Bench:
    """The running plane (etcd, the promoted apiserver, both configs) and the methods on it."""

    def __init__(
        self, args: argparse.Namespace, etcd: EtcdServer, server: KubeApiserver, work: Path
    ) -> None:
        self.args, self.etcd, self.server, self.work = args, etcd, server, work
        self.old_first = work / "old-first.yaml"  # key1, key2: the reset
        self.new_first = work / "new.yaml"  # key2, key1: what the apiserver runs
        self.resets: list[float] = []

    @property
    def prefix(self) -> str:
        return self.server.etcd_prefix

    def reset(self) -> None:
        """Every value back under key1 (not timed in the table; its time is in the footer)."""
        if stored_keys(self.etcd, self.prefix, self.new_first).get(NEW, 0) == 0:
            return
        started = time.perf_counter()
        rewrap_in_process(self.etcd, self.prefix, self.old_first)
        self.resets.append(time.perf_counter() - started)
        self.check(OLD)

    def check(self, expected: StoredKey) -> int:
        """How many values are still under key1; SystemExit unless all COUNT are ``expected``."""
        found = stored_keys(self.etcd, self.prefix, self.new_first)
        if found.get(expected, 0) != self.args.count or sum(found.values()) != self.args.count:
            shown = ", ".join(f"{p} {k}: {n}" for (p, k), n in sorted(found.items()))
            print(f"warning: expected {self.args.count} under {expected}, found {shown}")
        return found.get(OLD, 0)

    def ritual(self) -> Row:
        kubectl = f"{self.server.kubectl_path} --kubeconfig={self.server.kubeconfig}"
        pipe = f"set -o pipefail; {kubectl} get secrets -A -o json | {kubectl} replace -f -"
        run = measured(["bash", "-c", pipe], self.work, "ritual")
        replaced = sum(1 for line in run.stdout.splitlines() if line.endswith(" replaced"))
        conflicts = run.stderr.count("the object has been modified")
        errors = len([line for line in run.stderr.splitlines() if line.strip()]) - conflicts
        left = self.check(NEW)
        notes = (
            f"baseline; peak RSS {run.rss_mb:.0f} MB (the larger kubectl); {replaced} replaced, "
            f"{conflicts} conflicts, {errors} other error lines, no retries (exit "
            f"{run.returncode}); one PUT at a time; each kubectl holds the whole list"
        )
        return Row(RITUAL, replaced, run.seconds, left, notes)

    def via_api(self, concurrency: int, qps: float) -> Row:
        argv = [
            sys.executable,
            "-m",
            "bench.rotate_bench",
            "--api-worker",
            str(self.server.kubeconfig),
            f"--concurrency={concurrency}",
            f"--qps={qps:g}",
        ]
        run = measured(argv, self.work, f"api-c{concurrency}-q{qps:g}")
        if run.returncode != 0:
            raise SystemExit(f"reencrypt_via_api exited {run.returncode}: {run.stderr[-2000:]}")
        result = json.loads(run.stdout)
        left = self.check(NEW)
        limit = "no qps limit" if qps >= UNLIMITED_QPS else f"qps {qps:g}"
        notes = (
            f"concurrency {concurrency}, {limit}; peak RSS {run.rss_mb:.0f} MB; rewrote "
            f"{result['rewritten']}, unchanged {result['unchanged']}, {result['conflicts']} "
            f"conflicts, {len(result['failed'])} failed (transport retries not counted); "
            f"{result['seconds']:.1f} s inside the call"
        )
        name = f"reencrypt_via_api ({limit})"
        return Row(name, result["listed"], run.seconds, left, notes)

    def via_etcd(self) -> Row:
        argv = [
            sys.executable,
            "-m",
            "sealbox",
            "etcd",
            "rewrap",
            f"--endpoints={self.etcd.url}",
            f"--prefix={self.prefix}",
            f"--config={self.new_first}",
            "--apply",
            "-o",
            "json",
        ]
        run = measured(argv, self.work, "rewrap")
        if run.returncode != 0:
            raise SystemExit(f"sealbox etcd rewrap exited {run.returncode}: {run.stderr[-2000:]}")
        summary = json.loads(run.stdout)
        left = self.check(NEW)
        notes = (
            f"apiserver left running; peak RSS {run.rss_mb:.0f} MB; rewrote "
            f"{summary['rewritten']}, {summary['conflictsRetried']} conflicts retried, "
            f"{len(summary['failed'])} failed; 128 keys per etcd txn"
        )
        return Row("sealbox etcd rewrap --apply", summary["examined"], run.seconds, left, notes)


def _table(rows: list[Row], baseline: float) -> list[str]:
    lines = [
        "| method | objects | seconds | objects/s | left under old key | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        rate = row.objects / row.seconds if row.seconds else 0.0
        speed = f"{baseline / row.seconds:.1f}x the ritual; " if row.seconds else ""
        notes = row.notes if row is rows[0] else speed + row.notes
        method = row.method.replace("|", "\\|")  # a pipe inside a markdown cell
        lines.append(
            f"| {method} | {row.objects:,} | {row.seconds:.1f} | {rate:.0f} | {row.left} "
            f"| {notes} |"
        )
    return lines


def run(args: argparse.Namespace, work: Path) -> tuple[list[Row], Bench, float]:
    key1, key2 = aes_key("aescbc", "key1"), aes_key("aesgcm", "key2")
    only_old = write_config(work / "key1.yaml", [key1])
    prefix = "/registry-rotate-bench"
    (work / "etcd").mkdir()
    with running_etcd(work / "etcd") as etcd:
        flags = [f"--encryption-provider-config={only_old}"]
        with running_apiserver(work / "old", etcd, flags=flags, etcd_prefix=prefix) as server:
            started = time.perf_counter()
            asyncio.run(create_secrets(server, args.count))
            created = time.perf_counter() - started
        new_first = write_config(work / "new.yaml", [key2, key1])
        flags = [f"--encryption-provider-config={new_first}"]
        with running_apiserver(work / "new", etcd, flags=flags, etcd_prefix=prefix) as server:
            bench = Bench(args, etcd, server, work)
            write_config(bench.old_first, [key1, key2])
            bench.check(OLD)
            rows = [bench.ritual()]
            for qps in (args.qps, UNLIMITED_QPS):
                bench.reset()
                rows.append(bench.via_api(args.concurrency, qps))
            bench.reset()
            rows.append(bench.via_etcd())
    return rows, bench, created


def api_worker(args: argparse.Namespace) -> None:
    """The child process of the ``reencrypt_via_api`` rows: one call, its result as JSON."""

    async def call() -> dict[str, Any]:
        async with async_client(KubeTarget(Path(args.api_worker)), timeout=60) as client:
            started = time.perf_counter()
            result = await reencrypt_via_api(
                client, ["secrets"], concurrency=args.concurrency, qps=args.qps
            )
            return {**result.as_dict(), "seconds": time.perf_counter() - started}

    print(json.dumps(asyncio.run(call())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="Secrets (default 10,000)")
    parser.add_argument("--concurrency", type=int, default=8, help="reencrypt_via_api workers")
    parser.add_argument("--qps", type=float, default=200.0, help="reencrypt_via_api qps limit")
    parser.add_argument("--api-worker", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")
    if args.concurrency < 1 or not args.qps > 0:
        parser.error("--concurrency must be at least 1 and --qps positive")
    if args.api_worker:
        api_worker(args)
        return
    with tempfile.TemporaryDirectory(prefix="rotate-bench-") as temp:
        rows, bench, created = run(args, Path(temp))
    resets = ", ".join(f"{s:.1f}" for s in bench.resets)
    print(
        f"\n{args.count:,} Secrets (~1 KiB each, {NAMESPACES} namespaces; created in "
        f"{created:.1f} s, {CREATORS} at once) on one kube-apiserver (aesgcm key2 first, aescbc "
        f"key1 second) and one etcd, everything under key1 before each method; "
        f"{os.cpu_count()} cores shared with other work running at the same time (apiserver, "
        "etcd and the worker all on them), so absolute numbers are noisy, the ratios less so\n"
    )
    print("\n".join(_table(rows, rows[0].seconds)))
    print(
        f"\nleft under old key: values still under aescbc key1 in etcd afterwards (etcd scan). "
        f"Resets between methods: `sealbox etcd rewrap` in-process with aescbc key1 first "
        f"({resets} s), the same objects each time, not recreated."
    )


if __name__ == "__main__":
    main()
