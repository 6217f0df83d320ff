"""``apply_rotation`` against a real etcd and kube-apiserver: aescbc -> aesgcm, end to end.

The apiserver runs without automatic reload: a watcher restarts it (same port, same etcd
prefix) whenever the config file's bytes change, which is what an operator does without reload
and takes seconds instead of the minute a reload poll would. The gate still has to see the
apiserver report the new file's hash on ``/metrics`` before a stage goes on.

One module-scoped control plane serves every test; each test starts from an aescbc config with
Secrets written under it, so each test is a whole rotation of its own.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sealbox.encryption import classify_value, config_hash
from sealbox.errors import RotationBlocked
from sealbox.kube import KubeTarget, load_config
from sealbox.rotate import EtcdAccess, RotationOutcome, apply_rotation
from sealbox.rotate.files import staged_path, state_path
from sealbox.rotate.gate import loaded_everywhere
from sealbox.rotate.plan import STAGES
from sealbox.rotate.status import rotation_status
from sealbox.storage.etcd import EtcdClient, EtcdConfig
from tests.integration.etcd_server import EtcdServer
from tests.integration.kube_apiserver import KubeApiserver, running_apiserver
from tests.integration.processes import wait_until

NAMESPACE = "default"
_COUNT = 6
# One aescbc key for every reset: a restarted apiserver must still read whatever an earlier
# test left under it (a fresh key per test would make those values undecodable).
_KEY1 = base64.b64encode(secrets.token_bytes(32)).decode()


def _aescbc_config() -> bytes:
    return (
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        "  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n"
        f"            - name: key1\n              secret: {_KEY1}\n      - identity: {{}}\n"
    ).encode()


@dataclass
class Plane:
    """The apiserver, its config file, and the watcher that restarts it on a change."""

    server: KubeApiserver
    config: Path
    etcd: EtcdServer
    restarts: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def restart(self) -> None:
        with self.lock:
            self.server.process.stop()
            self.server.process.start()
            wait_until(self.server.ready, timeout=90, what="kube-apiserver restarted")
            self.restarts += 1

    def watch(self) -> None:
        seen = hashlib.sha256(self.config.read_bytes()).digest()
        while not self.stop.wait(0.2):
            try:
                now = hashlib.sha256(self.config.read_bytes()).digest()
            except FileNotFoundError:
                continue
            if now != seen:
                seen = now
                try:
                    self.restart()
                except TimeoutError:  # the test waiting on it fails; keep watching
                    continue

    def replace(self, data: bytes) -> None:
        """Put ``data`` in the config and wait until the watcher has restarted the apiserver
        (nothing to do when the config holds ``data`` already)."""
        if self.config.read_bytes() == data:
            return
        temporary = self.config.with_name(".config.tmp")  # atomic: never seen half written
        temporary.write_bytes(data)
        os.replace(temporary, self.config)
        # the apiserver's own word that it runs these bytes: a restart counter can be satisfied
        # by a restart for an earlier change still finishing
        kube = load_config(KubeTarget(kubeconfig=self.server.kubeconfig))
        expected = config_hash(data)
        wait_until(
            lambda: loaded_everywhere(kube, [self.server.url], expected)[0].loaded,
            timeout=120,
            what="kube-apiserver restarted on the changed file",
        )

    def reset(self) -> None:
        """A fresh aescbc config, with nothing of an earlier test's rotation beside it."""
        for path in self.config.parent.glob(f"{self.config.name}.*"):
            path.unlink()
        self.replace(_aescbc_config())


