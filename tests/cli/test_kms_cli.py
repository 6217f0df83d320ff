"""``sealbox kms keygen | rotate-key`` in process."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.kms.backends import local, pkcs11
from tests.integration.backends.pkcs11 import SoftHsmToken

runner = CliRunner()


def _plugin_yaml(directory: Path, primary: dict[str, object]) -> Path:
    path = directory / "plugin.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "sealbox.io/v1alpha1",
                "kind": "KMSPluginConfiguration",
                "socket": "/tmp/unused.sock",
                "backends": {"primary": primary},
            }
        )
    )
    return path


def test_rotate_local_keyring_by_file_and_by_config(tmp_path: Path) -> None:
    keyring = tmp_path / "kek.key"
    first = runner.invoke(app, ["kms", "keygen", "--out", str(keyring)])
    assert first.exit_code == 0, first.stderr
    second = runner.invoke(app, ["kms", "rotate-key", "--key-file", str(keyring)])
    config = _plugin_yaml(tmp_path, {"type": "local", "keyFile": "kek.key"})
    third = runner.invoke(app, ["kms", "rotate-key", "--config", str(config)])
    assert third.exit_code == 0, third.stderr
    ids = [r.stdout.strip() for r in (first, second, third)]
    assert len(set(ids)) == 3
    assert [key.key_id for key in local.load_keyring(keyring)] == ids


def test_rotate_needs_exactly_one_source(tmp_path: Path) -> None:
    result = runner.invoke(app, ["kms", "rotate-key"])
    assert result.exit_code == 2
    assert "exactly one of --key-file" in result.stderr


def test_rotate_refuses_remote_kms_backends(tmp_path: Path) -> None:
    config = _plugin_yaml(tmp_path, {"type": "awskms", "region": "eu-west-1", "keyId": "alias/k8s"})
    result = runner.invoke(app, ["kms", "rotate-key", "--config", str(config)])
    assert result.exit_code == 2
    assert "rotate the key in awskms itself" in result.stderr


@pytest.mark.integration
def test_rotate_pkcs11_token_by_config(softhsm_token: SoftHsmToken, tmp_path: Path) -> None:
    config = _plugin_yaml(tmp_path, softhsm_token.config())
    first = runner.invoke(app, ["kms", "rotate-key", "--config", str(config)])
    second = runner.invoke(app, ["kms", "rotate-key", "--config", str(config)])
    assert first.exit_code == 0, first.stderr
    assert second.exit_code == 0, second.stderr
    assert first.stdout.startswith("pkcs11:token=")
    assert first.stdout != second.stdout
    backend = pkcs11.build(pkcs11.Config.model_validate(softhsm_token.config()), base_dir=tmp_path)
    try:
        assert backend.current_key_id() == second.stdout.strip()
    finally:
        backend.close()
