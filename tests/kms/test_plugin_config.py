"""plugin.yaml validation: every error names its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sealbox.errors import ConfigError, InputError
from sealbox.kms.backends.local import Config as LocalConfig
from sealbox.kms.plugin import (
    ServeFlags,
    config_from_flags,
    load_plugin_config,
    parse_plugin_config,
)


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
        ({"kind": "Plugin"}, "kind: expected 'KMSPluginConfiguration'"),
        (
            {"socket": "relative.sock"},
            "socket: expected an absolute socket path (at most 107 bytes, e.g. "
            "/var/run/sealbox/kms.sock) or @name for an abstract socket; got 'relative.sock'",
        ),
        ({"socketMode": "0644"}, "socketMode: only owner and group read/write are allowed"),
        ({"socketMode": "rw"}, 'socketMode: expected an octal mode such as "0600"'),
        ({"healthProbeInterval": "1ms"}, "healthProbeInterval: a duration between 50ms and 1h"),
        ({"healthProbeInterval": "soon"}, "healthProbeInterval: time: invalid"),
        (
            {"healthProbeInterval": 30},
            "healthProbeInterval: a duration with a unit, e.g. 30s; 30 has no unit",
        ),
        ({"statusOnFailure": "crash"}, "statusOnFailure: expected 'error' or 'healthz'"),
        ({"v1beta1": "maybe"}, "v1beta1: expected true or false"),
        ({"metricsAddress": "9464"}, "metricsAddress: expected host:port, e.g. 127.0.0.1:9464"),
        ({"pandas": 1}, "pandas: unknown field (fields are camelCase, e.g. keyFile)"),
        ({"socketmode": "0600"}, "socketmode: unknown field; did you mean socketMode?"),
        (
            {"backends": {"primary": {"type": "cloudhsm"}}},
            "backends.primary.type: got 'cloudhsm'; expected one of: awskms, local, pkcs11, vault",
        ),
        (
            {"backends": {"primary": {"type": "local"}}},
            "backends.primary.keyFile: required: add this field",
        ),
        (
            {"backends": {"primary": {"type": "local", "keyFile": "k", "keyfile": "k"}}},
            "backends.primary.keyfile: unknown field; did you mean keyFile?",
        ),
        (
            {
                "backends": {
                    "primary": {"type": "local", "keyFile": "k"},
                    "decryptOnly": [{"type": "local", "keyFile": "a"}, {"type": "local"}],
                }
            },
            "backends.decryptOnly[1].keyFile: required: add this field",
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
    with pytest.raises(ConfigError, match=r"absent\.yaml: no such file$"):
        load_plugin_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match=r"is a directory; expected a plugin\.yaml file"):
        load_plugin_config(tmp_path)


def test_errors_carry_the_line_they_are_on() -> None:
    text = _doc(socketMode="0644", socketGroup=["kms"])
    with pytest.raises(ConfigError) as caught:
        parse_plugin_config(text, "plugin.yaml", base_dir=Path("/"))
    lines = text.splitlines()
    by_path = {issue.path: issue.line for issue in caught.value.issues}
    assert lines[by_path["socketMode"] - 1].startswith("socketMode:")
    assert f"line {by_path['socketMode']}: socketMode: only owner" in str(caught.value)
    text = _doc(backends={"primary": {"type": "local"}})
    with pytest.raises(ConfigError) as caught:
        parse_plugin_config(text, "plugin.yaml", base_dir=Path("/"))
    [issue] = caught.value.issues
    assert "primary:" in text.splitlines()[issue.line - 1]  # where the field is missing
    assert str(caught.value) == f"plugin.yaml:{issue.line}: {issue}"


def test_malformed_yaml_names_file_line_and_column() -> None:
    text = "apiVersion: sealbox.io/v1alpha1\nkind: KMSPluginConfiguration\nsocket: [a\n"
    with pytest.raises(ConfigError) as caught:
        parse_plugin_config(text, "plugin.yaml", base_dir=Path("/"))
    message = str(caught.value)
    assert message.startswith("plugin.yaml:4:1: not valid YAML: ")
    assert "\n" not in message


def test_flags_get_the_validation_plugin_yaml_gets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_flags(ServeFlags(socket="rel.sock", key_file=tmp_path / "k"), None)
    assert str(caught.value).startswith("command line: --socket: expected an absolute socket path")
    with pytest.raises(ConfigError, match="--probe-interval: a duration between 50ms and 1h"):
        config_from_flags(
            ServeFlags(socket="/run/k.sock", key_file=tmp_path / "k", probe_interval="2h"), None
        )
    with pytest.raises(InputError, match="--key-file is required without --config"):
        config_from_flags(ServeFlags(socket="/run/k.sock"), None)
    plugin = config_from_flags(
        ServeFlags(socket="@kms", key_file=tmp_path / "k", probe_interval="5", v1beta1=True), None
    )
    assert (plugin.socket, plugin.probe_interval_seconds, plugin.serve_v1beta1) == (
        "@kms",
        5.0,
        True,
    )
    assert plugin.primary.type == "local"


def test_flags_override_the_file_and_name_themselves_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "plugin.yaml"
    path.write_text(_doc(metricsAddress="127.0.0.1:9000"))
    plugin = config_from_flags(ServeFlags(socket="/run/other.sock", v1beta1=True), path)
    assert (plugin.socket, plugin.metrics_address, plugin.serve_v1beta1) == (
        "/run/other.sock",
        "127.0.0.1:9000",  # not overridden: the file's
        True,
    )
    assert plugin.base_dir == tmp_path
    with pytest.raises(ConfigError, match=r"plugin.yaml: --metrics-address: expected host:port"):
        config_from_flags(ServeFlags(metrics_address="nope"), path)
    with pytest.raises(InputError, match="with --config the backends come from"):
        config_from_flags(ServeFlags(key_file=tmp_path / "k"), path)
