"""``sealbox etcd decode|encode`` in process, against live plugins and the recorded values."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.cli.etcd_options import EtcdOptions, with_etcd_options
from sealbox.cli.io import write_private_file
from sealbox.errors import InputError
from tests.kms_fixtures import RECORDED, RecordedSetup
from tests.vectors import load_etcd_values, recorded_path

PREFIX, VALUES = load_etcd_values(RECORDED)
runner = CliRunner()


@pytest.fixture
def config_file(recorded: RecordedSetup, tmp_path: Path) -> Path:
    path = tmp_path / "encryption-config.yaml"
    path.write_text(recorded.config_text)
    return path


def _decode(config: Path, key: str, value_file: Path, *extra: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app, ["etcd", "decode", "-c", str(config), "-k", key, str(value_file), *extra]
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.integration
@pytest.mark.parametrize(
    ("key", "provider", "key_name"),
    [
        ("/registry/secrets/team-a/db-kmsv2", "kms-v2", "kms2-pub"),
        ("/registry/secrets/default/db-kmsv1", "kms-v1", "kms1-pub"),
        ("/registry/secrets/default/db-aescbc16", "aescbc", "cbc16-pub"),
        ("/registry/configmaps/default/cfg-identity", "identity", ""),
        ("/registry/example.com/widgets/default/w-secretbox", "secretbox", "sb-pub"),
    ],
)
def test_decode_json_schema(
    config_file: Path, tmp_path: Path, key: str, provider: str, key_name: str
) -> None:
    value_file = tmp_path / "value.bin"
    value_file.write_bytes(VALUES[key])
    code, out, err = _decode(config_file, key, value_file, "-o", "json")
    assert code == 0, err
    document = json.loads(out)
    assert set(document) == {"provider", "keyName", "stale", "object"}
    assert (document["provider"], document["keyName"]) == (provider, key_name)
    assert document["stale"] is (provider != "identity")
    assert document["object"]["metadata"]["name"] == key.rsplit("/", 1)[1]


@pytest.mark.integration
def test_decode_yaml_default_and_secret_data_as_in_the_api(
    config_file: Path, tmp_path: Path
) -> None:
    import yaml

    key = "/registry/secrets/team-a/db-aesgcm"
    value_file = tmp_path / "value.bin"
    value_file.write_bytes(VALUES[key])
    code, out, err = _decode(config_file, key, value_file)
    assert code == 0, err
    document = yaml.safe_load(out)
    assert base64.b64decode(document["object"]["data"]["password"]) == b"pw-aesgcm-pub"


@pytest.mark.integration
def test_decode_accepts_etcdctl_trailing_newline_and_stdin(config_file: Path) -> None:
    key = "/registry/secrets/team-a/db-kmsv2"
    result = runner.invoke(
        app,
        ["etcd", "decode", "-c", str(config_file), "-k", key, "-", "-o", "json"],
        input=VALUES[key] + b"\n",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["provider"] == "kms-v2"


@pytest.mark.integration
def test_decode_with_wrong_etcd_key_is_a_clean_error(config_file: Path, tmp_path: Path) -> None:
    value_file = tmp_path / "value.bin"
    value_file.write_bytes(VALUES["/registry/secrets/team-a/db-aesgcm"])
    code, out, err = _decode(config_file, "/registry/secrets/team-b/db-aesgcm", value_file)
    assert code == 1
    assert out == ""
    assert err.startswith("error: /registry/secrets/team-b/db-aesgcm: ")
    assert "Traceback" not in err


@pytest.mark.integration
def test_encode_then_decode_round_trip(config_file: Path, tmp_path: Path) -> None:
    key = "/registry/secrets/default/db-identity"
    plain = tmp_path / "plain.bin"
    plain.write_bytes(VALUES[key])
    out = tmp_path / "value.bin"
    argv = ["etcd", "encode", "-c", str(config_file), "--etcd-key", key, str(plain)]
    result = runner.invoke(app, [*argv, "--output-file", str(out)])
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    # The recorded config lists identity first: the apiserver would store plaintext.
    assert out.read_bytes() == plain.read_bytes()
    code, stdout, err = _decode(config_file, key, out, "-o", "json")
    assert code == 0, err
    assert json.loads(stdout)["provider"] == "identity"


@pytest.mark.integration
def test_encode_with_kms_v2_first_writes_to_stdout(recorded: RecordedSetup, tmp_path: Path) -> None:
    config = tmp_path / "kms-first.yaml"
    config.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        "- resources: [secrets]\n  providers:\n"
        f"  - kms: {{apiVersion: v2, name: kms2-pub, endpoint: '{recorded.v2.endpoint}'}}\n"
        "  - identity: {}\n"
    )
    plain = tmp_path / "plain.bin"
    plain.write_bytes(VALUES["/registry/secrets/default/db-identity"])
    key = "/registry/secrets/default/db-identity"
    result = runner.invoke(app, ["etcd", "encode", "-c", str(config), "-k", key, str(plain)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"k8s:enc:kms:v2:kms2-pub:")


def test_missing_value_file_is_named(tmp_path: Path) -> None:
    config = recorded_path(RECORDED, "encryption-config.yaml")
    code, _, err = _decode(config, "/registry/secrets/a/b", tmp_path / "absent.bin")
    assert code == 2
    assert "absent.bin: no such file" in err


def test_key_outside_the_prefix_is_named(tmp_path: Path) -> None:
    config = recorded_path(RECORDED, "encryption-config.yaml")
    value_file = tmp_path / "value.bin"
    value_file.write_bytes(b"x")
    code, _, err = _decode(config, "/elsewhere/secrets/a/b", value_file)
    assert code == 2
    assert "/elsewhere/secrets/a/b" in err


@pytest.mark.integration
def test_failures_print_no_secret_or_key(config_file: Path, tmp_path: Path) -> None:
    import re

    secrets = re.findall(r"secret: (\S+)", config_file.read_text())
    assert len(secrets) == 4
    outputs = []
    for key in ("/registry/secrets/team-a/db-aesgcm", "/registry/secrets/default/db-secretbox"):
        value_file = tmp_path / "value.bin"
        value_file.write_bytes(VALUES[key][:-2] + b"\x00\x00")
        code, out, err = _decode(config_file, key, value_file)
        assert code == 1
        outputs.append(out + err)
    joined = "\n".join(outputs)
    for needle in [*secrets, "pw-aesgcm-pub", "pw-secretbox-pub", "YWRtaW4="]:
        assert needle not in joined


SHARED_FLAGS = ["--endpoints", "--cacert", "--cert", "--key", "--timeout", "--prefix"]
COMMAND_FLAGS = {
    # Each command's own flags, in --help order; the shared ones stand where ``etcd`` is.
    "scan": ["etcd", "--resource", "--config", "--output", "--fail-on", "--allow-empty"],
    "decrypt": [
        "--config",
        "--output",
        "--output-dir",
        "--force",
        "--start-after",
        "etcd",
        "--resource",
        "--keep-metadata",
    ],
    "rewrap": [
        "--config",
        "--apply",
        "--allow-plaintext",
        "--start-after",
        "--batch-size",
        "etcd",
        "--resource",
        "--all-resources",
        "--output",
    ],
}


@pytest.mark.parametrize("command", sorted(COMMAND_FLAGS))
def test_help_lists_every_flag_in_place(command: str) -> None:
    result = runner.invoke(app, ["etcd", command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    flags = [
        f for flag in COMMAND_FLAGS[command] for f in (SHARED_FLAGS if flag == "etcd" else [flag])
    ]
    lines = [line for line in result.stdout.splitlines() if line.startswith("│")]  # the box
    positions = []
    for flag in flags:
        found = [i for i, line in enumerate(lines) if line.lstrip("│ *").startswith(flag + " ")]
        assert found, f"{flag} missing from etcd {command} --help"
        positions.append(found[0])
    assert positions == sorted(positions), f"etcd {command} --help lists flags out of order"
    assert "[default: http://127.0.0.1:2379]" in result.stdout
    assert "[default: /registry]" in result.stdout
    assert "Seconds per etcd call and endpoint." in result.stdout


@pytest.mark.parametrize("command", sorted(COMMAND_FLAGS))
def test_the_shared_options_reach_the_connection(command: str, tmp_path: Path) -> None:
    config = recorded_path(RECORDED, "encryption-config.yaml")
    argv = ["etcd", command, "--endpoints", "ftp://10.0.0.1:2379"]
    if command != "scan":
        argv += ["-c", str(config)]
    if command == "rewrap":
        argv.append("--allow-plaintext")  # the recorded config lists identity first
    bad_scheme = runner.invoke(app, argv)
    assert bad_scheme.exit_code == 2
    assert "scheme 'ftp' is not supported" in bad_scheme.stderr
    no_pair = runner.invoke(app, [*argv[:2], "--cert", str(tmp_path / "c.pem"), *argv[4:]])
    assert no_pair.exit_code == 2
    assert "--cert and --key go together" in no_pair.stderr
    bad_timeout = runner.invoke(app, [*argv[:2], "--timeout", "0", *argv[4:]])
    assert bad_timeout.exit_code == 2
    assert "etcd timeout must be positive" in bad_timeout.stderr


def test_the_option_group_needs_an_etcd_parameter() -> None:
    def no_etcd(*, output: str = "") -> None:
        del output

    with pytest.raises(TypeError, match="no parameter `etcd: EtcdOptions`"):
        with_etcd_options(no_etcd)

    def clash(*, etcd: EtcdOptions, timeout: float = 1.0) -> None:
        del etcd, timeout

    with pytest.raises(TypeError, match="timeout"):
        with_etcd_options(clash)


@pytest.mark.integration
def test_etcd_key_flag_and_its_hidden_old_name(config_file: Path, tmp_path: Path) -> None:
    key = "/registry/secrets/team-a/db-aesgcm"
    value_file = tmp_path / "value.bin"
    value_file.write_bytes(VALUES[key])
    base = ["etcd", "decode", "-c", str(config_file), str(value_file), "-o", "json"]
    for flag in ("--etcd-key", "-k", "--key"):
        result = runner.invoke(app, [*base, flag, key])
        assert result.exit_code == 0, (flag, result.stderr)
        assert json.loads(result.stdout)["provider"] == "aesgcm"
    both = runner.invoke(app, [*base, "--etcd-key", key, "--key", "/registry/secrets/a/b"])
    assert both.exit_code == 2
    assert (
        both.stderr == "error: --etcd-key and --key (its old name) disagree; give --etcd-key only\n"
    )
    neither = runner.invoke(app, base)
    assert neither.exit_code == 2
    assert neither.stderr.startswith("error: missing --etcd-key (-k)")


@pytest.mark.integration
def test_decode_table_says_yes_or_no(config_file: Path, tmp_path: Path) -> None:
    for key, stale in (
        ("/registry/secrets/team-a/db-aesgcm", "yes"),
        ("/registry/secrets/default/db-identity", "no"),
    ):
        value_file = tmp_path / "value.bin"
        value_file.write_bytes(VALUES[key])
        code, out, err = _decode(config_file, key, value_file, "-o", "table")
        assert code == 0, err
        assert f" {stale} " in out
        assert "True" not in out
        assert "False" not in out


def test_help_hides_the_old_flag_names() -> None:
    for command, old in (("decode", "--key"), ("encode", "--key"), ("encode", "--out ")):
        result = runner.invoke(app, ["etcd", command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "--etcd-key" in result.stdout
        box = [line.lstrip("│ *") for line in result.stdout.splitlines() if line.startswith("│")]
        assert not any(line.startswith(old) for line in box), (command, old)
    decrypt = runner.invoke(app, ["etcd", "decrypt", "--help"], env={"COLUMNS": "200"})
    assert "--out-dir" not in decrypt.stdout


@pytest.mark.parametrize("command", ["decode", "encode", "scan", "decrypt", "rewrap"])
def test_every_command_help_has_an_example(command: str) -> None:
    result = runner.invoke(app, ["etcd", command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    examples = [
        line.strip() for line in result.stdout.splitlines() if f"sealbox etcd {command} " in line
    ]
    assert examples, f"etcd {command} --help shows no example"
    for line in examples:  # written with today's flags
        assert "--out " not in line
        assert "--out-dir" not in line


def _encode(config: Path, key: str, plain: Path, *extra: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app, ["etcd", "encode", "-c", str(config), "-k", key, str(plain), *extra]
    )
    return result.exit_code, result.stdout, result.stderr


def test_encode_refuses_what_decode_would_not_show(tmp_path: Path) -> None:
    config = recorded_path(RECORDED, "encryption-config.yaml")
    plain = tmp_path / "plain.bin"
    out = tmp_path / "value.bin"
    plain.write_bytes(b"hello")
    code, _, err = _encode(config, "/registry/secrets/default/db", plain, "--output-file", str(out))
    assert code == 2
    assert err.startswith(
        f"error: PLAINTEXT_FILE {plain}: the plaintext is not a Kubernetes object"
    )
    assert not out.exists()
    plain.write_bytes(VALUES["/registry/secrets/default/db-identity"])
    code, _, err = _encode(config, "/registry/secrets/team-a/db", plain, "--output-file", str(out))
    assert code == 2
    assert err == (
        f"error: PLAINTEXT_FILE {plain}: the plaintext object does not belong at "
        "/registry/secrets/team-a/db: metadata.name is 'db-identity', the key says 'db'; "
        "metadata.namespace is 'default', the key says 'team-a'\n"
    )
    assert not out.exists()


def test_encode_output_file_is_never_overwritten_without_force(tmp_path: Path) -> None:
    config = recorded_path(RECORDED, "encryption-config.yaml")  # identity first: no KMS call
    key = "/registry/secrets/default/db-identity"
    plain = tmp_path / "plain.bin"
    plain.write_bytes(VALUES[key])
    out = tmp_path / "value.bin"
    out.write_bytes(b"keep me")
    code, _, err = _encode(config, key, plain, "--output-file", str(out))
    assert code == 2
    assert err == f"error: --output-file {out}: already exists; pass --force to overwrite it\n"
    assert out.read_bytes() == b"keep me"
    code, _, err = _encode(config, key, plain, "--output-file", str(out), "--force")
    assert code == 0, err
    assert out.read_bytes() == VALUES[key]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    old = tmp_path / "old.bin"
    code, _, err = _encode(config, key, plain, "--out", str(old))  # the old spelling still works
    assert code == 0, err
    assert old.read_bytes() == VALUES[key]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files


def test_usage_errors_are_one_error_line() -> None:
    result = runner.invoke(app, ["etcd", "scan", "--fail-on", "plaintxt"])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: sealbox etcd scan: Invalid value for '--fail-on': 'plaintxt' is not one of "
        "'plaintext', 'stale', 'undecryptable'. (see sealbox etcd scan --help)\n"
    )
    result = runner.invoke(app, ["etcd", "scna"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: sealbox etcd: No such command 'scna'.")


def test_did_you_mean_never_offers_an_old_spelling() -> None:
    result = runner.invoke(app, ["etcd", "decrypt", "--out-dirr", "x"])
    assert result.exit_code == 2
    assert "(Possible options: --output-dir)" in result.stderr
    assert "--out-dir," not in result.stderr


def test_an_interrupted_write_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.yaml"

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_private_file(target, b"secret: yes")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temp file
    write_private_file(target, b"one", replace=False)
    with pytest.raises(InputError, match="already exists; pass --force"):
        write_private_file(target, b"two", replace=False)
    assert target.read_bytes() == b"one"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["out.yaml"]
