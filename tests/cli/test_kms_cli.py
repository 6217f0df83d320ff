"""``sealbox kms keygen | rotate-key | status`` in process."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.kms import key_id_hash
from sealbox.kms.backends import local, pkcs11
from tests.doubles.aead import UnwrapFailed
from tests.doubles.static_plugin import AESGCMWrapper, StaticKEKPlugin
from tests.integration.backends.pkcs11 import SoftHsmToken
from tests.kms_fixtures import socket_dir

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
    first = runner.invoke(app, ["kms", "keygen", "--key-file", str(keyring)])
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


# --- keygen and rotate-key: the output convention ----------------------------------------------


def test_keygen_takes_key_file_and_still_accepts_the_hidden_out(tmp_path: Path) -> None:
    new = runner.invoke(app, ["kms", "keygen", "--key-file", str(tmp_path / "a.key")])
    old = runner.invoke(app, ["kms", "keygen", "--out", str(tmp_path / "b.key")])
    assert new.exit_code == old.exit_code == 0, new.stderr + old.stderr
    assert new.stdout.startswith("local:")
    assert old.stdout.strip() == local.load_keyring(tmp_path / "b.key")[0].key_id
    assert "--out " not in runner.invoke(app, ["kms", "keygen", "--help"]).stdout  # hidden


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "error: --key-file is required: the keyring file to create"),
        (
            ["--key-file", "a.key", "--out", "b.key"],
            "error: --key-file and --out (its old name) disagree",
        ),
    ],
)
def test_keygen_without_one_key_file_is_one_error_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["kms", "keygen", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_keygen_and_rotate_key_print_a_document(tmp_path: Path, output: str) -> None:
    keyring = tmp_path / "kek.key"
    created = runner.invoke(app, ["kms", "keygen", "--key-file", str(keyring), "-o", output])
    rotated = runner.invoke(app, ["kms", "rotate-key", "--key-file", str(keyring), "-o", output])
    config = _plugin_yaml(tmp_path, {"type": "local", "keyFile": "kek.key"})
    by_config = runner.invoke(app, ["kms", "rotate-key", "--config", str(config), "-o", output])
    documents = [yaml.safe_load(r.stdout) for r in (created, rotated, by_config)]
    if output == "json":
        assert [json.loads(r.stdout) for r in (created, rotated, by_config)] == documents
    ids = [key.key_id for key in local.load_keyring(keyring)]
    assert documents[0] == {
        "keyFile": str(keyring),
        "keyId": ids[0],
        "keyIdHash": key_id_hash(ids[0]),
    }
    assert documents[1] == {
        "keyFile": str(keyring),
        "backend": "local",
        "keyId": ids[1],
        "keyIdHash": key_id_hash(ids[1]),
    }
    assert documents[2] == {
        "config": str(config),
        "backend": "local",
        "keyId": ids[2],
        "keyIdHash": key_id_hash(ids[2]),
    }
    secrets = [key.material for key in local.load_keyring(keyring)]
    for result in (created, rotated, by_config):
        for secret in secrets:
            assert secret.hex() not in result.stdout


@pytest.mark.parametrize("command", ["keygen", "rotate-key", "serve", "status"])
def test_every_kms_command_shows_an_example(command: str) -> None:
    result = runner.invoke(app, ["kms", command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert f"sealbox kms {command} --" in result.stdout


# --- status: any KMS v2 plugin, checked as kube-apiserver uses it -----------------------------

KEK = bytes(range(32))
KEY_ID = "static-key-1"


class _BrokenUnwrap(AESGCMWrapper):
    def unwrap(self, ciphertext: bytes) -> bytes:
        raise UnwrapFailed


@pytest.fixture
def plugin() -> Iterator[StaticKEKPlugin]:
    with socket_dir() as sockets:
        served = StaticKEKPlugin(
            str(sockets / "kms.sock"),
            AESGCMWrapper(kek=KEK, key_id=KEY_ID),
            annotations={"version.example.io": b"1"},
        )
        with served:
            yield served


def _status(plugin: StaticKEKPlugin, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app,
        ["kms", "status", "--socket", plugin.socket_path, "--timeout", "2s", *args],
        env={"COLUMNS": "200"},  # the table folds long cells to the terminal's width
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.integration
def test_status_of_a_healthy_plugin(plugin: StaticKEKPlugin) -> None:
    code, out, _ = _status(plugin, "-o", "json")
    assert code == 0, out
    document = json.loads(out)
    assert document["healthy"] is True
    assert document["problems"] == []
    assert document["status"]["version"] == "v2"
    assert document["status"]["healthz"] == "ok"
    assert document["status"]["keyIdHash"] == key_id_hash(KEY_ID)
    assert document["roundTrip"]["ok"] is True
    assert document["roundTrip"]["keyIdHash"] == key_id_hash(KEY_ID)
    assert document["roundTrip"]["annotations"] == ["version.example.io"]
    assert document["roundTrip"]["ciphertextBytes"] == 12 + 32 + 16
    assert plugin.calls == {"Status": 1, "Encrypt": 1, "Decrypt": 1}
    code, table, _ = _status(plugin)
    assert code == 0
    assert "healthy" in table
    assert key_id_hash(KEY_ID) in table
    for text in (out, table):
        assert KEY_ID not in text  # only its hash


@pytest.mark.integration
def test_status_accepts_v2beta1_as_the_apiserver_does(plugin: StaticKEKPlugin) -> None:
    plugin.status_version = "v2beta1"
    code, out, _ = _status(plugin, "-o", "yaml")
    assert code == 0, out
    assert yaml.safe_load(out)["status"]["version"] == "v2beta1"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("breakage", "problem"),
    [
        ("healthz", "Status healthz is 'key disabled', not 'ok'"),
        ("version", "Status version is 'v1'; kube-apiserver accepts only v2 (or v2beta1)"),
        ("decrypt", "Decrypt failed: KMS plugin 'status' at unix://"),
        ("unavailable", "Status failed: KMS plugin 'status' at unix://"),
    ],
)
def test_status_of_an_unhealthy_plugin_exits_1_and_says_why(
    plugin: StaticKEKPlugin, breakage: str, problem: str
) -> None:
    if breakage == "healthz":
        plugin.healthz = "key disabled"
    elif breakage == "version":
        plugin.status_version = "v1"
    elif breakage == "decrypt":
        plugin.wrapper = _BrokenUnwrap(kek=KEK, key_id=KEY_ID)
    else:
        plugin.fail_with(grpc.StatusCode.UNAVAILABLE)
    code, out, err = _status(plugin, "-o", "json")
    assert code == 1, err
    document = json.loads(out)
    assert document["healthy"] is False
    assert any(line.startswith(problem) for line in document["problems"]), document["problems"]
    code, table, _ = _status(plugin)
    assert code == 1
    assert "UNHEALTHY" in table
    assert f"problem: {problem}" in table


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--socket", "relative/kms.sock"], "--socket"),
        (["--socket", "@"], "--socket"),
        (["--socket", "/tmp/x.sock", "--timeout", "soon"], "--timeout"),
        (["--socket", "/tmp/x.sock", "--timeout", "10m"], "--timeout"),
    ],
)
def test_status_bad_input_is_one_error_line_exit_2(args: list[str], flag: str) -> None:
    result = runner.invoke(app, ["kms", "status", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: command line: {flag}: expected ")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_status_with_no_plugin_there_is_unhealthy(tmp_path: Path) -> None:
    socket = str(tmp_path / "nobody.sock")
    result = runner.invoke(app, ["kms", "status", "--socket", socket, "-o", "json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == [
        f"no socket at {socket}: is the plugin running, and is this its --socket?"
    ]
    assert not os.path.exists(socket)


@pytest.mark.integration
def test_status_of_a_plugin_on_an_abstract_socket() -> None:
    with socket_dir() as sockets:
        name = f"@{sockets.name}-kms"
        with StaticKEKPlugin(name, AESGCMWrapper(kek=KEK, key_id=KEY_ID)):
            result = runner.invoke(app, ["kms", "status", "--socket", name, "-o", "json"])
    assert result.exit_code == 0, result.stdout
    document = json.loads(result.stdout)
    assert document["endpoint"] == f"unix:///{name}"
    assert document["healthy"] is True
