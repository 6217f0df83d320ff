"""``sealbox demo``: what ``make run`` shows, on built-in defaults and nothing else.

It starts its own etcd and ``sealbox kms serve`` (local keyring) in a temp dir, seeds Secrets the
way an unencrypted cluster stores them, scans etcd (all plaintext), rewraps everything to KMS v2,
scans again (all encrypted, none stale) and decrypts one back. Then it writes one Secret with
every provider and shows what protects a stored value, what kube-apiserver would refuse in a
config, what the audit finds in a small repository, and a Secret sealed for Git. Everything it
starts is stopped and deleted at the end.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from rich.console import Console

from sealbox.demo.sealing import show_sealing
from sealbox.demo.services import DemoServices, running_services
from sealbox.encryption import (
    StorageTransformers,
    classify_value,
    generate_key,
    lint_config,
    load_config,
    parse_config,
    provider_prefix,
)
from sealbox.errors import SealboxError
from sealbox.kms.client import GrpcConnector
from sealbox.ops import RewrapOptions, ScanSummary, decode_value, rewrap, scan, scan_prefixes
from sealbox.render import print_scan_table, stdout_console, table
from sealbox.storage import DEFAULT_PREFIX, encode_configmap, encode_secret
from sealbox.storage.etcd import EtcdClient, EtcdConfig

__all__ = ["run_demo"]

ETCD_KEY = "/registry/secrets/default/db-credentials"
MOVED_KEY = "/registry/secrets/attacker/db-credentials"
DEMO_PASSWORD = b"demo-password-not-a-real-secret"
PROVIDER_ORDER = ("kms", "aesgcm", "secretbox", "aescbc", "identity")
SEED_SECRETS = 40
ETCD_CONFIG = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets, configmaps]
  providers:
  - kms: {{apiVersion: v2, name: sealbox, endpoint: "{endpoint}", timeout: 3s}}
  - identity: {{}}
"""
BROKEN_CONFIG = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: ["*.*", secrets]
  providers:
  - kms: {name: "prod:kms", endpoint: "tcp://10.0.0.1:8080", cachesize: 100, apiVersion: v2}
  - aescbc: {keys: [{name: k1, secret: c2hvcnQ=}]}
"""


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


def run_demo() -> None:
    """Show Sealbox protecting Secrets in a real etcd, with its own KMS v2 plugin."""
    console = stdout_console()
    if not console.is_terminal:
        console.width = 120
    console.rule("[bold]Sealbox: Kubernetes Secrets encrypted at rest, byte for byte")
    with running_services() as services:
        console.print(f"etcd listening on [cyan]{services.etcd_url}[/]")
        console.print(f"sealbox kms serve (local keyring) on [cyan]{services.kms_endpoint}[/]\n")
        _show_etcd_story(console, services)
        keys = {kind: generate_key(kind) for kind in ("aesgcm", "secretbox", "aescbc")}
        _show_writes(console, services.kms_endpoint, keys)
        _show_guarantees(console, services.kms_endpoint, keys)
    _show_validation(console)
    _show_audit(console)
    show_sealing(console)
    console.print("[green]Done: every process and file the demo created is gone.\n")
    _show_next_steps(console)


def _seed(client: EtcdClient) -> dict[str, bytes]:
    """Secrets and ConfigMaps exactly as an apiserver without encryption stores them."""
    stored: dict[str, bytes] = {}
    for index in range(SEED_SECRETS):
        namespace, name = f"team-{index % 4}", f"app-{index:02d}-credentials"
        data = {
            "username": f"app{index}".encode(),
            "password": DEMO_PASSWORD + bytes([48 + index % 10]),
        }
        stored[f"/registry/secrets/{namespace}/{name}"] = encode_secret(
            name=name, namespace=namespace, data=data
        )
    for index in range(4):
        name = f"settings-{index}"
        stored[f"/registry/configmaps/team-{index}/{name}"] = encode_configmap(
            name=name, namespace=f"team-{index}", data={"mode": "demo"}
        )
    for key, value in stored.items():
        client.put(key.encode(), value)
    return stored


def _show_etcd_story(console: Console, services: DemoServices) -> None:
    config_path = services.workdir / "encryption-config.yaml"
    config_path.write_text(ETCD_CONFIG.format(endpoint=services.kms_endpoint))
    config = load_config(config_path)
    prefixes = scan_prefixes(DEFAULT_PREFIX, [])
    with EtcdClient(EtcdConfig(endpoints=(services.etcd_url,))) as client, GrpcConnector() as c:
        stored = _seed(client)
        console.print(
            f"1. Seeded {SEED_SECRETS} Secrets and 4 ConfigMaps the way an unencrypted cluster "
            "stores them. [bold]sealbox etcd scan[/]:"
        )
        before = ScanSummary()
        for _ in scan(client, prefixes, summary=before):
            pass
        print_scan_table(before, verified=False)
        transformers = StorageTransformers(config, c)
        summary = rewrap(client, prefixes, transformers, RewrapOptions(dry_run=False))
        console.print(
            f"\n2. [bold]sealbox etcd rewrap --apply[/] with KMS v2 first in the config: rewrote "
            f"{summary.rewritten} values in etcd transactions that check each key did not change "
            f"meanwhile ({summary.current} already current, {len(summary.failed)} failed).\n"
        )
        console.print("3. [bold]sealbox etcd scan --config[/] decrypts every value to verify it:")
        after = ScanSummary()
        for _ in scan(client, prefixes, transformers=transformers, summary=after):
            pass
        print_scan_table(after, verified=True)
        key = next(iter(stored))
        kv = client.get(key.encode())
        assert kv is not None
        decoded = decode_value(transformers, key, kv.value)
        secret = decoded.object
        same = decoded.read.data == stored[key]
        console.print(
            f"\n4. [bold]sealbox etcd decrypt[/]: {key} is {decoded.read.provider} "
            f"(key {decoded.read.key_name!r}); Secret {secret['metadata']['name']} with keys "
            f"{', '.join(sorted(secret.get('data', {})))}; identical to what was seeded: "
            f"{'[green]yes' if same else '[red]no'}[/]. Plaintext password still in etcd: "
            f"{'[red]yes' if DEMO_PASSWORD in kv.value else '[green]no'}[/].\n"
        )


def _show_writes(console: Console, endpoint: str, keys: dict[str, str]) -> None:
    plaintext = encode_secret(
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
        table(
            "One Secret written by each provider, read back with kms v2 first in the chain",
            ["provider", "stored value starts", "bytes", "password visible", "reads back", "stale"],
            rows,
        )
    )
    console.print(
        "[dim]stale = not written by the first provider: a rewrite would re-encrypt it.[/]\n"
    )


AUDITED_REPOSITORY = {
    "deploy/api.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      serviceAccountName: api
      containers:
      - name: api
        image: registry.example/api:1.4
        env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db-credentials, key: password}}
""",
    "deploy/rbac.yaml": """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: api-reads-secrets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects:
- {kind: ServiceAccount, name: api, namespace: shop}
""",
    "deploy/db-credentials.yaml": """\
apiVersion: v1
kind: Secret
metadata: {name: db-credentials, namespace: shop}
stringData: {password: committed-by-mistake}
""",
}
"""A small repository with three classic leaks, for the demo's audit."""


