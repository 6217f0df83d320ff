"""``sealbox config validate`` and ``sealbox config keygen`` through the real root command."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sealbox.cli import app
from tests.vectors import recorded_path

RECORDED = recorded_path("kube-apiserver-1.36", "encryption-config.yaml")

VALID = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets, configmaps]
  providers:
  - kms: {apiVersion: v2, name: vault, endpoint: "unix:///run/kms.sock"}
  - identity: {}
"""

INVALID_SECRET = "c2hvcnQta2V5LXZhbHVl"  # 15 bytes: wrong size, and must never be printed
INVALID = f"""\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [Secrets]
  providers:
  - aesgcm:
      keys:
      - name: k1
        secret: {INVALID_SECRET}
  - kms: {{name: old, endpoint: "unix:///run/kms.sock", pandas: 1}}
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "250"})  # wide enough that rich tables do not wrap phrases


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "encryption-config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_valid_file_exits_0(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "validate", str(_write(tmp_path, VALID))])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_invalid_file_exits_1_and_lists_every_error(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["config", "validate", str(_write(tmp_path, INVALID))])
    assert result.exit_code == 1
    for phrase in ("capital letters", "expected length", "unknown field", "invalid"):
        assert phrase in result.output
    assert INVALID_SECRET[:8] not in result.output


def test_validate_json_shape(runner: CliRunner, tmp_path: Path) -> None:
    path = _write(tmp_path, INVALID)
    result = runner.invoke(app, ["config", "validate", str(path), "-o", "json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert set(document) == {"file", "valid", "errors", "warnings"}
    assert (document["file"], document["valid"]) == (str(path), False)
    paths = {error["path"] for error in document["errors"]}
    assert {
        "resources[0].resources[0]",
        "resources[0].providers[0].aesgcm.keys[0].secret",
        "resources[0].providers[1].kms.pandas",
    } <= paths
    assert all(set(item) == {"path", "message"} for item in document["warnings"])
    assert INVALID_SECRET[:8] not in result.stdout


def test_validate_recorded_config_warns_but_passes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "validate", str(RECORDED), "-o", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["valid"] is True
    assert document["errors"] == []
    assert any("KMSv1=true" in warning["message"] for warning in document["warnings"])


def test_validate_resource_chains(runner: CliRunner, tmp_path: Path) -> None:
    path = str(_write(tmp_path, VALID))
    args = ["config", "validate", path, "-o", "yaml", "-r", "secrets,pods", "-r", "x.apps"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    chains = yaml.safe_load(result.stdout)["resources"]
    assert [chain["resource"] for chain in chains] == ["secrets", "pods", "x.apps"]
    assert chains[0] == {
        "resource": "secrets",
        "rule": "secrets",
        "entries": ["resources[0]"],
        "write": "kms v2 (vault)",
        "providers": ["kms v2 (vault)", "identity"],
    }
    assert chains[1]["write"] is None
    assert chains[1]["providers"] == []


def test_validate_resource_table(runner: CliRunner, tmp_path: Path) -> None:
    path = str(_write(tmp_path, VALID))
    result = runner.invoke(app, ["config", "validate", path, "-r", "pods"])
    assert result.exit_code == 0, result.output
    assert "plaintext" in result.output


def test_validate_reads_stdin(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "validate", "-", "-o", "json"], input=INVALID)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["file"] == "-"


def test_validate_missing_file_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "error:" in result.output
    assert "cannot read the file" in result.output


def test_validate_help_teaches(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "validate", "--help"])
    assert result.exit_code == 0
    assert "sealbox config validate" in result.output
    assert "Exits 0" in result.output


@pytest.mark.parametrize(
    ("args", "size"),
    [
        (["aesgcm"], 32),
        (["aescbc", "--size", "16"], 16),
        (["aesgcm", "--size", "24"], 24),
        (["secretbox"], 32),
    ],
)
def test_keygen_prints_one_key(runner: CliRunner, args: list[str], size: int) -> None:
    result = runner.invoke(app, ["config", "keygen", *args])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert len(base64.b64decode(lines[0], validate=True)) == size


def test_keygen_bad_size_is_a_user_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "keygen", "secretbox", "--size", "16"])
    assert result.exit_code == 2
    assert "secretbox keys are 32 bytes long, not 16" in result.output


def test_keygen_unknown_kind_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "keygen", "aesctr"])
    assert result.exit_code == 2


def test_keygen_snippet_pastes_into_a_config(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "keygen", "aesgcm", "--name", "key-1"])
    assert result.exit_code == 0, result.output
    providers = yaml.safe_load(result.stdout)
    key = providers[0]["aesgcm"]["keys"][0]
    assert key["name"] == "key-1"
    assert len(base64.b64decode(key["secret"], validate=True)) == 32


def test_validate_invalid_file_has_no_chains(runner: CliRunner, tmp_path: Path) -> None:
    path = str(_write(tmp_path, INVALID))
    result = runner.invoke(app, ["config", "validate", path, "-o", "json", "-r", "secrets"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["resources"] is None


def test_validate_automatic_reload_makes_kms_v1_names_unique(
    runner: CliRunner, tmp_path: Path
) -> None:
    text = VALID.replace(
        "  - identity: {}\n",
        "  - kms: {apiVersion: v1, name: old, endpoint: 'unix:///a.sock'}\n"
        "  - kms: {apiVersion: v1, name: old, endpoint: 'unix:///b.sock'}\n",
    )
    path = str(_write(tmp_path, text))
    assert runner.invoke(app, ["config", "validate", path]).exit_code == 0
    result = runner.invoke(app, ["config", "validate", path, "--automatic-reload", "-o", "json"])
    assert result.exit_code == 1
    messages = [error["message"] for error in json.loads(result.stdout)["errors"]]
    assert messages == ["duplicate KMS provider name old, names must be unique"]