@pytest.fixture(scope="module")
def plane(etcd_server: EtcdServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    directory = tmp_path_factory.mktemp("rotate")
    config = directory / "encryption-config.yaml"
    config.write_bytes(_aescbc_config())
    config.chmod(0o600)
    flags = [f"--encryption-provider-config={config}"]
    with running_apiserver(directory / "apiserver", etcd_server, flags=flags) as server:
        plane = Plane(server, config, etcd_server)
        watcher = threading.Thread(target=plane.watch, daemon=True)
        watcher.start()
        try:
            yield plane
        finally:
            plane.stop.set()
            watcher.join(timeout=120)


@dataclass
class Rotation:
    plane: Plane
    names: list[str]
    lines: list[str] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.plane.config

    def run(self, *, etcd: bool = False, stop_after: str | None = None) -> RotationOutcome:
        access = (
            EtcdAccess(EtcdConfig(endpoints=(self.plane.etcd.url,)), self.plane.server.etcd_prefix)
            if etcd
            else None
        )
        return asyncio.run(
            apply_rotation(
                self.config,
                "aesgcm",
                kube=KubeTarget(kubeconfig=self.plane.server.kubeconfig),
                report=self.lines.append,
                apiservers=[self.plane.server.url],
                etcd=access,
                concurrency=4,
                qps=100,
                timeout=120,
                poll=0.5,
                now=datetime.now(UTC),
                stop_after=stop_after,
            )
        )

    def stored(self) -> dict[str, tuple[str, str]]:
        """Each Secret's stored (provider, key name), read from etcd."""
        prefix = f"{self.plane.server.etcd_prefix}/secrets/{NAMESPACE}/"
        found: dict[str, tuple[str, str]] = {}
        with EtcdClient(EtcdConfig(endpoints=(self.plane.etcd.url,))) as client:
            for kv in client.iter_prefix(prefix.encode()):
                name = kv.key.decode().rsplit("/", 1)[-1]
                if name in self.names:
                    found[name] = classify_value(kv.value)
        return found

    def readable(self) -> None:
        for name in self.names:
            out = self.plane.server.kubectl(
                "get", "secret", name, "-n", NAMESPACE, "-o", "jsonpath={.data.v}"
            )
            assert base64.b64decode(out.stdout).decode() == f"value-{name}", name


@pytest.fixture
def rotation(plane: Plane) -> Iterator[Rotation]:
    plane.reset()
    tag = secrets.token_hex(3)
    names = [f"r-{tag}-{index}" for index in range(_COUNT)]
    made = Rotation(plane, names)
    try:
        for name in names:
            plane.server.kubectl(
                "create",
                "secret",
                "generic",
                name,
                "-n",
                NAMESPACE,
                f"--from-literal=v=value-{name}",
            )
        assert set(made.stored().values()) == {("aescbc", "key1")}
        yield made
    finally:
        _delete_in_etcd(plane, names)


def _delete_in_etcd(plane: Plane, names: list[str]) -> None:
    """The next test's config may not read these (a re-encryption would fail on them), nor
    may the config a failed test left: delete them in etcd, where no decoding is needed."""
    prefix = f"{plane.server.etcd_prefix}/secrets/{NAMESPACE}/"
    with EtcdClient(EtcdConfig(endpoints=(plane.etcd.url,))) as client:
        for name in names:
            client.delete(f"{prefix}{name}".encode())


def _assert_rotated(rotation: Rotation, outcome: RotationOutcome, *, backups: int = 3) -> None:
    assert outcome.complete
    stored = rotation.stored()
    assert len(stored) == _COUNT
    providers = {provider for provider, _ in stored.values()}
    assert providers == {"aesgcm"}, stored
    text = rotation.config.read_text()
    assert "aescbc" not in text
    assert "key1" not in text
    assert "aesgcm" in text
    rotation.readable()
    record = state_path(rotation.config)
    leftovers = [p.name for p in rotation.config.parent.glob("*.rotation*")]
    assert leftovers == [record.name]  # the staged files (they hold keys) are gone
    assert record.stat().st_mode & 0o777 == 0o600
    body = json.loads(record.read_text())
    assert body["completed"] is True
    assert body["target"] == "aesgcm"
    assert body["finalHash"] == config_hash(rotation.config.read_bytes())
    assert "secret" not in record.read_text()
    kept = list(rotation.config.parent.glob(f"{rotation.config.name}.bak-*"))
    assert len(kept) == backups  # before add, promote and remove (of each rotation)
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in kept)
    status = rotation_status(rotation.config)
    assert not status.in_progress
    assert status.completed is not None
    assert status.completed.target == "aesgcm"
    assert status.completed.current  # the file is the one the rotation left


def test_aescbc_to_aesgcm_through_the_api(rotation: Rotation) -> None:
    outcome = rotation.run()
    assert outcome.ran == STAGES
    assert outcome.reencrypt is not None
    assert outcome.reencrypt["rewritten"] >= _COUNT
    assert outcome.verify is not None
    assert outcome.verify["passed"]
    _assert_rotated(rotation, outcome)
    assert any("waiting until every apiserver has loaded" in line for line in rotation.lines)
    joined = "\n".join(rotation.lines)
    assert "secret:" not in joined


