"""``sealbox controller sync``: every flag is checked before the controller starts.

Bad input (:data:`CASES`, also counted by test_bad_input.py's check that every command is
driven): each case runs the real ``sealbox`` app with one flag wrong and must end with exit 2,
exactly one ``error: ...`` line naming the flag and what would be valid, no traceback, nothing on
stdout, and no cluster asked (the kubeconfig names a port nothing listens on). Good input: the
flags, as given on the command line or through ``SEALBOX_SYNC_<FLAG>``, become the
:class:`SyncSettings` the controller runs with, and the defaults are the settings' own. The
Deployment in deploy/sync runs this command with flags that exist.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.cli.controller_sync import SyncFlags, env_name, sync_settings
from sealbox.cli.kube_options import KubeOptions
from sealbox.controllers.sync import SyncSettings
from sealbox.kube.runtime import LeaseConfig
from tests.deploy.manifests import DEPLOY, container
from tests.test_docs import _parse

runner = CliRunner()

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: sync-home}}]
current-context: x
"""

Case = Callable[[Path], list[str]]


def _kubeconfig(root: Path) -> Path:
    path = root / "kubeconfig.yaml"
    if not path.exists():
        path.write_text(KUBECONFIG)
    return path


def _argv(root: Path, *, flag: str, value: str, more: tuple[str, ...] = ()) -> list[str]:
    """``sealbox controller sync`` with one bad flag (plus ``more``), the rest valid."""
    base = ["controller", "sync", *more]
    if flag == "--kubeconfig":
        value = str(root / value)
    else:
        base += ["--kubeconfig", str(_kubeconfig(root))]
    return [
        *base,
        f"{flag}={value}" if value.startswith("-") else flag,
        *([] if value.startswith("-") else [value]),
    ]


BAD: list[tuple[str, str, list[str], tuple[str, ...]]] = [
    ("--namespace", "Shop", ["'Shop'", "not a namespace name", "repeat the flag"], ()),
    ("--namespace", "shop_1", ["'shop_1'", "not a namespace name"], ("--namespace", "ok")),
    ("--workers", "0", ["1 to 64"], ()),
    ("--workers", "65", ["1 to 64"], ()),
    ("--workers", "many", ["'--workers'", "valid integer"], ()),
    ("--store-qps", "-1", ["0 (no limit) or more"], ()),
    ("--store-qps", "nan", ["0 (no limit) or more"], ()),
    ("--store-qps", "fast", ["'--store-qps'", "valid number"], ()),
    ("--store-burst", "0", ["1 or more"], ()),
    ("--provider-qps", "-0.5", ["-0.5", "0 (no limit) or more"], ()),
    ("--provider-qps", "inf", ["0 (no limit) or more"], ()),
    ("--provider-burst", "0", ["1 or more"], ()),
    ("--restart-window", "11m", ["from 0 to 10m", "30s"], ()),
    ("--restart-window", "soon", ["from 0 to 10m"], ()),
    ("--restart-window", "-1s", ["from 0 to 10m"], ()),
    ("--template-left-delimiter", "", ["non-empty", "without spaces"], ()),
    ("--template-left-delimiter", "< <", ["'< <'", "without spaces"], ()),
    ("--template-right-delimiter", "\t", ["without spaces"], ()),
    ("--template-right-delimiter", "{{", ["--template-left-delimiter", "different"], ()),
    ("--listen-metrics-addr", "8081", ["[host]:port", ":8080"], ()),
    ("--listen-metrics-addr", ":http", ["[host]:port"], ()),
    ("--resync-period", "0", ["more than 0", "5m"], ()),
    ("--resync-period", "hourly", ["more than 0"], ()),
    ("--leader-election-lease-name", "Lease!", ["Kubernetes object name"], ()),
    ("--leader-election-namespace", "NS", ["not a namespace name"], ()),
    ("--leader-election-identity", " ", ["non-empty"], ()),
    ("--leader-election-lease-duration", "1s", ["2s < 10s < 15s"], ()),
    ("--leader-election-renew-deadline", "soon", ["more than 0"], ()),
    ("--leader-election-retry-period", "0", ["more than 0"], ()),
    ("--log-level", "loud", ["'loud' is not one of"], ()),
    ("--kubeconfig", "absent-kubeconfig", ["absent-kubeconfig", "no such file"], ()),
    ("--context", "nowhere", ["nowhere"], ()),
]

CASES: dict[str, tuple[Case, list[str]]] = {
    f"controller sync: {flag} {value!r}{' ' + ' '.join(more) if more else ''}": (
        functools.partial(_argv, flag=flag, value=value, more=more),
        [flag, *named],
    )
    for flag, value, named, more in BAD
}


