"""``sealbox etcd rewrap`` against a real etcd: every provider, a concurrent writer, a kill."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.encryption import StorageTransformers, parse_config
from sealbox.kms.client import GrpcConnector
from sealbox.ops import RewrapOptions, RewrapSummary, rewrap
from sealbox.storage import codec
from sealbox.storage.etcd import EtcdClient
from tests.integration.etcd_server import EtcdServer, running_etcd
from tests.integration.plugin_process import SEALBOX
from tests.kms_fixtures import RECORDED, RecordedSetup
from tests.test_recorded_vectors import _check_object
from tests.vectors import load_etcd_values, load_expected

pytestmark = pytest.mark.integration
runner = CliRunner()
_, RECORDED_VALUES = load_etcd_values(RECORDED)
EXPECTED = load_expected(RECORDED)


@pytest.fixture
def etcd_server(tmp_path: Path) -> Iterator[EtcdServer]:
    directory = tmp_path / "etcd"
    directory.mkdir()
    with running_etcd(directory) as server:
        yield server


def _reorder(config_text: str, first: str) -> str:
    """The recorded config with provider ``first`` (a type, or a kms name) moved to the front;
    identity stays listed, last, so plaintext stays readable."""
    document = yaml.safe_load(config_text)
    providers = document["resources"][0]["providers"]

    def chosen(provider: dict[str, Any]) -> bool:
        kind, body = next(iter(provider.items()))
        return bool(kind == first or (kind == "kms" and body.get("name") == first))

    front = [p for p in providers if chosen(p)]
    identity = [p for p in providers if "identity" in p]
    rest = [p for p in providers if p not in front and p not in identity]
    assert len(front) == 1, first
    document["resources"][0]["providers"] = front + rest + identity
    return str(yaml.safe_dump(document))


def _read_all(server: EtcdServer, config_text: str) -> dict[str, tuple[str, bool, bytes]]:
    config = parse_config(config_text, "check")
    out: dict[str, tuple[str, bool, bytes]] = {}
    with EtcdClient(server.config()) as client, GrpcConnector() as connector:
        transformers = StorageTransformers(config, connector)
        for kv in client.iter_prefix(b"/registry/"):
            key = kv.key.decode()
            result = transformers.read(key, kv.value)
            out[key] = (result.provider, result.stale, result.data)
    return out


@pytest.mark.parametrize(
    ("first", "provider"),
    [
        ("aesgcm", "aesgcm"),
        ("secretbox", "secretbox"),
        ("aescbc", "aescbc"),
        ("kms2-pub", "kms-v2"),
        ("kms1-pub", "kms-v1"),
    ],
)
def test_rewrap_recorded_values_to_each_provider(
    etcd_server: EtcdServer, recorded: RecordedSetup, tmp_path: Path, first: str, provider: str
) -> None:
    with EtcdClient(etcd_server.config()) as client:
        for key, value in RECORDED_VALUES.items():
            client.put(key.encode(), value)
    config_text = _reorder(recorded.config_text, first)
    config = tmp_path / "encryption-config.yaml"
    config.write_text(config_text)
    result = runner.invoke(
        app, ["etcd", "rewrap", "-c", str(config), "--endpoints", etcd_server.url, "--apply"]
    )
    assert result.exit_code == 0, result.stderr
    assert "rewrote" in result.stdout
    state = _read_all(etcd_server, config_text)
    assert set(state) == set(RECORDED_VALUES)
    for key, (written_by, stale, data) in state.items():
        assert (written_by, stale) == (provider, False), key
        _check_object(codec.decode_object(data), EXPECTED[key])
    again = runner.invoke(
        app, ["etcd", "rewrap", "-c", str(config), "--endpoints", etcd_server.url, "--apply"]
    )
    assert "rewrote 0, already current 24" in again.stdout


def test_dry_run_is_the_default_and_writes_nothing(
    etcd_server: EtcdServer, recorded: RecordedSetup, tmp_path: Path
) -> None:
    with EtcdClient(etcd_server.config()) as client:
        for key, value in RECORDED_VALUES.items():
            client.put(key.encode(), value)
        before = {kv.key: kv.mod_revision for kv in client.iter_keys(b"/registry/")}
        config = tmp_path / "c.yaml"
        config.write_text(_reorder(recorded.config_text, "secretbox"))
        result = runner.invoke(
            app, ["etcd", "rewrap", "-c", str(config), "--endpoints", etcd_server.url, "-o", "json"]
        )
        assert result.exit_code == 0, result.stderr
        assert '"rewritten": 21' in result.stdout  # everything but the 3 secretbox values
        assert '"dryRun": true' in result.stdout
        after = {kv.key: kv.mod_revision for kv in client.iter_keys(b"/registry/")}
    assert after == before


def test_refuses_to_write_plaintext_unless_allowed(
    etcd_server: EtcdServer, recorded: RecordedSetup, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(recorded.config_text)  # identity is listed first there
    argv = ["etcd", "rewrap", "-c", str(config), "--endpoints", etcd_server.url]
    refused = runner.invoke(app, argv)
    assert refused.exit_code == 2
    assert "providers[0] is identity" in refused.stderr
    assert runner.invoke(app, [*argv, "--allow-plaintext"]).exit_code == 0


OLD = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aesgcm: {{keys: [{{name: old, secret: {gcm}}}]}}
"""
NEW = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - secretbox: {{keys: [{{name: new, secret: {box}}}]}}
  - aesgcm: {{keys: [{{name: old, secret: {gcm}}}]}}
