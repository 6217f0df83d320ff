"""``sealbox demo``: what ``make run`` shows, on built-in defaults and nothing else.

It starts a KMS v2 plugin with a throwaway key on a socket in a temp dir, writes one Secret the
way kube-apiserver stores it with every provider, reads each value back through the apiserver's
provider-chain rules, and shows what protects the data (and what does not). Everything it starts
is stopped and deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import grpc
from rich.console import Console

from sealbox.cli import render
from sealbox.encryption.config import lint_config, parse_config
from sealbox.encryption.keygen import generate_key
from sealbox.encryption.transformers import StorageTransformers
from sealbox.errors import SealboxError
from sealbox.kmsapi.client import GrpcConnector
from sealbox.kmsapi.static_plugin import AESGCMWrapper, StaticKEKPlugin
from sealbox.ops.decode import decode_value
from sealbox.storage import codec

__all__ = ["demo"]

ETCD_KEY = "/registry/secrets/default/db-credentials"
MOVED_KEY = "/registry/secrets/attacker/db-credentials"
DEMO_PASSWORD = b"demo-password-not-a-real-secret"
PROVIDER_ORDER = ("kms", "aesgcm", "secretbox", "aescbc", "identity")
BROKEN_CONFIG = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: ["*.*", secrets]
  providers:
  - kms: {name: "prod:kms", endpoint: "tcp://10.0.0.1:8080", cachesize: 100, apiVersion: v2}
  - aescbc: {keys: [{name: k1, secret: c2hvcnQ=}]}
"""


@contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sealbox-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _provider_yaml(kind: str, endpoint: str, keys: dict[str, str]) -> str:
    if kind == "kms":
        return (
            f"  - kms:\n      apiVersion: v2\n      name: demo-kms\n"
            f"      endpoint: {endpoint}\n      timeout: 3s\n"
        )
    if kind == "identity":
        return "  - identity: {}\n"
    return f"  - {kind}:\n      keys:\n      - name: {kind}-key-1\n        secret: {keys[kind]}\n"


def _config_yaml(first: str, endpoint: str, keys: dict[str, str]) -> str:
    order = (first, *(kind for kind in PROVIDER_ORDER if kind != first))
    providers = "".join(_provider_yaml(kind, endpoint, keys) for kind in order)
    return (
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        f"- resources: [secrets]\n  providers:\n{providers}"
    )


def demo() -> None:
    """Show Sealbox reading and writing etcd values exactly as kube-apiserver does."""
    console = render.stdout_console()
    if not console.is_terminal:
        console.width = 120
    console.rule("[bold]Sealbox: Kubernetes encryption at rest, byte for byte")
    with _workdir() as workdir:
        plugin = StaticKEKPlugin(
            str(workdir / "kms.sock"),
            AESGCMWrapper(kek=os.urandom(32), key_id="demo-kek-1"),
            annotations={"version.demo.sealbox.io": b"1"},
        )
        with plugin:
            console.print(f"KMS v2 plugin (throwaway key) listening on [cyan]{plugin.endpoint}")
            keys = {kind: generate_key(kind) for kind in ("aesgcm", "secretbox", "aescbc")}
            _show_writes(console, plugin.endpoint, keys)
            _show_guarantees(console, plugin, keys)
    _show_validation(console)
    console.print("[green]Done: every process and file the demo created is gone.")


def _show_writes(console: Console, endpoint: str, keys: dict[str, str]) -> None:
    plaintext = codec.encode_secret(
        name="db-credentials",
        namespace="default",
        data={"username": b"admin", "password": DEMO_PASSWORD},
    )
    console.print(
        f"A Secret [cyan]default/db-credentials[/] serialized as the apiserver stores it: "
        f"{len(plaintext)} bytes of k8s protobuf.\n"
    )
    current = parse_config(_config_yaml("kms", endpoint, keys), "current config")
    rows = []
    with GrpcConnector() as connector:
        reader = StorageTransformers(current, connector)
        for kind in PROVIDER_ORDER:
            config = parse_config(_config_yaml(kind, endpoint, keys), f"{kind}-first config")
            value = StorageTransformers(config, connector).write(ETCD_KEY, plaintext)
            decoded = decode_value(reader, ETCD_KEY, value)
            same = decoded.read.data == plaintext
            rows.append(
                [
                    decoded.read.provider,
                    _visible_prefix(value),
                    len(value),
                    "[red]yes" if DEMO_PASSWORD in value else "[green]no",
                    "[green]yes" if same else "[red]no",
                    "yes" if decoded.read.stale else "no",
                ]
            )
    console.print(
        render.table(
            "One Secret written by each provider, read back with kms v2 first in the chain",
            ["provider", "stored value starts", "bytes", "password visible", "reads back", "stale"],
            rows,
        )
    )
    console.print(
        "[dim]stale = not written by the first provider: a rewrite would re-encrypt it.[/]\n"
    )


def _visible_prefix(value: bytes) -> str:
    """``k8s:enc:<provider>:v1:<key>:`` for encrypted values; plaintext says so."""
    if not value.startswith(b"k8s:enc:"):
        return "k8s\\x00… (plaintext protobuf)"
    parts = value.split(b":", 5)
    return (b":".join(parts[:5]) + b":").decode("ascii", errors="replace")


def _try(action: str, read: Callable[[], object]) -> list[str]:
    try:
        read()
    except SealboxError as exc:
        reason = str(exc).split("could not be decrypted: ", 1)[-1]
        return [action, "[green]rejected", reason]
    return [action, "[red]accepted", "not bound to the etcd key (aescbc/secretbox have no AAD)"]


def _show_guarantees(console: Console, plugin: StaticKEKPlugin, keys: dict[str, str]) -> None:
    plaintext = codec.encode_secret(name="x", namespace="default", data={"k": b"v"})
    rows = []
    with GrpcConnector() as connector:
        for kind in ("kms", "aesgcm", "secretbox", "aescbc"):
            config = parse_config(_config_yaml(kind, plugin.endpoint, keys), "demo")
            transformers = StorageTransformers(config, connector)
            value = transformers.write(ETCD_KEY, plaintext)
            flipped = value[:-1] + bytes([value[-1] ^ 1])
            label = "kms-v2" if kind == "kms" else kind
            rows.append(
                _try(f"{label}: one bit flipped", partial(transformers.read, ETCD_KEY, flipped))
            )
            rows.append(
                _try(
                    f"{label}: copied to {MOVED_KEY}", partial(transformers.read, MOVED_KEY, value)
                )
            )
        config = parse_config(_config_yaml("kms", plugin.endpoint, keys), "demo")
        value = StorageTransformers(config, connector).write(ETCD_KEY, plaintext)
        fresh = StorageTransformers(config, connector)
        plugin.fail_with(grpc.StatusCode.UNAVAILABLE)
        rows.append(_try("kms-v2: plugin down", partial(fresh.read, ETCD_KEY, value)))
        plugin.fail_with(None)
    console.print(render.table("What protects a stored value", ["attempt", "result", "why"], rows))
    console.print()


def _show_validation(console: Console) -> None:
    report = lint_config(BROKEN_CONFIG, "broken-config.yaml")
    rows = [[issue.path, issue.message] for issue in report.errors]
    console.print(
        render.table(
            "`sealbox config validate` on a config kube-apiserver would refuse",
            ["field", "error"],
            rows,
        )
    )