def _one_error(argv: list[str], named: list[str], env: dict[str, str] | None = None) -> None:
    result = runner.invoke(app, argv, env=env, catch_exceptions=False)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in named:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_clear_error(name: str, tmp_path: Path) -> None:
    build, named = CASES[name]
    argv = build(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    _one_error(argv, named)
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing written


def test_a_bad_value_from_the_environment_names_the_flag(tmp_path: Path) -> None:
    kubeconfig = str(_kubeconfig(tmp_path))
    base = ["controller", "sync", "--kubeconfig", kubeconfig]
    _one_error(base, ["--store-qps -2", "0 (no limit) or more"], {"SEALBOX_SYNC_STORE_QPS": "-2"})
    _one_error(base, ["--restart-window 1h", "10m"], {"SEALBOX_SYNC_RESTART_WINDOW": "1h"})


def test_the_delimiters_may_not_be_equal(tmp_path: Path) -> None:
    argv = _argv(tmp_path, flag="--template-left-delimiter", value="<<")
    argv += ["--template-right-delimiter", "<<"]
    _one_error(argv, ["--template-left-delimiter", "--template-right-delimiter", "'<<'"])


# Good input: sync_settings, straight and through the command line


def _kube(tmp_path: Path) -> KubeOptions:
    return KubeOptions(kubeconfig=_kubeconfig(tmp_path))


def test_the_defaults_are_the_settings_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POD_NAME", "sync-0")
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    settings = sync_settings(SyncFlags(), _kube(tmp_path))
    lease = LeaseConfig("sealbox-sync", "sync-home", "sync-0")  # the kubeconfig's namespace
    assert settings == SyncSettings(lease=lease)
    assert settings.namespaces is None  # every namespace
    assert settings.metrics_listen == ("0.0.0.0", 8081)
    assert (settings.restart_window, settings.resync_seconds) == (30.0, 600.0)
    assert settings.delimiters == ("{{", "}}")


def test_the_pods_namespace_holds_the_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "kube-system")
    monkeypatch.delenv("POD_NAME", raising=False)
    flags = SyncFlags(leader_election_identity="replica-a")
    lease = sync_settings(flags, _kube(tmp_path)).lease
    assert (lease.name, lease.namespace, lease.identity) == (
        "sealbox-sync",
        "kube-system",
        "replica-a",
    )


def test_every_flag_reaches_the_settings(tmp_path: Path) -> None:
    flags = SyncFlags(
        namespace=["shop", "billing", "shop"],
        workers=64,
        store_qps=0.0,
        store_burst=1,
        provider_qps=2.5,
        provider_burst=7,
        restart_window="10m",
        template_left_delimiter="<<",
        template_right_delimiter=">>",
        listen_metrics_addr="127.0.0.1:9090",
        resync_period="90s",
        leader_election_lease_name="sync.lease",
        leader_election_namespace="ops",
        leader_election_identity="me",
        leader_election_lease_duration="40s",
        leader_election_renew_deadline="30s",
        leader_election_retry_period="5s",
    )
    settings = sync_settings(flags, _kube(tmp_path))
    assert settings == SyncSettings(
        lease=LeaseConfig("sync.lease", "ops", "me", 40.0, 30.0, 5.0),
        namespaces=("shop", "billing"),
        workers=64,
        store_rate=0.0,
        store_burst=1,
        total_rate=2.5,
        total_burst=7,
        restart_window=600.0,
        delimiters=("<<", ">>"),
        metrics_listen=("127.0.0.1", 9090),
        resync_seconds=90.0,
    )


def test_edges_that_are_allowed(tmp_path: Path) -> None:
    flags = SyncFlags(
        workers=1,
        restart_window="0",
        listen_metrics_addr="",
        template_left_delimiter="[[",
        template_right_delimiter="]]",
        leader_election_identity="me",
    )
    settings = sync_settings(flags, _kube(tmp_path))
    assert settings.restart_window == 0.0  # restart at once
    assert settings.metrics_listen is None  # off
    assert settings.workers == 1
    assert settings.delimiters == ("[[", "]]")


def _flags_from(argv: list[str]) -> SyncFlags:
    """What the command line (and the environment) give the command, as SyncFlags."""
    root = typer.main.get_command(app)
    group = root.commands["controller"]  # type: ignore[attr-defined]  # a group has commands
    command = group.commands["sync"]
    context = command.make_context("sync", argv)
    names = {f.name for f in fields(SyncFlags)}
    return SyncFlags(**{k: v for k, v in context.params.items() if k in names})


def test_flags_and_environment_reach_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env_name("store-qps"), "5")
    monkeypatch.setenv(env_name("namespace"), "shop billing")
    monkeypatch.setenv(env_name("template-left-delimiter"), "<<")
    monkeypatch.setenv(env_name("template-right-delimiter"), ">>")
    monkeypatch.setenv("SEALBOX_SYNC_LEADER_ELECTION_IDENTITY", "from-env")
    flags = _flags_from(["--restart-window", "45s", "--workers", "8"])
    settings = sync_settings(flags, _kube(tmp_path))
    assert settings.store_rate == 5.0
    assert settings.namespaces == ("shop", "billing")
    assert settings.delimiters == ("<<", ">>")
    assert settings.lease.identity == "from-env"
    assert (settings.restart_window, settings.workers) == (45.0, 8)
    # a flag on the command line wins over the environment
    assert _flags_from(["--store-qps", "0.5"]).store_qps == 0.5
    assert _flags_from(["--namespace", "a", "--namespace", "b"]).namespace == ["a", "b"]


def test_the_deployment_runs_this_command_with_real_flags() -> None:
    sync = container(DEPLOY / "sync", "sealbox-sync")
    command, hidden = _parse(sync["args"])
    assert (command, hidden) == ("controller sync", [])
    flags = _flags_from(sync["args"][2:])
    ports = {p["name"]: p["containerPort"] for p in sync["ports"]}
    assert ports["metrics"] == int(flags.listen_metrics_addr.rpartition(":")[2])
    env = {e["name"] for e in sync.get("env", [])}
    assert {"POD_NAMESPACE", "POD_NAME"} <= env  # the Lease's namespace and identity