"""


def _configs() -> tuple[str, str]:
    gcm = base64.b64encode(os.urandom(32)).decode()
    box = base64.b64encode(os.urandom(32)).decode()
    return OLD.format(gcm=gcm), NEW.format(gcm=gcm, box=box)


def _seed(server: EtcdServer, old_text: str, count: int) -> dict[str, bytes]:
    old = StorageTransformers(parse_config(old_text, "old"), GrpcConnector())
    plaintexts = {}
    with EtcdClient(server.config()) as client:
        for i in range(count):
            key = f"/registry/secrets/ns{i % 7}/s{i:05d}"
            plaintext = codec.encode_secret(
                name=f"s{i:05d}", namespace=f"ns{i % 7}", data={"v": f"original-{i}".encode()}
            )
            client.put(key.encode(), old.write(key, plaintext))
            plaintexts[key] = plaintext
    return plaintexts


def test_a_concurrent_writer_is_never_overwritten(etcd_server: EtcdServer) -> None:
    old_text, new_text = _configs()
    expected = _seed(etcd_server, old_text, 1500)
    new = StorageTransformers(parse_config(new_text, "new"), GrpcConnector())
    keys = sorted(expected)
    done = threading.Event()
    writes = 0

    def writer() -> None:
        nonlocal writes
        rng = random.Random(7)
        with EtcdClient(etcd_server.config()) as client:
            while not done.is_set():
                key = rng.choice(keys)
                name = key.rsplit("/", 1)[1]
                namespace = key.split("/")[3]
                plaintext = codec.encode_secret(
                    name=name, namespace=namespace, data={"v": f"writer-{writes}".encode()}
                )
                # An apiserver with the new config writes with the new provider.
                client.put(key.encode(), new.write(key, plaintext))
                expected[key] = plaintext
                writes += 1

    thread = threading.Thread(target=writer)
    thread.start()
    summary = RewrapSummary()
    try:
        with EtcdClient(etcd_server.config()) as client:
            rewrap(
                client,
                [b"/registry/secrets/"],
                new,
                RewrapOptions(dry_run=False, batch_size=16),
                summary=summary,
            )
    finally:
        done.set()
        thread.join()
    assert writes > 50
    assert summary.conflicts > 0  # the race really happened
    assert summary.failed == []
    with EtcdClient(etcd_server.config()) as client:
        for kv in client.iter_prefix(b"/registry/secrets/"):
            key = kv.key.decode()
            result = new.read(key, kv.value)
            assert (result.provider, result.stale) == ("secretbox", False), key
            assert result.data == expected[key], key


def test_killed_midway_then_rerun_finishes_with_nothing_corrupt(
    etcd_server: EtcdServer, tmp_path: Path
) -> None:
    old_text, new_text = _configs()
    expected = _seed(etcd_server, old_text, 3000)
    config = tmp_path / "new.yaml"
    config.write_text(new_text)
    argv = [*SEALBOX, "etcd", "rewrap", "-c", str(config), "--endpoints", etcd_server.url]
    process = subprocess.Popen(
        [*argv, "--apply", "--batch-size", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def rewritten() -> int:
        with EtcdClient(etcd_server.config()) as client:
            return sum(
                kv.value.startswith(b"k8s:enc:secretbox:")
                for kv in client.iter_prefix(b"/registry/secrets/")
            )

    deadline = time.monotonic() + 60
    while rewritten() < 200 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    partial = rewritten()
    assert 0 < partial < 3000, partial
    rerun = subprocess.run([*argv, "--apply"], capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"already current {partial}" in rerun.stdout
    new = StorageTransformers(parse_config(new_text, "new"), GrpcConnector())
    with EtcdClient(etcd_server.config()) as client:
        count = 0
        for kv in client.iter_prefix(b"/registry/secrets/"):
            result = new.read(kv.key.decode(), kv.value)
            assert (result.provider, result.data) == ("secretbox", expected[kv.key.decode()])
            count += 1
    assert count == 3000


def test_rewrap_reads_only_what_the_config_covers(etcd_server: EtcdServer, tmp_path: Path) -> None:
    old_text, new_text = _configs()
    _seed(etcd_server, old_text, 5)
    with EtcdClient(etcd_server.config()) as client:
        for index in range(3):  # what a real cluster is full of, and the config does not cover
            client.put(f"/registry/events/ns/e{index}".encode(), b"k8s\x00event")
            client.put(f"/registry/leases/kube-system/l{index}".encode(), b"k8s\x00lease")
    config = tmp_path / "new.yaml"
    config.write_text(new_text)
    argv = ["etcd", "rewrap", "-c", str(config), "--endpoints", etcd_server.url]
    result = runner.invoke(app, [*argv, "-o", "json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["prefixes"] == ["/registry/secrets/"]
    assert (document["examined"], document["rewritten"]) == (5, 5)
    table = runner.invoke(app, argv)
    assert table.stdout.splitlines()[0] == "walked /registry/secrets/"
    assert "examined 5 objects, would rewrite 5" in table.stdout
    everything = runner.invoke(app, [*argv, "--all-resources", "-o", "json"])
    document = json.loads(everything.stdout)
    assert document["prefixes"] == ["/registry/"]
    assert document["examined"] == 11
    narrowed = runner.invoke(app, [*argv, "-r", "configmaps"])
    assert narrowed.exit_code == 2
    assert narrowed.stderr.startswith(f"error: --resource 'configmaps': {config} has no entry")
    typo = runner.invoke(app, [*argv, "-r", "secret"])
    assert typo.exit_code == 2
    assert typo.stderr == "error: --resource 'secret': no such resource; did you mean secrets?\n"


def test_a_rewrap_of_nothing_says_so(etcd_server: EtcdServer, tmp_path: Path) -> None:
    _, new_text = _configs()
    config = tmp_path / "new.yaml"
    config.write_text(new_text)
    argv = ["etcd", "rewrap", "-c", str(config), "--endpoints", etcd_server.url]
    result = runner.invoke(app, [*argv, "--prefix", "/regsitry"])
    assert result.exit_code == 0
    assert "examined 0 objects" in result.stdout
    assert result.stderr == (
        "warning: no keys under /regsitry/secrets/ (is --prefix the apiserver's --etcd-prefix?)\n"
    )
