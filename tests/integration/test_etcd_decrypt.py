"""``sealbox etcd decrypt``: recover the recorded objects from a real etcd."""

from __future__ import annotations

import base64
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.storage.etcd import EtcdClient
from tests.integration.etcd_server import EtcdServer, running_etcd
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
    assert "exported 10 object(s); 1 failed" in err


def test_out_dir_files_are_private_and_custom_resources_export(
    loaded_etcd: EtcdServer, config_file: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "restore"
    code, out, err = _decrypt(
        loaded_etcd,
        config_file,
        "--out-dir",
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