def test_resume_after_each_stage_with_etcd(rotation: Rotation) -> None:
    """Stopped right after each stage (as a crash there would), status says where it stands;
    the next run goes on from there and the keys are the ones the first run drew."""
    staged: dict[str, bytes] = {}
    for position, stage in enumerate(STAGES[:-1]):
        outcome = rotation.run(etcd=True, stop_after=stage)
        assert outcome.stopped_after == stage
        assert outcome.ran == (stage,)
        assert outcome.skipped == STAGES[:position]
        status = rotation_status(rotation.config)
        assert status.in_progress
        assert status.target == "aesgcm"
        assert status.done == STAGES[: position + 1]
        assert status.next_stage == STAGES[position + 1]
        files = {view.name: view.file for view in status.stages if view.file is not None}
        assert set(files) == {"add", "promote", "remove"}
        for name, path in files.items():
            assert path is not None
            assert path.stat().st_mode & 0o777 == 0o600
            staged.setdefault(name, path.read_bytes())
            assert path.read_bytes() == staged[name]  # the same keys on every run
        if stage == "reencrypt":
            assert {p for p, _ in rotation.stored().values()} == {"aesgcm"}
        if stage in ("add", "promote"):
            assert "key1" in rotation.config.read_text()
    outcome = rotation.run(etcd=True)
    assert outcome.ran == ("remove",)
    assert outcome.verify is None
    assert rotation.config.read_bytes() == staged["remove"]
    _assert_rotated(rotation, outcome)


def test_verify_refuses_to_remove_a_key_still_in_use(rotation: Rotation) -> None:
    """A value written under the old key after re-encryption (here: the old config put back for
    one write) fails verify: the old key stays in the file, and the next run re-encrypts before
    it verifies again, then finishes."""
    rotation.run(etcd=True, stop_after="reencrypt")
    promoted = rotation.config.read_bytes()
    # the add stage's file: aescbc key1 first, the new aesgcm key second (reads both)
    rotation.plane.replace(staged_path(rotation.config, "add").read_bytes())
    wait_until(lambda: _write_old(rotation), timeout=60, what="a write under the old key")
    rotation.plane.replace(promoted)
    with pytest.raises(RotationBlocked, match="verify failed"):
        rotation.run(etcd=True)
    status = rotation_status(rotation.config)
    assert status.next_stage == "reencrypt"
    assert "key1" in rotation.config.read_text()  # the remove stage's file was never written
    assert "verify" not in status.done
    rotation.run(etcd=True)
    assert "key1" not in rotation.config.read_text()
    assert {provider for provider, _ in rotation.stored().values()} == {"aesgcm"}


def _write_old(rotation: Rotation) -> bool:
    name = rotation.names[0]
    rotation.plane.server.kubectl(
        "label", "secret", name, "-n", NAMESPACE, f"touch={secrets.token_hex(2)}", "--overwrite"
    )
    return rotation.stored()[name] == ("aescbc", "key1")


def test_rerun_after_the_last_stage_is_a_no_op(rotation: Rotation) -> None:
    """Stopped after remove, before the clean-up: a rerun does nothing but say so and clean."""
    outcome = rotation.run(etcd=True, stop_after="remove")
    assert outcome.stopped_after == "remove"
    assert outcome.ran == STAGES
    status = rotation_status(rotation.config)
    assert status.done == STAGES
    assert status.next_stage is None
    final = rotation.config.read_bytes()
    rotation.lines.clear()
    again = rotation.run(etcd=True)
    assert again.already_complete
    assert again.ran == ()
    assert again.skipped == STAGES
    assert any("already complete" in line for line in rotation.lines)
    assert rotation.config.read_bytes() == final
    _assert_rotated(rotation, again)
    # once the record is written, the same rotation of the same file is a no-op that says when
    rotation.lines.clear()
    third = rotation.run(etcd=True)
    assert third.already_complete
    assert third.ran == ()
    assert rotation.config.read_bytes() == final
    finished = json.loads(state_path(rotation.config).read_text())["finished"]
    assert any(f"rotated to aesgcm at {finished}" in line for line in rotation.lines)
    assert not rotation_status(rotation.config).in_progress


def test_a_changed_file_after_a_rotation_starts_a_new_one(rotation: Rotation) -> None:
    """The record only covers the file the rotation left: once that file changes, the same
    --to is a new rotation (a new aesgcm key replaces the one the first rotation added)."""
    rotation.run(etcd=True)
    first = rotation.config.read_text()
    changed = first.replace("- identity: {}", "- identity: {}\n# edited")
    assert changed != first
    rotation.plane.replace(changed.encode())
    again = rotation.run(etcd=True)
    assert not again.already_complete
    assert again.ran == STAGES
    assert _key_names(rotation.config.read_text()) != _key_names(first)
    _assert_rotated(rotation, again, backups=6)


def _key_names(text: str) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if "name:" in line]