def _show_audit(console: Console) -> None:
    from sealbox.audit import AuditOptions, run_audit  # the engine loads only here

    with tempfile.TemporaryDirectory(prefix="sealbox-demo-audit-") as root:
        for name, text in AUDITED_REPOSITORY.items():
            path = Path(root, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        options = AuditOptions(paths=(str(Path(root, "deploy")),), honor_suppressions=False)
        report = run_audit(options)
        rows = [
            [
                finding.severity.name.lower(),
                finding.control.id,
                f"{Path(finding.location.path).relative_to(root)}:{finding.location.line}",
                finding.control.title,
            ]
            for finding in report.findings
        ]
    console.print(
        table(
            "`sealbox audit deploy/` on a small repository: where a Secret leaks, no value shown",
            ["severity", "control", "where", "what"],
            rows,
        )
    )
    console.print()


def _visible_prefix(value: bytes) -> str:
    """``k8s:enc:<provider>:v1:<key>:`` for encrypted values; plaintext says so."""
    provider, key_name = classify_value(value)
    if provider == "identity":
        return "k8s\\x00… (plaintext protobuf)"
    if provider == "unknown":
        return "(a prefix no provider writes)"
    if provider in ("kms-v1", "kms-v2"):
        return provider_prefix(provider, key_name).decode()  # the kms name is part of it
    return f"{provider_prefix(provider).decode()}{key_name}:"


def _try(action: str, read: Callable[[], object]) -> list[str]:
    try:
        read()
    except SealboxError as exc:
        reason = str(exc).split("could not be decrypted: ", 1)[-1]
        return [action, "[green]rejected", reason]
    return [action, "[red]accepted", "not bound to the etcd key (aescbc/secretbox have no AAD)"]


def _show_guarantees(console: Console, endpoint: str, keys: dict[str, str]) -> None:
    plaintext = encode_secret(name="x", namespace="default", data={"k": b"v"})
    rows = []
    with GrpcConnector() as connector:
        for kind in ("kms", "aesgcm", "secretbox", "aescbc"):
            config = parse_config(_config_yaml(kind, endpoint, keys), "demo")
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
    console.print(table("What protects a stored value", ["attempt", "result", "why"], rows))
    console.print()


def _show_validation(console: Console) -> None:
    report = lint_config(BROKEN_CONFIG, "broken-config.yaml")
    rows = [[issue.path, issue.message] for issue in report.errors]
    console.print(
        table(
            "`sealbox config validate` on a config kube-apiserver would refuse",
            ["field", "error"],
            rows,
        )
    )


NEXT_STEPS = (
    ("sealbox kms keygen --key-file kek.key", "create a local key-encryption key (0600)"),
    (
        "sealbox kms serve --socket /var/run/sealbox/kms.sock --key-file kek.key",
        "run the KMS v2 plugin kube-apiserver calls",
    ),
    ("sealbox config validate encryption-config.yaml", "check a config before the apiserver does"),
    (
        "sealbox etcd scan --endpoints https://127.0.0.1:2379 --cacert ca.crt --cert client.crt "
        "--key client.key --fail-on plaintext",
        "find Secrets stored in plaintext (a CI gate)",
    ),
    ("sealbox audit ./manifests", "where Secrets leak in a repository's manifests and RBAC"),
    ("sealbox seal secret.yaml --cert cert.pem", "seal a Secret for Git, as kubeseal does"),
    ("sealbox --help", "every command; each --help has examples"),
)
"""What the demo suggests at the end; tests check each line parses."""


def _show_next_steps(console: Console) -> None:
    console.print("[bold]What next[/]")
    for command, why in NEXT_STEPS:
        console.print(f"  [cyan]{command}[/]", markup=True, highlight=False)
        console.print(f"      {why}", highlight=False)
