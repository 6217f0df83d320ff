"""Bad input on every etcd command: one ``error:`` line, exit 2, no traceback, nothing written.

Each case runs a command as a user would (in process, through the real ``sealbox`` app) with one
thing wrong: a missing, unreadable or malformed file, a directory for a file, an output file
that exists, an unknown resource, a bad flag. Every one must end the same way:

1. exit code 2 (a usage or input error);
2. stderr is exactly one line, ``error: ...``, naming the file or flag at fault;
3. no traceback (the error is a handled SealboxError, not a crash);
4. nothing written: stdout empty, the working directory as it was, no etcd connection (the
   endpoint does not exist: a command that tried to connect would exit 3 instead of 2);

and nothing secret is printed (the config's key, the object's data).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.storage import encode_secret

runner = CliRunner()
SECRET_KEY = base64.b64encode(bytes(range(100, 132))).decode()
PASSWORD = b"hunter2-bad-input"
NOWHERE = ["--endpoints", "http://127.0.0.1:1", "--timeout", "0.2"]
KEY = "/registry/secrets/default/db"
CONFIG = f"""\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aesgcm: {{keys: [{{name: k1, secret: "{SECRET_KEY}"}}]}}
"""


@dataclass(frozen=True)
class Files:
    """A working directory with one good input of each kind, and bad ones beside them."""

    root: Path

    def path(self, name: str) -> str:
        return str(self.root / name)


@pytest.fixture
def files(tmp_path: Path) -> Files:
    root = tmp_path / "work"
    root.mkdir()
    (root / "config.yaml").write_text(CONFIG)
    (root / "plain.bin").write_bytes(
        encode_secret(name="db", namespace="default", data={"password": PASSWORD})
    )
    (root / "value.bin").write_bytes(b"k8s:enc:aesgcm:v1:k1:" + bytes(40))
    (root / "existing.bin").write_bytes(b"keep me")
    (root / "a-dir").mkdir()
    (root / "full-dir").mkdir()
    (root / "full-dir" / "old.yaml").write_text("kept")
    (root / "broken.yaml").write_text("kind: [\n")
    (root / "not-utf8.yaml").write_bytes(b"\xff\xfe")
    (root / "empty.yaml").write_text("")
    (root / "wrong-kind.yaml").write_text(CONFIG.replace("EncryptionConfiguration", "Config"))
    (root / "identity-first.yaml").write_text(
        CONFIG.replace("  - aesgcm", "  - identity: {}\n  - aesgcm")
    )
    (root / "hello.bin").write_bytes(b"hello")
    (root / "broken.json").write_bytes(b'{"kind": "Secret", ')
    return Files(root)


def _tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in root.rglob("*")
    }


Case = Callable[[Files], list[str]]
"""The argv after ``sealbox etcd`` for one bad input, and what the error line must name."""

CASES: dict[str, tuple[Case, list[str]]] = {
    # decode
    "decode: value file missing": (
        lambda f: ["decode", "-c", f.path("config.yaml"), "-k", KEY, f.path("absent.bin")],
        ["VALUE_FILE", "absent.bin", "no such file"],
    ),
    "decode: value file is a directory": (
        lambda f: ["decode", "-c", f.path("config.yaml"), "-k", KEY, f.path("a-dir")],
        ["VALUE_FILE", "a-dir", "is a directory, expected a file"],
    ),
    "decode: value file unreadable": (
        lambda f: ["decode", "-c", f.path("config.yaml"), "-k", KEY, f.path("value.bin/x")],
        ["VALUE_FILE", "value.bin/x", "cannot read"],
    ),
    "decode: config missing": (
        lambda f: ["decode", "-c", f.path("absent.yaml"), "-k", KEY, f.path("value.bin")],
        ["absent.yaml", "cannot read the file"],
    ),
    "decode: config is a directory": (
        lambda f: ["decode", "-c", f.path("a-dir"), "-k", KEY, f.path("value.bin")],
        ["a-dir", "Is a directory"],
    ),
    "decode: config malformed YAML": (
        lambda f: ["decode", "-c", f.path("broken.yaml"), "-k", KEY, f.path("value.bin")],
        ["broken.yaml", "not valid YAML: line 2"],
    ),
    "decode: config not UTF-8": (
        lambda f: ["decode", "-c", f.path("not-utf8.yaml"), "-k", KEY, f.path("value.bin")],
        ["not-utf8.yaml", "not UTF-8"],
    ),
    "decode: config empty": (
        lambda f: ["decode", "-c", f.path("empty.yaml"), "-k", KEY, f.path("value.bin")],
        ["empty.yaml", "is empty"],
    ),
    "decode: key outside the prefix": (
        lambda f: [
            "decode",
            "-c",
            f.path("config.yaml"),
            "-k",
            "/x/secrets/a/b",
            f.path("value.bin"),
        ],
        ["/x/secrets/a/b", "outside the etcd prefix"],
    ),
    "decode: no etcd key": (
        lambda f: ["decode", "-c", f.path("config.yaml"), f.path("value.bin")],
        ["--etcd-key"],
    ),
    "decode: bad output format": (
        lambda f: [
            "decode",
            "-c",
            f.path("config.yaml"),
            "-k",
            KEY,
            f.path("value.bin"),
            "-o",
            "xml",
        ],
        ["--output", "'xml' is not one of", "table", "json", "yaml"],
    ),
    "decode: unknown flag": (
        lambda f: ["decode", "--bogus", f.path("value.bin")],
        ["No such option: --bogus", "sealbox etcd decode --help"],
    ),
    # encode
    "encode: plaintext missing": (
        lambda f: [
            "encode",
            "-c",
            f.path("config.yaml"),
            "-k",
            KEY,
            f.path("absent.bin"),
            "--output-file",
            f.path("out.bin"),
        ],
        ["PLAINTEXT_FILE", "absent.bin", "no such file"],
    ),
    "encode: plaintext is a directory": (
        lambda f: [
            "encode",
            "-c",
            f.path("config.yaml"),
            "-k",
            KEY,
            f.path("a-dir"),
            "--output-file",
            f.path("out.bin"),
        ],
        ["PLAINTEXT_FILE", "a-dir", "is a directory"],
    ),
    "encode: plaintext is not an object": (
        lambda f: [
            "encode",
            "-c",
            f.path("config.yaml"),
            "-k",
            KEY,
            f.path("hello.bin"),
            "--output-file",
            f.path("out.bin"),
        ],
        ["PLAINTEXT_FILE", "hello.bin", "not a Kubernetes object"],
    ),
    "encode: plaintext malformed JSON": (
        lambda f: [
            "encode",
            "-c",
            f.path("config.yaml"),
            "-k",
            KEY,
            f.path("broken.json"),
            "--output-file",
            f.path("out.bin"),
        ],
        ["PLAINTEXT_FILE", "broken.json", "not valid JSON"],
    ),
    "encode: object does not belong at the key": (
        lambda f: [
            "encode",
            "-c",
            f.path("config.yaml"),
            "-k",
            "/registry/secrets/default/x",
            f.path("plain.bin"),
            "--output-file",
            f.path("out.bin"),
        ],
        ["PLAINTEXT_FILE", "metadata.name is 'db', the key says 'x'"],
    ),
    "encode: output file exists": (
        lambda f: [
            "encode",
            "-c",
            f.path("config.yaml"),
            "-k",
            KEY,
            f.path("plain.bin"),
            "--output-file",
            f.path("existing.bin"),
        ],
        ["--output-file", "existing.bin", "already exists", "--force"],
    ),
    "encode: output file is a directory": (
        lambda f: [
            "encode",
            "-c",
            f.path("config.yaml"),
            "-k",
            KEY,
            f.path("plain.bin"),
            "--output-file",
            f.path("a-dir"),
        ],
        ["--output-file", "a-dir", "is a directory"],
    ),
    "encode: output file in a missing directory": (
        lambda f: [
            "encode",
            "-c",
            f.path("config.yaml"),
            "-k",
            KEY,
            f.path("plain.bin"),
            "--output-file",
            f.path("nowhere/out.bin"),
        ],
        ["--output-file", "nowhere", "does not exist"],
    ),
    "encode: config malformed": (
        lambda f: [
            "encode",
            "-c",
            f.path("broken.yaml"),
            "-k",
            KEY,
            f.path("plain.bin"),
            "--output-file",
            f.path("out.bin"),
        ],
        ["broken.yaml", "not valid YAML"],
    ),
    # scan
    "scan: singular resource": (
        lambda f: ["scan", *NOWHERE, "-r", "secret", "--fail-on", "plaintext"],
        ["--resource 'secret'", "did you mean secrets?"],
    ),
    "scan: kind for a resource": (
        lambda f: ["scan", *NOWHERE, "-r", "secrets,ConfigMap"],
        ["--resource 'ConfigMap'", "did you mean configmaps?"],
    ),
    "scan: unknown resource": (
        lambda f: ["scan", *NOWHERE, "-r", "widgets"],
        ["--resource 'widgets'", "widgets.example.com"],
    ),
    "scan: wildcard resource": (
        lambda f: ["scan", *NOWHERE, "-r", "*.*"],
        ["--resource '*.*'", "name one resource"],
    ),
    "scan: stale gate without a config": (
        lambda f: ["scan", *NOWHERE, "--fail-on", "stale"],
        ["--fail-on stale", "needs --config"],
    ),
    "scan: unknown gate": (
        lambda f: ["scan", *NOWHERE, "--fail-on", "plaintxt"],
        ["--fail-on", "'plaintxt' is not one of", "plaintext"],
    ),
    "scan: config malformed": (
        lambda f: ["scan", *NOWHERE, "-c", f.path("broken.yaml")],
        ["broken.yaml", "not valid YAML"],
    ),
    "scan: config of another kind": (
        lambda f: ["scan", *NOWHERE, "-c", f.path("wrong-kind.yaml")],
        ["wrong-kind.yaml", 'kind "Config" is not supported'],
    ),
    "scan: CA file missing": (
        lambda f: ["scan", "--endpoints", "https://127.0.0.1:1", "--cacert", f.path("ca.pem")],
        ["--cacert", "ca.pem", "cannot read"],
    ),
    "scan: certificate without its key": (
        lambda f: ["scan", "--endpoints", "https://127.0.0.1:1", "--cert", f.path("c.pem")],
        ["--cert and --key go together"],
    ),
    "scan: endpoint scheme": (
        lambda f: ["scan", "--endpoints", "ftp://127.0.0.1:1"],
        ["scheme 'ftp' is not supported"],
    ),
    "scan: timeout not a number": (
        lambda f: ["scan", *NOWHERE[:2], "--timeout", "soon"],
        ["--timeout", "a valid number"],
    ),
    "scan: bad output format": (
        lambda f: ["scan", *NOWHERE, "-o", "xml"],
        ["--output", "'xml' is not one of"],
    ),
    # decrypt
    "decrypt: singular resource": (
        lambda f: [
            "decrypt",
            *NOWHERE,
            "-c",
            f.path("config.yaml"),
            "-r",
            "secret",
            "--output-dir",
            f.path("restore"),
        ],
        ["--resource 'secret'", "did you mean secrets?"],
    ),
    "decrypt: output dir is a file": (
        lambda f: [
            "decrypt",
            *NOWHERE,
            "-c",
            f.path("config.yaml"),
            "--output-dir",
            f.path("existing.bin"),
        ],
        ["--output-dir", "existing.bin", "not a directory"],
    ),
    "decrypt: output dir not empty": (
        lambda f: [
            "decrypt",
            *NOWHERE,
            "-c",
            f.path("config.yaml"),
            "--output-dir",
            f.path("full-dir"),
        ],
        ["--output-dir", "full-dir", "not empty", "--start-after", "--force"],
    ),
    "decrypt: output dir under a file": (
        lambda f: [
            "decrypt",
            *NOWHERE,
            "-c",
            f.path("config.yaml"),
            "--output-dir",
            f.path("existing.bin/restore"),
        ],
        ["--output-dir", "existing.bin", "is not a directory"],
    ),
    "decrypt: old and new output dir disagree": (
        lambda f: [
            "decrypt",
            *NOWHERE,
            "-c",
            f.path("config.yaml"),
            "--output-dir",
            f.path("a"),
            "--out-dir",
            f.path("b"),
        ],
        ["--output-dir and --out-dir (its old name) disagree"],
    ),
    "decrypt: config missing": (
        lambda f: [
            "decrypt",
            *NOWHERE,
            "-c",
            f.path("absent.yaml"),
            "--output-dir",
            f.path("restore"),
        ],
        ["absent.yaml", "cannot read the file"],
    ),
    "decrypt: config malformed": (
        lambda f: ["decrypt", *NOWHERE, "-c", f.path("broken.yaml")],
        ["broken.yaml", "not valid YAML"],
    ),
    "decrypt: table is not a manifest format": (
        lambda f: ["decrypt", *NOWHERE, "-c", f.path("config.yaml"), "-o", "table"],
        ["--output", "'table' is not one of", "yaml", "json"],
    ),
    "decrypt: config flag missing": (
        lambda f: ["decrypt", *NOWHERE],
        ["Missing option '--config'"],
    ),
    # rewrap
    "rewrap: config missing": (
        lambda f: ["rewrap", *NOWHERE, "-c", f.path("absent.yaml")],
        ["absent.yaml", "cannot read the file"],
    ),
    "rewrap: config is a directory": (
        lambda f: ["rewrap", *NOWHERE, "-c", f.path("a-dir")],
        ["a-dir", "Is a directory"],
    ),
    "rewrap: config malformed": (
        lambda f: ["rewrap", *NOWHERE, "-c", f.path("broken.yaml"), "--apply"],
        ["broken.yaml", "not valid YAML"],
    ),
    "rewrap: singular resource": (
        lambda f: ["rewrap", *NOWHERE, "-c", f.path("config.yaml"), "-r", "Secret", "--apply"],
        ["--resource 'Secret'", "did you mean secrets?"],
    ),
    "rewrap: resource the config does not cover": (
        lambda f: ["rewrap", *NOWHERE, "-c", f.path("config.yaml"), "-r", "configmaps"],
        ["--resource 'configmaps'", "config.yaml has no entry for configmaps", "cover secrets"],
    ),
    "rewrap: all resources and some": (
        lambda f: [
            "rewrap",
            *NOWHERE,
            "-c",
            f.path("config.yaml"),
            "-r",
            "secrets",
            "--all-resources",
        ],
        ["--all-resources and --resource exclude each other"],
    ),
    "rewrap: batch too large": (
        lambda f: ["rewrap", *NOWHERE, "-c", f.path("config.yaml"), "--batch-size", "1000"],
        ["--batch-size", "128"],
    ),
    "rewrap: would write plaintext": (
        lambda f: ["rewrap", *NOWHERE, "-c", f.path("identity-first.yaml"), "--apply"],
        ["identity-first.yaml", "providers[0] is identity", "--allow-plaintext"],
    ),
    "etcd: unknown command": (
        lambda f: ["scna"],
        ["No such command 'scna'", "Did you mean 'scan'?"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_error_line_exit_2_and_writes_nothing(files: Files, name: str) -> None:
    make_argv, named = CASES[name]
    before = _tree(files.root)
    cwd = os.getcwd()
    os.chdir(files.root)  # anything written to a relative path would show in the tree
    try:
        result = runner.invoke(app, ["etcd", *make_argv(files)])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert isinstance(result.exception, SystemExit), result.exception  # handled, not a crash
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in named:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert _tree(files.root) == before
    printed = result.stdout + result.stderr
    assert SECRET_KEY not in printed
    assert PASSWORD.decode() not in printed


def test_an_unreadable_file_is_named(files: Files) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads a file whatever its mode")
    value = files.root / "value.bin"
    value.chmod(0)
    try:
        result = runner.invoke(
            app, ["etcd", "decode", "-c", files.path("config.yaml"), "-k", KEY, str(value)]
        )
    finally:
        value.chmod(0o600)
    assert result.exit_code == 2
    assert result.stderr == f"error: VALUE_FILE {value}: cannot read (Permission denied)\n"
