"""Bad input on the config, kms, seal and demo commands, and the root: one ``error:`` line, no
traceback.

The etcd and audit commands, ``controller sync`` and ``rotate`` have files of their own
(test_etcd_bad_input.py, test_audit_bad_input.py, test_controller_sync.py, test_rotate_cli.py);
:func:`test_every_command_is_driven_with_bad_input` checks that they together reach every command
of the CLI. Each case runs one command as a user would, with
one thing wrong, and must end the same way:

1. the documented exit code (2 for a usage or input error);
2. stderr is exactly one line, ``error: ...``, naming the file, flag or field at fault and what
   would be valid;
3. no traceback;
4. nothing written: stdout empty, the working directory as it was (a keyring that exists is
   not touched), no socket left behind;

and nothing secret is printed (the keyring's key material).
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.kms.backends.local import create_keyring, load_keyring
from tests.cli import (
    test_audit_bad_input,
    test_controller_sync,
    test_etcd_bad_input,
    test_rotate_cli,
)
from tests.cli.test_seal_cli import sealing_cert
from tests.integration.processes import free_port

runner = CliRunner()


@dataclass(frozen=True)
class Files:
    root: Path

    def path(self, name: str) -> str:
        return str(self.root / name)


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Files]:
    root = Path(os.path.realpath("/tmp")) / f"sbx-bad-{os.getpid()}"  # unix socket paths: short
    root.mkdir(mode=0o700)
    create_keyring(root / "kek.key")
    (root / "a-dir").mkdir()
    (root / "broken.yaml").write_text("socket: [\n")
    (root / "not-json.key").write_text("{not json")
    (root / "not-json.key").chmod(0o600)
    (root / "vault.yaml").write_text(
        "apiVersion: sealbox.io/v1alpha1\nkind: KMSPluginConfiguration\nsocket: /run/k.sock\n"
        "backends:\n  primary: {type: vault, address: 'https://vault:8200', keyName: k8s,\n"
        "    auth: {method: token, tokenFile: token}}\n"
    )
    yield Files(root)
    for path in sorted(root.rglob("*"), reverse=True):
        path.unlink() if not path.is_dir() else path.rmdir()
    root.rmdir()


def _tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in root.rglob("*")
    }


Case = Callable[[Files], list[str]]


def _encryption_config(f: Files) -> str:
    """A valid EncryptionConfiguration, for cases where something else is wrong."""
    path = f.root / "encryption-config.yaml"
    path.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        "  - resources: [secrets]\n    providers:\n      - identity: {}\n"
    )
    return str(path)


@functools.cache
def _sealing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _seal(f: Files, manifest: str, *args: str) -> list[str]:
    """``sealbox seal`` of ``manifest`` to a valid certificate, plus ``args``."""
    (f.root / "cluster.pem").write_bytes(sealing_cert(_sealing_key()))
    (f.root / "in.yaml").write_text(manifest)
    return ["seal", str(f.root / "in.yaml"), "--cert", str(f.root / "cluster.pem"), *args]


_SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: b}\nstringData: {k: v}\n"


def _existing(f: Files) -> list[str]:
    (f.root / "sealed.yaml").write_text("kept\n")
    return _seal(f, _SECRET, "--output-file", f.path("sealed.yaml"))


def _sealed_secret(f: Files) -> str:
    """A SealedSecret file, for the modes that read one."""
    (f.root / "sealed.yaml").write_text(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: a, namespace: b}\n"
        "spec: {encryptedData: {k: AgA=}}\n"
    )
    return f.path("sealed.yaml")


def _controller(f: Files, *, flag: str, value: str) -> list[str]:
    """``sealbox controller sealing`` with one bad flag; the rest valid, a kubeconfig that
    exists (never contacted: each case is refused before a cluster is asked)."""
    kubeconfig = f.root / "kubeconfig.yaml"
    if not kubeconfig.exists():
        kubeconfig.write_text(_KUBECONFIG)
    if flag in ("--key-wrap-config", "--kubeconfig"):
        value = f.path(value)
    base = ["controller", "sealing", "--key-namespace", "sealing"]
    if flag != "--kubeconfig":
        base += ["--kubeconfig", str(kubeconfig)]
    return [
        *base,
        f"{flag}={value}" if value.startswith("-") else flag,
        *([] if value.startswith("-") else [value]),
    ]


_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


CASES: dict[str, tuple[Case, list[str], int]] = {
    # config validate / keygen
    "config validate: file missing": (
        lambda f: ["config", "validate", f.path("absent.yaml")],
        ["absent.yaml", "No such file"],
        2,
    ),
    "config validate: a directory": (
        lambda f: ["config", "validate", f.path("a-dir")],
        ["a-dir", "Is a directory"],
        2,
    ),
    "config validate: bad output format": (
        lambda f: ["config", "validate", f.path("broken.yaml"), "-o", "xml"],
        ["--output", "'xml' is not one of"],
        2,
    ),
    "config keygen: unknown kind": (
        lambda f: ["config", "keygen", "aes"],
        ["KIND", "'aes' is not one of", "aesgcm"],
        2,
    ),
    "config keygen: wrong key size": (
        lambda f: ["config", "keygen", "secretbox", "--size", "16"],
        ["--size 16", "secretbox keys are 32 bytes long"],
        2,
    ),
    # config loaded (needs no cluster: each is refused before one is asked)
    "config loaded: file missing": (
        lambda f: ["config", "loaded", f.path("absent.yaml")],
        ["absent.yaml", "no such file"],
        2,
    ),
    "config loaded: not an EncryptionConfiguration": (
        lambda f: ["config", "loaded", f.path("broken.yaml")],
        ["broken.yaml", "kube-apiserver refuses such a file", "sealbox config validate"],
        2,
    ),
    "config loaded: --apiserver not a URL": (
        lambda f: ["config", "loaded", "--apiserver", "10.0.0.11:6443", _encryption_config(f)],
        ["--apiserver 10.0.0.11:6443", "https://10.0.0.11:6443"],
        2,
    ),
    "config loaded: bad timeout": (
        lambda f: ["config", "loaded", "--timeout", "soon", _encryption_config(f)],
        ["--timeout", "10ms and 5m"],
        2,
    ),
    "config loaded: kubeconfig missing": (
        lambda f: [
            "config",
            "loaded",
            "--kubeconfig",
            f.path("absent-kubeconfig"),
            _encryption_config(f),
        ],
        ["--kubeconfig", "absent-kubeconfig", "no such file"],
        2,
    ),
    # kms keygen
    "kms keygen: keyring exists": (
        lambda f: ["kms", "keygen", "--key-file", f.path("kek.key")],
        ["kek.key", "already exists"],
        2,
    ),
    "kms keygen: directory missing": (
        lambda f: ["kms", "keygen", "--key-file", f.path("nowhere/kek.key")],
        ["nowhere/kek.key", "cannot write"],
        2,
    ),
    "kms keygen: a directory": (
        lambda f: ["kms", "keygen", "--key-file", f.path("a-dir")],
        ["a-dir", "already exists"],
        2,
    ),
    # kms rotate-key
    "kms rotate-key: neither source": (
        lambda f: ["kms", "rotate-key"],
        ["--key-file", "--config"],
        2,
    ),
    "kms rotate-key: keyring missing": (
        lambda f: ["kms", "rotate-key", "--key-file", f.path("absent.key")],
        ["absent.key", "sealbox kms keygen --key-file"],
        2,
    ),
    "kms rotate-key: keyring not JSON": (
        lambda f: ["kms", "rotate-key", "--key-file", f.path("not-json.key")],
        ["not-json.key", "not JSON"],
        2,
    ),
    "kms rotate-key: keyring is a directory": (
        lambda f: ["kms", "rotate-key", "--key-file", f.path("a-dir")],
        ["a-dir", "is a directory"],
        2,
    ),
    "kms rotate-key: config malformed": (
        lambda f: ["kms", "rotate-key", "--config", f.path("broken.yaml")],
        ["broken.yaml:2:1", "not valid YAML"],
        2,
    ),
    "kms rotate-key: a backend that rotates elsewhere": (
        lambda f: ["kms", "rotate-key", "--config", f.path("vault.yaml")],
        ["backends.primary is vault", "rotate the key in vault itself"],
        2,
    ),
    # kms serve
    "kms serve: keyring missing": (
        lambda f: ["kms", "serve", "--socket", f.path("k.sock"), "--key-file", f.path("no.key")],
        ["no.key", "sealbox kms keygen --key-file"],
        2,
    ),
    "kms serve: keyring is a directory": (
        lambda f: ["kms", "serve", "--socket", f.path("k.sock"), "--key-file", f.path("a-dir")],
        ["a-dir", "is a directory"],
        2,
    ),
    "kms serve: relative socket": (
        lambda f: ["kms", "serve", "--socket", "rel.sock", "--key-file", f.path("kek.key")],
        ["--socket", "expected an absolute socket path", "'rel.sock'"],
        2,
    ),
    "kms serve: socket directory missing": (
        lambda f: [
            "kms",
            "serve",
            "--socket",
            f.path("gone/k.sock"),
            "--key-file",
            f.path("kek.key"),
        ],
        ["gone/k.sock", "does not exist"],
        2,
    ),
    "kms serve: config missing": (
        lambda f: ["kms", "serve", "--config", f.path("absent.yaml")],
        ["absent.yaml", "no such file"],
        2,
    ),
    "kms serve: config malformed": (
        lambda f: ["kms", "serve", "--config", f.path("broken.yaml")],
        ["broken.yaml:2:1", "not valid YAML"],
        2,
    ),
    "kms serve: config and key file": (
        lambda f: [
            "kms",
            "serve",
            "--config",
            f.path("vault.yaml"),
            "--key-file",
            f.path("kek.key"),
        ],
        ["--key-file", "with --config the backends come from"],
        2,
    ),
    "kms serve: another backend by flag": (
        lambda f: ["kms", "serve", "--socket", f.path("k.sock"), "--backend", "vault"],
        ["--backend vault", "--config"],
        2,
    ),
    "kms serve: bad probe interval": (
        lambda f: [
            "kms",
            "serve",
            "--socket",
            f.path("k.sock"),
            "--key-file",
            f.path("kek.key"),
            "--probe-interval",
            "soon",
        ],
        ["--probe-interval", "invalid duration"],
        2,
    ),
    "kms serve: bad metrics address": (
        lambda f: [
            "kms",
            "serve",
            "--socket",
            f.path("k.sock"),
            "--key-file",
            f.path("kek.key"),
            "--metrics-address",
            "9464",
        ],
        ["--metrics-address", "host:port"],
        2,
    ),
    "kms serve: bad log level": (
        lambda f: ["kms", "serve", "--log-level", "loud"],
        ["--log-level", "'loud' is not one of"],
        2,
    ),
    # kms status
    "kms status: relative socket": (
        lambda f: ["kms", "status", "--socket", "rel.sock"],
        ["--socket", "absolute"],
        2,
    ),
    "kms status: bad timeout": (
        lambda f: ["kms", "status", "--socket", f.path("k.sock"), "--timeout", "soon"],
        ["--timeout"],
        2,
    ),
    # seal
    "seal: file missing": (
        lambda f: ["seal", f.path("absent.yaml"), "--cert", f.path("absent.pem")],
        ["FILE", "absent.yaml", "no such file"],
        2,
    ),
    "seal: not a Secret": (
        lambda f: _seal(f, _SECRET.replace("Secret", "ConfigMap")),
        ["in.yaml", "kind: ConfigMap", "expected kind: Secret, apiVersion: v1"],
        2,
    ),
    "seal: already sealed": (
        lambda f: _seal(f, "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n"),
        ["in.yaml", "already a SealedSecret", "seal a v1 Secret"],
        2,
    ),
    "seal: cert missing": (
        lambda f: [*_seal(f, _SECRET)[:2], "--cert", f.path("absent.pem")],
        ["--cert", "absent.pem", "no such file"],
        2,
    ),
    "seal: bad scope": (
        lambda f: _seal(f, _SECRET, "--scope", "global"),
        ["--scope", "'global' is not one of", "namespace-wide"],
        2,
    ),
    "seal: output file exists": (
        _existing,
        ["--output-file", "sealed.yaml", "already exists", "--force"],
        2,
    ),
    "seal: --merge-into missing": (
        lambda f: _seal(f, _SECRET, "--merge-into", f.path("absent.yaml")),
        ["--merge-into", "absent.yaml", "no such file"],
        2,
    ),
    "seal: --merge-into not a SealedSecret": (
        lambda f: _seal(f, _SECRET, "--merge-into", f.path("vault.yaml")),
        ["--merge-into", "vault.yaml", "kind: KMSPluginConfiguration", "kind: SealedSecret"],
        2,
    ),
    "seal: --merge-into with --raw": (
        lambda f: ["seal", *_seal(f, _SECRET)[2:], "--raw", "--merge-into", f.path("vault.yaml")],
        ["--raw and --merge-into", "choose one of them"],
        2,
    ),
    "seal: --cert URL unreachable": (
        lambda f: [*_seal(f, _SECRET)[:3], f"http://127.0.0.1:{free_port()}/cert.pem"],
        ["--cert http://127.0.0.1:", "cannot fetch"],
        2,
    ),
    "seal: no --cert and no kubeconfig": (
        lambda f: [*_seal(f, _SECRET)[:2], "--kubeconfig", f.path("absent.kubeconfig")],
        ["--kubeconfig", "absent.kubeconfig"],
        2,
    ),
    "seal: --fetch-cert with --validate": (
        lambda f: _seal(f, _SECRET, "--fetch-cert", "--validate"),
        ["--fetch-cert and --validate", "choose one"],
        2,
    ),
    "seal: --validate of a Secret": (
        lambda f: _seal(f, _SECRET, "--validate"),
        ["in.yaml", "kind: Secret", "expected kind: SealedSecret"],
        2,
    ),
    "seal: --re-encrypt of another kind": (
        lambda f: ["seal", "--re-encrypt", f.path("vault.yaml")],
        ["vault.yaml", "kind: KMSPluginConfiguration", "expected kind: SealedSecret"],
        2,
    ),
    "seal: --recipients missing": (
        lambda f: _seal(f, _SECRET, "--recipients", f.path("absent.pem")),
        ["--recipients", "absent.pem", "no such file"],
        2,
    ),
    "seal: --recipients not a certificate": (
        lambda f: _seal(f, _SECRET, "--recipients", f.path("broken.yaml")),
        ["--recipients", "broken.yaml", "no PEM certificate"],
        2,
    ),
    "seal: --recipients with --validate": (
        lambda f: _seal(f, _SECRET, "--recipients", f.path("cluster.pem"), "--validate"),
        ["--recipients", "only when sealing", "--validate"],
        2,
    ),
    "seal: --recovery-unseal without keys": (
        lambda f: ["seal", "--recovery-unseal", _sealed_secret(f)],
        ["--recovery-private-key", "required with --recovery-unseal"],
        2,
    ),
    "seal: --recovery-private-key missing": (
        lambda f: [
            *["seal", "--recovery-unseal", _sealed_secret(f)],
            *["--recovery-private-key", f"{f.path('absent.pem')},{f.path('kek.key')}"],
        ],
        ["--recovery-private-key", "absent.pem", "no such file"],
        2,
    ),
    "seal: --recovery-private-key not a key": (
        lambda f: [
            *["seal", "--recovery-unseal", _sealed_secret(f)],
            *["--recovery-private-key", f.path("vault.yaml")],
        ],
        ["--recovery-private-key", "vault.yaml", "no private key found"],
        2,
    ),
    "seal: --show-values without --recovery-unseal": (
        lambda f: _seal(f, _SECRET, "--show-values"),
        ["--show-values", "only with --recovery-unseal"],
        2,
    ),
    # seal inventory
    "seal inventory: DIR missing": (
        lambda f: ["seal", "inventory", f.path("absent")],
        ["DIR", "absent", "no such file or directory"],
        2,
    ),
    "seal inventory: --private-key not a key": (
        lambda f: ["seal", "inventory", f.path("a-dir"), "--private-key", f.path("vault.yaml")],
        ["--private-key", "vault.yaml", "no private key found"],
        2,
    ),
    "seal inventory: --cert not a certificate": (
        lambda f: ["seal", "inventory", f.path("a-dir"), "--cert", f.path("broken.yaml")],
        ["--cert", "broken.yaml", "no PEM certificate"],
        2,
    ),
    "seal inventory: bad output format": (
        lambda f: ["seal", "inventory", f.path("a-dir"), "-o", "xml"],
        ["sealbox seal inventory", "'xml' is not one of"],
        2,
    ),
    # controller sealing: every flag is checked before the controller starts
    **{
        f"controller sealing: {flag} {value}": (
            functools.partial(_controller, flag=flag, value=value),
            [flag, *named],
            2,
        )
        for flag, value, named in [
            ("--key-size", "1024", ["2048 to 16384"]),
            ("--key-renew-period", "monthly", ["720h"]),
            ("--key-cutoff-time", "yesterday", ["RFC1123", "date -R"]),
            ("--key-order-priority", "Random", ["'Random' is not one of", "CertNotBefore"]),
            ("--max-unseal-retries", "-1", ["0 or more"]),
            ("--rate-limit", "-1", ["0 or more"]),
            ("--rate-limit-burst", "-2", ["0 or more"]),
            ("--key-ttl", "0", ["more than 0", "720h"]),
            ("--privatekey-labels", "team", ["'team'", "key=value", "comma-separated"]),
            ("--privatekey-labels", "team=a b", ["team", "not a label value"]),
            ("--privatekey-annotations", "Bad Key=x", ["'Bad Key'", "key=value"]),
            ("--listen-addr", "8080", ["[host]:port", ":8080"]),
            ("--listen-metrics-addr", ":metrics", ["[host]:port"]),
            ("--key-namespace", "Kube_System", ["not a namespace name"]),
            ("--namespace", "Apps", ["not a namespace name"]),
            ("--additional-namespaces", "ok,Not_OK", ["Not_OK", "comma-separated"]),
            ("--label-selector", "app=(web", ["app=(web", "env in (prod,stage)"]),
            ("--key-prefix", "Sealed_Keys", ["Kubernetes object name"]),
            ("--key-wrap-config", "absent.yaml", ["absent.yaml", "cannot read"]),
            ("--key-wrap-config", "broken.yaml", ["broken.yaml", "not YAML"]),
            ("--key-wrap-config", "vault.yaml", ["vault.yaml", "auth.tokenFile", "cannot read"]),
            ("--leader-election-lease-name", "Lease!", ["Kubernetes object name"]),
            ("--leader-election-namespace", "NS", ["not a namespace name"]),
            ("--leader-election-identity", " ", ["non-empty"]),
            ("--leader-election-lease-duration", "1s", ["2s < 10s < 15s"]),
            ("--leader-election-renew-deadline", "soon", ["more than 0"]),
            ("--leader-election-retry-period", "0", ["more than 0"]),
            ("--log-level", "loud", ["'loud' is not one of"]),
            ("--kubeconfig", "absent-kubeconfig", ["absent-kubeconfig", "no such file"]),
            ("--context", "nowhere", ["nowhere"]),
        ]
    },
    # seal backup (refused before any cluster is asked)
    "seal backup: bad recipient": (
        lambda f: ["seal", "backup", "-r", "not-a-key", "--kubeconfig", f.path("absent")],
        ["--recipient #1", "not an age1"],
        2,
    ),
    "seal backup: no recipient": (
        lambda f: ["seal", "backup", "--output-file", f.path("keys.age")],
        ["sealbox seal backup", "--recipient"],
        2,
    ),
    "seal backup: output file exists": (
        lambda f: ["seal", "backup", "-r", "age1x", "--output-file", f.path("vault.yaml")],
        ["--output-file", "vault.yaml", "already exists", "--force"],
        2,
    ),
    # demo and the root
    "demo: unknown flag": (
        lambda f: ["demo", "--bogus"],
        ["No such option: --bogus", "sealbox demo --help"],
        2,
    ),
    "root: unknown command": (
        lambda f: ["kmss", "serve"],
        ["No such command 'kmss'", "sealbox --help"],
        2,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_clear_error(name: str, files: Files) -> None:
    build, named, code = CASES[name]
    argv = build(files)
    before = _tree(files.root)
    secret = base64.b64encode(load_keyring(files.root / "kek.key")[0].material).decode()
    result = runner.invoke(app, argv, catch_exceptions=False)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in named:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert _tree(files.root) == before  # nothing written, nothing replaced, no socket left
    assert secret not in result.stderr


def _commands() -> set[str]:
    def walk(command: typer.core.TyperGroup, path: tuple[str, ...]) -> set[str]:
        found: set[str] = set()
        for name, sub in command.commands.items():
            if isinstance(sub, typer.core.TyperGroup):
                found |= walk(sub, (*path, name))
            elif not sub.hidden:
                found.add(" ".join((*path, name)))
        return found

    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    return walk(root, ())


def _covered(argvs: list[list[str]]) -> set[str]:
    known = _commands()
    covered = set()
    for argv in argvs:
        words = [word for word in argv if not word.startswith("-")]
        for size in (2, 1):
            if " ".join(words[:size]) in known:
                covered.add(" ".join(words[:size]))
                break
    return covered


def test_every_command_is_driven_with_bad_input(tmp_path: Path) -> None:
    mine = Files(tmp_path)
    argvs = [build(mine) for build, _, _ in CASES.values()]
    etcd_files = test_etcd_bad_input.Files(tmp_path)
    argvs += [["etcd", *build(etcd_files)] for build, _ in test_etcd_bad_input.CASES.values()]
    audit_files = test_audit_bad_input.Files(tmp_path)
    argvs += [
        ["audit", *prefix, *build(audit_files)]
        for prefix, build, _ in test_audit_bad_input.CASES.values()
    ]
    argvs += [build(tmp_path) for build, _ in test_controller_sync.CASES.values()]
    argvs += [build(tmp_path) for build, _ in test_rotate_cli.CASES.values()]
    missing = _commands() - _covered(argvs)
    assert not missing, f"commands never driven with bad input: {sorted(missing)}"
    assert json.dumps(sorted(_commands()))  # the walk found the tree
