"""``sealbox etcd decrypt``: recover the recorded objects from a real etcd."""

from __future__ import annotations

import base64
import json
import os
import pty
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sealbox.cli import app, etcd_export
from sealbox.cli.io import write_private_file
from sealbox.storage import encode_secret
from sealbox.storage.etcd import EtcdClient
from tests.integration.etcd_server import EtcdServer, running_etcd
from tests.integration.plugin_process import SEALBOX
from tests.kms_fixtures import RECORDED, RecordedSetup
from tests.vectors import load_etcd_values, load_expected

pytestmark = pytest.mark.integration
runner = CliRunner()
EXPECTED = load_expected(RECORDED)


@pytest.fixture(scope="module")
def loaded_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    with running_etcd(tmp_path_factory.mktemp("etcd-decrypt")) as server:
        with EtcdClient(server.config()) as client:
            _, values = load_etcd_values(RECORDED)
            for key, value in values.items():
                client.put(key.encode(), value)
            # One value nobody can decrypt: an aesgcm value under a key it was not written for.
            client.put(
                b"/registry/secrets/default/moved",
                values["/registry/secrets/team-a/db-aesgcm"],
            )
        yield server


@pytest.fixture
def config_file(recorded: RecordedSetup, tmp_path: Path) -> Path:
    path = tmp_path / "encryption-config.yaml"
    path.write_text(recorded.config_text)
    return path


def _decrypt(server: EtcdServer, config: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app, ["etcd", "decrypt", "-c", str(config), "--endpoints", server.url, *args]
    )
    return result.exit_code, result.stdout, result.stderr


def test_yaml_stream_of_secrets_with_failures_listed(
    loaded_etcd: EtcdServer, config_file: Path
) -> None:
    code, out, err = _decrypt(loaded_etcd, config_file)
    assert code == 1  # one value failed; the others still exported
    manifests = [doc for doc in yaml.safe_load_all(out) if doc]
    assert len(manifests) == 10
    by_key = {
        f"/registry/secrets/{m['metadata']['namespace']}/{m['metadata']['name']}": m
        for m in manifests
    }
    for key, manifest in by_key.items():
        want = EXPECTED[key]
        data = {k: base64.b64decode(v) for k, v in manifest.get("data", {}).items()}
        expected_data = {k: v.encode() for k, v in want.get("data", {}).items()}
        expected_data.update({k: base64.b64decode(v) for k, v in want.get("data_b64", {}).items()})
        assert data == expected_data, key
        assert manifest["kind"] == "Secret"
        for field in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
            assert field not in manifest["metadata"]
    assert "failed /registry/secrets/default/moved" in err
    assert "exported 10 objects; 1 failed" in err


