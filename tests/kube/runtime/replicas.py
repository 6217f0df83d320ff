"""Run replicas of the test controller (``replica.py``) as a least-privilege ServiceAccount.

``runtime_identity`` applies ``deploy/rbac/controller-runtime-role.yaml`` into a test namespace
(cluster-scoped names get the namespace as a suffix so tests stay apart), adds the Role the test
controller needs for its own resource (ConfigMaps: get, list, watch, patch) and returns a
kubeconfig holding a token for that ServiceAccount (``kubectl create token``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import ManagedProcess

__all__ = ["RBAC_FILE", "Replica", "eventually", "runtime_identity"]

REPO = Path(__file__).resolve().parents[3]
RBAC_FILE = REPO / "deploy" / "rbac" / "controller-runtime-role.yaml"
_CONFIGMAP_ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: test-controller-configmaps}
rules:
  - apiGroups: [""]
    resources: ["configmaps"]
    verbs: ["get", "list", "watch", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: test-controller-configmaps}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: test-controller-configmaps}
subjects: [{kind: ServiceAccount, name: sealbox-controller}]
"""


def _moved(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """``obj`` from the template's namespace into ``namespace``."""
    meta = obj["metadata"]
    if "namespace" in meta:
        meta["namespace"] = namespace
    else:  # cluster-scoped: one per test namespace
        meta["name"] = f"{meta['name']}-{namespace}"
        if obj.get("roleRef", {}).get("kind") == "ClusterRole":
            obj["roleRef"]["name"] = f"{obj['roleRef']['name']}-{namespace}"
    for subject in obj.get("subjects", []):
        subject["namespace"] = namespace
    return obj


def runtime_identity(apiserver: KubeApiserver, namespace: str, directory: Path) -> Path:
    """A kubeconfig for the ServiceAccount the RBAC template grants, in ``namespace``."""
    objects = [_moved(o, namespace) for o in yaml.safe_load_all(RBAC_FILE.read_text()) if o]
    for extra in yaml.safe_load_all(_CONFIGMAP_ROLE):
        extra["metadata"]["namespace"] = namespace
        extra.get("subjects", [{}])[0]["namespace"] = namespace
        objects.append(extra)
    apiserver.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
    token = apiserver.kubectl(
        "create", "token", "sealbox-controller", "-n", namespace, "--duration=1h"
    ).stdout.strip()
    document = apiserver.kubeconfig_document("admin")
    document["users"] = [{"name": "admin", "user": {"token": token}}]
    document["contexts"][0]["context"]["namespace"] = namespace
    path = directory / f"kubeconfig-sa-{namespace}.yaml"
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(document))
    return path


@dataclass
class Replica:
    """One test-controller process and its journal (JSON lines, see ``replica.py``)."""

    identity: str
    journal: Path
    process: ManagedProcess

    @classmethod
    def start(
        cls, identity: str, *, kubeconfig: Path, namespace: str, directory: Path, **flags: float
    ) -> Replica:
        journal = directory / f"{identity}.jsonl"
        argv = [
            sys.executable,
            "-m",
            "tests.kube.runtime.replica",
            f"--kubeconfig={kubeconfig}",
            f"--namespace={namespace}",
            f"--identity={identity}",
            f"--log={journal}",
            *(f"--{name.replace('_', '-')}={value}" for name, value in flags.items()),
        ]
        env = {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")])}
        process = ManagedProcess(argv, log_path=directory / f"{identity}.log", env=env, cwd=REPO)
        return cls(identity, journal, process.start())

    def entries(self, event: str | None = None) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        lines = [json.loads(line) for line in self.journal.read_text().splitlines() if line]
        return [e for e in lines if event is None or e["event"] == event]

    def leading(self) -> bool:
        return bool(self.entries("leading"))

    def intervals(self) -> list[tuple[str, float, float | None]]:
        """``(key, start, end)`` of each reconcile (end None if the process died inside it)."""
        open_starts: dict[str, float] = {}
        result: list[tuple[str, float, float | None]] = []
        for entry in self.entries():
            if entry["event"] == "start":
                open_starts[entry["key"]] = entry["t"]
            elif entry["event"] == "end":
                result.append((entry["key"], open_starts.pop(entry["key"]), entry["t"]))
        result.extend((key, start, None) for key, start in open_starts.items())
        return result


async def eventually(check: Callable[[], bool], *, what: str, timeout: float = 30.0) -> None:
    """``wait_until`` for a test's own event loop: poll ``check`` between other tasks' steps."""

    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
