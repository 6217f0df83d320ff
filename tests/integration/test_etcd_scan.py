"""``sealbox etcd scan`` against a real etcd holding what a real kube-apiserver wrote."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
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
    code, out, err = _scan(loaded_etcd, "-r", "secrets", "--fail-on", "plaintext")
    assert code == 1
    assert err == "FAILED (--fail-on plaintext): 10 objects checked, 1 plaintext\n"
    assert "Keys that fail the gate" in out
    assert "/registry/secrets/default/db-identity" in out
    assert "stored in plaintext (identity)" in out
    code, out, err = _scan(loaded_etcd, "-r", "configmaps", "--fail-on", "plaintext")
    assert code == 1
    assert "Keys that fail the gate" in out
    code, _, err = _scan(loaded_etcd, "--fail-on", "stale")
    assert code == 2
    assert err == (
        "error: --fail-on stale needs --config to decrypt the values (the "
        "EncryptionConfiguration the apiserver runs with)\n"
    )


@pytest.mark.parametrize(("name", "suggestion"), [("secret", "secrets"), ("Secret", "secrets")])
def test_a_misspelt_resource_is_an_error_not_a_pass(
    loaded_etcd: EtcdServer, name: str, suggestion: str
) -> None:
    code, out, err = _scan(loaded_etcd, "-r", name, "--fail-on", "plaintext")
    assert (code, out) == (2, "")
    assert err == f"error: --resource {name!r}: no such resource; did you mean {suggestion}?\n"


def test_a_scan_of_nothing_says_so_and_fails_a_gate(loaded_etcd: EtcdServer) -> None:
    code, out, err = _scan(loaded_etcd, "--prefix", "/regsitry")
    assert code == 0
    assert "total 0 (nothing found)" in out
    assert err == (
        "warning: no keys under /regsitry/ (is --prefix the apiserver's --etcd-prefix?)\n"
    )
    code, _, err = _scan(loaded_etcd, "--prefix", "/regsitry", "--fail-on", "plaintext")
    assert code == 1
    lines = err.splitlines()
    assert lines[0].startswith("warning: no keys under /regsitry/")
    assert lines[1].startswith(
        "FAILED (--fail-on plaintext): 0 objects checked, 0 plaintext; no keys under /regsitry/"
    )
    argv = ["--prefix", "/regsitry", "--fail-on", "plaintext", "--allow-empty"]
    code, _, err = _scan(loaded_etcd, *argv)
    assert code == 0
    assert "PASSED (--fail-on plaintext)" in err
    code, _, err = _scan(loaded_etcd, "-r", "secrets,widgets.exmaple.com", "--fail-on", "plaintext")
    assert code == 1  # one named resource matched nothing: the gate did not check it
    assert "no keys under /registry/exmaple.com/widgets/" in err


def test_stale_gate_reports_totals_and_verdict_in_json_and_yaml(
    loaded_etcd: EtcdServer, recorded: RecordedSetup, tmp_path: Path
) -> None:
    config = tmp_path / "encryption-config.yaml"
    config.write_text(recorded.config_text)
    gates = ["--fail-on", "stale", "--fail-on", "undecryptable"]
    code, out, err = _scan(loaded_etcd, "-r", "secrets", "-c", str(config), *gates, "-o", "json")
    assert code == 1
    assert err == (
        "FAILED (--fail-on stale,undecryptable): 10 objects checked, 9 stale, 0 undecryptable\n"
    )
    document = json.loads(out)
    assert (document["total"], document["stale"], document["undecryptable"]) == (10, 9, 0)
    assert document["plaintext"] == 1
    assert document["byProvider"]["identity"] == 1
    assert document["prefixes"] == {"/registry/secrets/": 10}
    verdict = document["verdict"]
    assert (verdict["passed"], verdict["failOn"], verdict["checked"]) == (
        False,
        ["stale", "undecryptable"],
        10,
    )
    assert len(verdict["failures"]) == 9
    assert {f["failOn"] for f in verdict["failures"]} == {"stale"}
    code, out, err = _scan(loaded_etcd, "-r", "secrets", "-c", str(config), *gates, "-o", "yaml")
    assert code == 1
    assert yaml.safe_load(out)["verdict"]["passed"] is False
    code, out, err = _scan(loaded_etcd, "-r", "secrets", "-c", str(config), *gates)
    assert code == 1
    assert "written by kms-v2 kms2-pub, not the first provider and key" in out
    for secret in ("pw-identity-pub", "pw-kmsv2-pub", "pw-aesgcm-pub"):
        assert secret not in out + err


def test_json_without_a_gate_has_a_null_verdict_and_unknown_staleness(
    loaded_etcd: EtcdServer,
) -> None:
    code, out, _ = _scan(loaded_etcd, "-r", "secrets", "-o", "json")
    assert code == 0
    document = json.loads(out)
    assert document["verdict"] is None
    assert (document["stale"], document["undecryptable"]) == (None, None)


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