def test_out_dir_files_are_private_and_custom_resources_export(
    loaded_etcd: EtcdServer, config_file: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "restore"
    code, out, err = _decrypt(
        loaded_etcd,
        config_file,
        "--output-dir",
        str(out_dir),
        "-r",
        "configmaps",
        "-r",
        "widgets.example.com",
    )
    assert code == 0, err
    assert out == ""
    files = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.yaml"))
    assert len(files) == 14
    assert "widgets.example.com/team-a/w-kmsv2.yaml" in files
    widget = yaml.safe_load((out_dir / "widgets.example.com/team-a/w-kmsv2.yaml").read_text())
    assert widget["spec"] == {"color": "blue-kmsv2"}
    for path in out_dir.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    assert stat.S_IMODE(out_dir.stat().st_mode) == 0o700


def test_keep_metadata(loaded_etcd: EtcdServer, config_file: Path) -> None:
    code, out, _ = _decrypt(loaded_etcd, config_file, "-r", "configmaps", "--keep-metadata")
    assert code == 0
    manifests = [doc for doc in yaml.safe_load_all(out) if doc]
    assert all("uid" in m["metadata"] for m in manifests)


IDENTITY_CONFIG = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - identity: {}
"""
MANY_PREFIX = "/many"
MANY = 40


@pytest.fixture(scope="module")
def many_secrets(loaded_etcd: EtcdServer) -> list[str]:
    """MANY plaintext Secrets under their own --etcd-prefix, in key order."""
    keys = []
    with EtcdClient(loaded_etcd.config()) as client:
        for index in range(MANY):
            namespace, name = f"ns{index % 3}", f"s{index:03d}"
            key = f"{MANY_PREFIX}/secrets/{namespace}/{name}"
            value = encode_secret(name=name, namespace=namespace, data={"v": b"x"})
            client.put(key.encode(), value)
            keys.append(key)
    return sorted(keys)


@pytest.fixture
def identity_config(tmp_path: Path) -> Path:
    path = tmp_path / "identity.yaml"
    path.write_text(IDENTITY_CONFIG)
    return path


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_json_is_one_list_kubectl_applies(loaded_etcd: EtcdServer, config_file: Path) -> None:
    code, out, err = _decrypt(loaded_etcd, config_file, "-r", "configmaps", "-o", "json")
    assert code == 0, err
    document = json.loads(out)
    assert (document["apiVersion"], document["kind"]) == ("v1", "List")
    assert len(document["items"]) == 7
    assert {item["kind"] for item in document["items"]} == {"ConfigMap"}
    assert "exported 7 objects; 0 failed; 0 skipped" in err


def test_json_files_in_the_output_dir(
    loaded_etcd: EtcdServer, config_file: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "json"
    code, _, err = _decrypt(
        loaded_etcd,
        config_file,
        "-r",
        "widgets.example.com",
        "-o",
        "json",
        "--output-dir",
        str(out_dir),
    )
    assert code == 0, err
    files = _files(out_dir)
    assert len(files) == 7
    assert all(name.endswith(".json") for name in files)
    widget = json.loads((out_dir / "widgets.example.com/team-a/w-kmsv2.json").read_text())
    assert widget["spec"] == {"color": "blue-kmsv2"}


def test_a_non_empty_output_dir_is_refused_unless_resuming_or_forced(
    loaded_etcd: EtcdServer, config_file: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "restore"
    out_dir.mkdir()
    (out_dir / "old.yaml").write_text("kept")
    code, out, err = _decrypt(
        loaded_etcd, config_file, "-r", "configmaps", "--output-dir", str(out_dir)
    )
    assert (code, out) == (2, "")
    assert err.startswith(f"error: --output-dir {out_dir}: not empty;")
    assert _files(out_dir) == ["old.yaml"]
    code, _, err = _decrypt(
        loaded_etcd, config_file, "-r", "configmaps", "--out-dir", str(out_dir), "--force"
    )
    assert code == 0, err  # the old spelling, and --force
    assert len(_files(out_dir)) == 8
    assert (out_dir / "old.yaml").read_text() == "kept"


def test_interrupted_export_says_how_to_resume_and_resuming_completes_it(
    loaded_etcd: EtcdServer,
    many_secrets: list[str],
    identity_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out_dir = tmp_path / "restore"
    written: list[Path] = []

    def interrupt_on_the_eighth(path: Path, data: bytes, **options: object) -> None:
        if len(written) == 7:
            raise KeyboardInterrupt  # what Ctrl-C raises, in the middle of the export
        write_private_file(path, data)
        written.append(path)

    monkeypatch.setattr(etcd_export, "write_private_file", interrupt_on_the_eighth)
    argv = ["--prefix", MANY_PREFIX, "--output-dir", str(out_dir)]
    code, out, err = _decrypt(loaded_etcd, identity_config, *argv)
    assert code == 130
    assert out == ""
    seventh = many_secrets[6]
    assert err.splitlines() == [
        f"exported 7 objects to {out_dir}; 0 failed; 0 skipped",
        f"interrupted: every file written is complete; the last key done is {seventh}. "
        f"To resume, run the same command with --start-after {seventh}",
    ]
    assert len(_files(out_dir)) == 7
    monkeypatch.undo()
    code, _, err = _decrypt(loaded_etcd, identity_config, *argv, "--start-after", seventh)
    assert code == 0, err
    assert f"exported {MANY - 7} objects to {out_dir}" in err
    expected = sorted(
        f"secrets/{key.split('/')[3]}/{key.split('/')[4]}.yaml" for key in many_secrets
    )
    assert _files(out_dir) == expected
    for path in out_dir.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_progress_shows_on_a_terminal(
    loaded_etcd: EtcdServer, many_secrets: list[str], identity_config: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "restore"
    argv = [*SEALBOX, "etcd", "decrypt", "-c", str(identity_config), "--endpoints", loaded_etcd.url]
    argv += ["--prefix", MANY_PREFIX, "--output-dir", str(out_dir)]
    main, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=terminal, env=env) as process:
        os.close(terminal)
        shown = _read_all(main)
    assert process.returncode == 0
    assert "decrypting" in shown
    assert f"{MANY}/{MANY}" in shown
    assert f"exported {MANY} objects to {out_dir}" in shown
    assert len(_files(out_dir)) == MANY


def _read_all(fd: int) -> str:
    """Everything written to a pty until its last writer closes it (EIO on Linux)."""
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        pass
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace")
