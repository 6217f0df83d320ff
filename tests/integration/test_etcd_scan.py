"""``sealbox etcd scan`` against a real etcd holding what a real kube-apiserver wrote."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.storage.etcd import EtcdClient
from tests.integration.etcd_server import EtcdServer, running_etcd
from tests.kms_fixtures import LEGACY, RECORDED, RecordedSetup
from tests.vectors import load_etcd_values

pytestmark = pytest.mark.integration
runner = CliRunner()
EXPECTED_BY_PROVIDER = {
    "aescbc": 6,
    "aesgcm": 3,
    "identity": 3,
    "kms-v1": 3,
    "kms-v2": 6,
    "secretbox": 3,
}


@pytest.fixture(scope="module")
def loaded_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """Its own etcd with both recorded datasets stored under their original keys."""
    with running_etcd(tmp_path_factory.mktemp("etcd-recorded")) as server:
        with EtcdClient(server.config()) as client:
            for dataset in (RECORDED, LEGACY):
                _, values = load_etcd_values(dataset)
                for key, value in values.items():
                    client.put(key.encode(), value)
        yield server


def _scan(server: EtcdServer, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["etcd", "scan", "--endpoints", server.url, *args])
    return result.exit_code, result.stdout, result.stderr


def test_classify_counts_every_provider_exactly(loaded_etcd: EtcdServer) -> None:
    code, out, err = _scan(loaded_etcd, "-o", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["total"] == 24
    assert document["byProvider"] == EXPECTED_BY_PROVIDER
    objects = {item["key"]: item for item in document["objects"]}
    assert len(objects) == 24
    item = objects["/registry/secrets/default/db-aescbc16"]
    assert item == {
        "key": "/registry/secrets/default/db-aescbc16",
        "resource": "secrets",
        "namespace": "default",
        "name": "db-aescbc16",
        "provider": "aescbc",
        "keyName": "cbc16-pub",
        "decryptable": None,
        "stale": None,
    }
    assert objects["/registry/example.com/widgets/team-a/w-kmsv2"]["resource"] == (
        "widgets.example.com"
    )
    assert objects["/registry/secrets/team-a/big-kmsv2"]["keyName"] == "kms2-pub"


def test_decrypt_verification_with_the_recorded_config(
    loaded_etcd: EtcdServer, recorded: RecordedSetup, tmp_path: Path
) -> None:
    config = tmp_path / "encryption-config.yaml"
    config.write_text(recorded.config_text)
    code, out, err = _scan(loaded_etcd, "-c", str(config), "-o", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["byProvider"] == EXPECTED_BY_PROVIDER
    for item in document["objects"]:
        assert item["decryptable"] is True, item
        # identity is listed first in the recorded config: only plaintext values are fresh.
        assert item["stale"] is (item["provider"] != "identity"), item
    for secret in ("pw-identity-pub", "pw-kmsv2-pub", "pw-aesgcm-pub"):
        assert secret not in out + err
    assert recorded.v2.calls["Decrypt"] <= 2  # one unwrap per DEK seed, not per value


def test_resource_filter_and_table(loaded_etcd: EtcdServer) -> None:
    code, out, _ = _scan(loaded_etcd, "-r", "secrets", "-o", "json")
    assert code == 0
    document = json.loads(out)
    assert document["total"] == 10
    assert {item["resource"] for item in document["objects"]} == {"secrets"}
    code, out, _ = _scan(loaded_etcd, "-r", "configmaps,widgets.example.com")
    assert code == 0
    assert "total 14 (" in out
    assert "widgets.example.com" in out


def test_fail_on_gates(loaded_etcd: EtcdServer) -> None:
    assert _scan(loaded_etcd, "-r", "secrets")[0] == 0
    assert _scan(loaded_etcd, "-r", "secrets", "--fail-on", "plaintext")[0] == 1
    code, _, err = _scan(loaded_etcd, "--fail-on", "stale")
    assert code == 2
    assert "needs --config" in err


def test_custom_etcd_prefix(loaded_etcd: EtcdServer) -> None:
    prefix = "/43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry"
    code, out, err = _scan(loaded_etcd, "--prefix", prefix, "-o", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["byProvider"] == {"kms-v2": 2}
    assert {item["namespace"] for item in document["objects"]} == {"kms-v2-legacy-data"}


def test_unreachable_etcd_is_a_clean_error() -> None:
    result = runner.invoke(
        app, ["etcd", "scan", "--endpoints", "http://127.0.0.1:1", "--timeout", "0.5"]
    )
    assert result.exit_code == 3
    assert "127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr
