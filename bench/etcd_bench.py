"""etcd tools at scale: scan, decrypt-verifying scan and rewrap of 100,000 Secrets.

    .venv/bin/python bench/etcd_bench.py [--count 100000]

Starts a local etcd and ``sealbox kms serve`` (local keyring) in a temp dir, seeds COUNT
Secrets of about 1 KiB as an unencrypted cluster stores them, then times, each as its own
process and side by side with ``etcdctl get --prefix`` dumping the same keys:

* ``sealbox etcd scan`` (classify only)          target <= 1.5x the raw dump (also with -o json,
  which writes one JSON object per key)
* ``sealbox etcd rewrap --apply`` to KMS v2      target <= 10x the raw dump
* ``sealbox etcd scan --config`` (decrypt all)   target <= 3x the raw dump (and with -o json)

and reports each sealbox process's peak RSS (target < 300 MB, not growing with COUNT).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

from sealbox.demo import running_services
from sealbox.storage import CasWrite, encode_secret
from sealbox.storage.etcd import EtcdClient, EtcdConfig

SEALBOX = [sys.executable, "-m", "sealbox"]
CONFIG = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - kms: {{apiVersion: v2, name: sealbox, endpoint: "{endpoint}", timeout: 3s}}
  - identity: {{}}
"""


def seed(url: str, count: int) -> None:
    payload = os.urandom(700)
    with EtcdClient(EtcdConfig(endpoints=(url,))) as client:
        batch: list[CasWrite] = []
        for index in range(count):
            namespace, name = f"ns-{index % 50}", f"secret-{index:06d}"
            value = encode_secret(
                name=name, namespace=namespace, data={"blob": payload, "id": str(index).encode()}
            )
            batch.append(CasWrite(f"/registry/secrets/{namespace}/{name}".encode(), value, 0))
            if len(batch) == 128:
                client.compare_and_swap(batch)
                batch = []
        if batch:
            client.compare_and_swap(batch)


def timed(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one child process; its output is discarded."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "e = time.perf_counter() - t\n"
        "assert r.returncode == 0, r.stderr.decode()[-2000:]\n"
        "print(e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), int(out[1]) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    etcdctl = shutil.which("etcdctl")
    assert etcdctl, "etcdctl is not installed (apt-get install etcd-client)"
    with running_services() as services:
        config = services.workdir / "encryption-config.yaml"
        config.write_text(CONFIG.format(endpoint=services.kms_endpoint))
        started = time.perf_counter()
        seed(services.etcd_url, args.count)
        print(
            f"seeded {args.count:,} Secrets in {time.perf_counter() - started:.1f}s "
            f"({os.cpu_count()} CPUs)"
        )
        os.environ["ETCDCTL_API"] = "3"
        dump = [etcdctl, "--endpoints", services.etcd_url, "get", "--prefix", "/registry/secrets/"]
        endpoints = ["--endpoints", services.etcd_url]
        rows: list[tuple[str, float, int, float, str]] = []
        raw_plain, _ = timed(dump)
        scan_s, scan_mb = timed([*SEALBOX, "etcd", "scan", *endpoints])
        rows.append(("scan (classify, table)", scan_s, scan_mb, raw_plain, "<= 1.5x"))
        json_s, json_mb = timed([*SEALBOX, "etcd", "scan", *endpoints, "-o", "json"])
        rows.append(("scan (classify, -o json)", json_s, json_mb, raw_plain, "(every object)"))
        rewrap_s, rewrap_mb = timed(
            [*SEALBOX, "etcd", "rewrap", *endpoints, "-c", str(config), "--apply"]
        )
        rows.append(("rewrap to kms v2", rewrap_s, rewrap_mb, raw_plain, "<= 10x"))
        raw_encrypted, _ = timed(dump)
        gates = ["--fail-on", "stale", "--fail-on", "undecryptable", "--fail-on", "plaintext"]
        verify = [*SEALBOX, "etcd", "scan", *endpoints, "-c", str(config), *gates]
        verify_s, verify_mb = timed(verify)
        rows.append(("scan --config (decrypt, table)", verify_s, verify_mb, raw_encrypted, "<= 3x"))
        verify_json_s, verify_json_mb = timed([*verify, "-o", "json"])
        rows.append(
            ("scan --config (decrypt, -o json)", verify_json_s, verify_json_mb, raw_encrypted, "")
        )
    print(
        f"\netcdctl get --prefix (raw dump): {raw_plain:.2f}s plaintext, "
        f"{raw_encrypted:.2f}s encrypted\n"
    )
    print("| job | seconds | x raw dump | target | peak RSS MB |")
    print("|---|---:|---:|---|---:|")
    for name, seconds, rss, base, target in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / base:.2f} | {target} | {rss} |")


if __name__ == "__main__":
    main()
