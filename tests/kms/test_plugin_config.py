"""plugin.yaml validation: every error names its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sealbox.errors import ConfigError
from sealbox.kms.backends.local import Config as LocalConfig
from sealbox.kms.plugin import load_plugin_config, parse_plugin_config


def _doc(**overrides: Any) -> str:
    document: dict[str, Any] = {
        "apiVersion": "sealbox.io/v1alpha1",
        "kind": "KMSPluginConfiguration",
        "socket": "/run/sealbox/kms.sock",
        "backends": {"primary": {"type": "local", "keyFile": "kek.key"}},
    }
    document.update(overrides)
    return yaml.safe_dump(document)


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_plugin_config(text, "plugin.yaml", base_dir=Path("/etc/sealbox"))
    return [str(issue) for issue in caught.value.issues]


def test_minimal_config_and_defaults() -> None:
    config = parse_plugin_config(_doc(), "plugin.yaml", base_dir=Path("/etc/sealbox"))
    assert config.socket == "/run/sealbox/kms.sock"
    assert isinstance(config.primary.settings, LocalConfig)
    assert config.primary.settings.key_file == Path("kek.key")
    assert (config.socket_mode, config.probe_interval_seconds) == (0o600, 30.0)
    assert config.status_on_failure == "error"
    assert config.decrypt_only == ()
    assert config.base_dir == Path("/etc/sealbox")


def test_all_fields() -> None:
    text = _doc(
        socket="@sealbox-kms",
        socketMode="0660",
        socketGroup="kms",
        healthProbeInterval="1m30s",
        statusOnFailure="healthz",
        metricsAddress="127.0.0.1:9464",
        v1beta1=True,
        backends={
            "primary": {"type": "local", "keyFile": "new.key"},
            "decryptOnly": [{"type": "local", "keyFile": "old.key"}],
        },
    )
    config = parse_plugin_config(text, "plugin.yaml", base_dir=Path("/"))
    assert (config.socket_mode, config.probe_interval_seconds) == (0o660, 90.0)
    assert config.metrics_host_port == ("127.0.0.1", 9464)
    assert config.serve_v1beta1 is True
    assert len(config.decrypt_only) == 1


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"kind": "Plugin"}, "kind: Input should be 'KMSPluginConfiguration'"),
        ({"socket": "relative.sock"}, "socket: Value error, an absolute socket path"),
        ({"socketMode": "0644"}, "socketMode: Value error, only owner and group"),
        ({"socketMode": "rw"}, "socketMode: Value error, an octal mode"),
        ({"healthProbeInterval": "1ms"}, "healthProbeInterval: Value error, a duration between"),
        ({"healthProbeInterval": "soon"}, "healthProbeInterval: Value error, time: invalid"),
        ({"statusOnFailure": "crash"}, "statusOnFailure: Input should be 'error' or 'healthz'"),
        ({"metricsAddress": "9464"}, "metricsAddress: Value error, host:port"),
        ({"pandas": 1}, "pandas: Extra inputs are not permitted"),
        (
            {"backends": {"primary": {"type": "cloudhsm"}}},
            "backends.primary.type: got 'cloudhsm'; expected one of: awskms, local, pkcs11, vault",
        ),
        (
            {"backends": {"primary": {"type": "local"}}},
            "backends.primary.keyFile: Field required",
        ),
        (
            {"backends": {"primary": {"type": "local", "keyFile": "k", "keyfile": "k"}}},
            "backends.primary.keyfile: Extra inputs are not permitted",
        ),
        (
            {
                "backends": {
                    "primary": {"type": "local", "keyFile": "k"},
                    "decryptOnly": [{"type": "local", "keyFile": "a"}, {"type": "local"}],
                }
            },
            "backends.decryptOnly[1].keyFile: Field required",
        ),
    ],
)
def test_errors_name_the_field(overrides: dict[str, Any], expected: str) -> None:
    assert any(error.startswith(expected) for error in _errors(_doc(**overrides))), _errors(
        _doc(**overrides)
    )


def test_not_yaml_and_not_a_mapping() -> None:
    assert "not valid YAML" in _errors("a: [")[0]
    assert "expected a mapping" in _errors("- 1")[0]


def test_load_resolves_relative_paths_against_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plugin.yaml"
    path.write_text(_doc())
    assert load_plugin_config(path).base_dir == tmp_path
    with pytest.raises(ConfigError, match="cannot read"):
        load_plugin_config(tmp_path / "absent.yaml")
