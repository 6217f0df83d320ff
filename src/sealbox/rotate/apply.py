"""Run a rotation's five stages against a live control plane, resumably.

For each stage not yet done (the state file beside the config says which are)::

    write the stage's staged file, if the config differs from it   (atomic, validated, backed up)
    wait until every apiserver has loaded exactly that file         (the loaded-everywhere gate)
    do the stage's work                                              (reencrypt, verify)
    mark the stage done in the state file

The staged files are written once, when the rotation starts (0600, beside the config), so a
resumed run writes the very same keys; a plan is never made twice for one rotation. Every step is
idempotent: a run killed anywhere is finished by running it again, and a stage found done is
skipped. The old key is only removed once ``verify`` has passed. The state remembers the
resources the plan rotates, so re-encryption and verification cover exactly those. When the last
stage is done the staged files are deleted (the backups of every replaced file stay) and the
state becomes a record of the finished rotation (target, final file hash, time; no key): a rerun
for the same target on that same file does nothing and says so, while another target or a
changed file starts a new rotation.

A KMS v2 key rotation (``--to kms:<name>`` for the provider that already writes) changes no
file: its ``promote`` stage waits until every apiserver has taken up the key_id the plugin now
reports (:mod:`sealbox.rotate.kek`), then the re-encryption and verification run as usual.

Nothing here prints or logs a key: staged files are only ever written to disk, and progress goes
to ``report`` as one line at a time (the CLI prints them on stderr).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from lightkube.config.kubeconfig import SingleConfig

from sealbox.encryption import EncryptionConfiguration, config_hash, parse_config
from sealbox.errors import ConfigError, ConfigIssue, InputError, RotationBlocked
from sealbox.kube import KubeTarget, async_client, load_config
from sealbox.rotate.files import staged_path, state_path, write_config, write_private
from sealbox.rotate.gate import discover_apiservers, short_hash, wait_loaded
from sealbox.rotate.kek import kek_provider, plugin_key_id_hash, wait_new_key_id
from sealbox.rotate.plan import STAGES, RotationPlan, plan_rotation
from sealbox.rotate.reencrypt import ReencryptProgress, reencrypt_via_api
from sealbox.rotate.state import RotationRecord, RotationState, load_rotation
from sealbox.rotate.target import parse_target
from sealbox.rotate.verify import ApiVerifyResult, StoredKey, VerifyResult, verify_api, verify_etcd
from sealbox.storage import DEFAULT_PREFIX
from sealbox.storage.etcd import EtcdConfig

__all__ = ["EtcdAccess", "RotationOutcome", "apply_rotation", "expected_file"]

Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class EtcdAccess:
    """How to reach the cluster's etcd directly: with it, ``reencrypt`` rewraps in etcd and
    ``verify`` scans etcd; without it both go through the API."""

    config: EtcdConfig
    prefix: str = DEFAULT_PREFIX


@dataclass(frozen=True, slots=True)
class RotationOutcome:
    """What one run did: the stages it ran and those an earlier run had done, the counts of the
    work stages, the backups it left, and whether it stopped early or found nothing to do."""

    config: Path
    target: str
    apiservers: tuple[str, ...]
    ran: tuple[str, ...]
    skipped: tuple[str, ...]
    backups: tuple[Path, ...]
    reencrypt: dict[str, Any] | None = None
    verify: dict[str, Any] | None = None
    stopped_after: str | None = None
    already_complete: bool = False

    @property
    def complete(self) -> bool:
        return self.stopped_after is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": str(self.config),
            "target": self.target,
            "complete": self.complete,
            "alreadyComplete": self.already_complete,
            "apiservers": list(self.apiservers),
            "ran": list(self.ran),
            "skipped": list(self.skipped),
            "stoppedAfter": self.stopped_after,
            "backups": [str(path) for path in self.backups],
            "reencrypt": self.reencrypt,
            "verify": self.verify,
        }


@dataclass
class _Run:
    """One run's collaborators and what it has done so far."""

    config_path: Path
    state: RotationState
    state_file: Path
    kube: SingleConfig
    urls: list[str]
    etcd: EtcdAccess | None
    concurrency: int
    qps: float
    timeout: float
    poll: float
    report: Report
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    reencrypt: dict[str, Any] | None = None
    verify: dict[str, Any] | None = None

    def outcome(
        self, *, stopped_after: str | None = None, already: bool = False
    ) -> RotationOutcome:
        return RotationOutcome(
            config=self.config_path,
            target=self.state.target,
            apiservers=tuple(self.urls),
            ran=tuple(self.ran),
            skipped=tuple(self.skipped),
            backups=tuple(self.backups),
            reencrypt=self.reencrypt,
            verify=self.verify,
            stopped_after=stopped_after,
            already_complete=already,
        )


async def apply_rotation(
    config_path: Path,
    target: str,
    *,
    kube: KubeTarget | SingleConfig,
    report: Report,
    kms_endpoint: str | None = None,
    apiservers: Sequence[str] | None = None,
    etcd: EtcdAccess | None = None,
    concurrency: int = 8,
    qps: float = 50.0,
    timeout: float = 900.0,
    poll: float = 5.0,
    now: datetime | None = None,
    stop_after: str | None = None,
) -> RotationOutcome:
    """Rotate ``config_path`` to ``target`` (``aesgcm``, ``kms:<name>``...), stage by stage.

    ``timeout`` bounds each wait for the apiservers (seconds); ``stop_after`` (tests) ends the run
    right after that stage is recorded done, as a crash there would (after ``remove``: before
    the state and staged files are cleaned up).

    Raises:
        InputError, ConfigError: the file, target or state is unusable (nothing written), or a
            rotation to another target is in progress.
        RotationBlocked: apiservers did not load a stage's file in time, or verify found values
            still under the old key (the stage is not marked done; rerun to go on).
        KubeError, EtcdError, BackendUnavailable: the cluster could not be asked.
    """
    if stop_after is not None and stop_after not in STAGES:
        raise InputError(f"stop_after {stop_after!r}: expected one of {', '.join(STAGES)}")
    goal = str(parse_target(target))
    when = now or datetime.now(UTC)
    state_file = state_path(config_path)
    found = load_rotation(state_file)
    if isinstance(found, RotationState):
        found.refuse_other(goal, state_file)
    config = kube if isinstance(kube, SingleConfig) else load_config(kube)
    if isinstance(found, RotationRecord) and _already(config_path, found, goal):
        report(
            f"rotation to {goal} already complete: {config_path} was rotated to {goal} at "
            f"{found.finished} and has not changed since; nothing to do (another --to, or a "
            "changed file, starts a new rotation)"
        )
        return _done_outcome(config_path, goal)
    if not isinstance(found, RotationState):
        plan = _plan(config_path, goal, kms_endpoint, when)
        state = _start(config_path, state_file, plan, when)
        report(f"rotation to {goal} started: {plan.old} -> {plan.new} (state: {state_file})")
    else:
        state = found
        _check_staged(config_path, state, state_file)
        if all(stage in state.done for stage in STAGES):
            _finish(config_path, state, state_file)
            report(f"rotation to {goal} already complete: nothing to do")
            return _done_outcome(config_path, goal)
        report(f"resuming the rotation to {goal}: done so far: {', '.join(state.done) or 'none'}")
    urls = list(apiservers) if apiservers else await asyncio.to_thread(discover_apiservers, config)
    report(f"apiservers: {', '.join(urls)}")
    run = _Run(
        config_path, state, state_file, config, urls, etcd, concurrency, qps, timeout, poll, report
    )
    for stage in STAGES:
        if stage in state.done:
            run.skipped.append(stage)
            continue
        await _run_stage(run, stage)
        run.ran.append(stage)
        if stage == stop_after:
            return run.outcome(stopped_after=stage)
    _finish(config_path, state, state_file)
    report(f"rotation to {goal} complete; backups of the replaced files stay beside the config")
    return run.outcome()


def _already(config_path: Path, record: RotationRecord, goal: str) -> bool:
    """Is the finished rotation ``record`` this very one (same target, the file it left; for a
    KMS v2 key rotation also the key_id the plugin reports now)?"""
    if not record.covers(goal, config_hash(config_path.read_bytes())):
        return False
    if record.key_id_hash is None:
        return True
    return plugin_key_id_hash(config_path, goal.removeprefix("kms:")) == record.key_id_hash


def _done_outcome(config_path: Path, goal: str) -> RotationOutcome:
    return RotationOutcome(config_path, goal, (), (), STAGES, (), already_complete=True)


def _plan(config_path: Path, target: str, kms_endpoint: str | None, now: datetime) -> RotationPlan:
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(str(config_path), [ConfigIssue("", f"cannot read it: {why}")]) from None
    return plan_rotation(text, str(config_path), target, kms_endpoint=kms_endpoint, now=now)


def _start(config_path: Path, state_file: Path, plan: RotationPlan, now: datetime) -> RotationState:
    """Keep the staged files (0600) and the state beside the config: the rotation's memory."""
    stage_files: dict[str, str] = {}
    for stage in plan.stages:
        if stage.config is None:
            continue
        path = staged_path(config_path, stage.name)
        write_private(path, stage.config)
        stage_files[stage.name] = str(path)
    state = RotationState.start(
        plan.target, plan.plan_id, stage_files, now=now, resources=plan.resources
    )
    state.save(state_file)
    return state


def _check_staged(config_path: Path, state: RotationState, state_file: Path) -> None:
    for stage, name in state.stage_files.items():
        if stage not in state.done and not Path(name).is_file():
            raise InputError(
                f"{state_file}: the staged file of the {stage} stage, {name}, is missing; "
                f"restore it, or remove {state_file} (and the other {config_path.name}"
                ".rotation-* files) to abandon this rotation"
            )


def expected_file(config_path: Path, state: RotationState, stage: str) -> bytes | None:
    """The bytes the config must hold during ``stage``: its staged file, else the last staged
    file of an earlier stage; None when no stage up to it changes the file."""
    found: bytes | None = None
    for name in STAGES[: STAGES.index(stage) + 1]:
        staged = state.stage_files.get(name)
        if staged is not None:
            found = Path(staged).read_bytes()
    return found


async def _run_stage(run: _Run, stage: str) -> None:
    missing = [name for name in STAGES[: STAGES.index(stage)] if name not in run.state.done]
    if missing:
        raise RotationBlocked(
            f"refusing the {stage} stage: {', '.join(missing)} has not passed "
            f"(see sealbox rotate status --config {run.config_path})"
        )
    run.report(f"stage {stage}: {STAGES.index(stage) + 1}/{len(STAGES)}")
    wanted = expected_file(run.config_path, run.state, stage)
    current = run.config_path.read_bytes()
    if wanted is not None and current != wanted:
        backup = write_config(run.config_path, wanted)
        if backup is not None:
            run.backups.append(backup)
        where = f" (previous file kept as {backup})" if backup is not None else ""
        run.report(
            f"stage {stage}: wrote {run.config_path}, {short_hash(config_hash(wanted))}{where}"
        )
    expected = config_hash(wanted if wanted is not None else current)
    run.report(f"stage {stage}: waiting until every apiserver has loaded {short_hash(expected)}")
    await asyncio.to_thread(
        wait_loaded,
        run.kube,
        run.urls,
        expected,
        timeout=run.timeout,
        poll=run.poll,
        report=lambda line: run.report(f"stage {stage}: {line}"),
    )
    provider = kek_provider(run.state)
    if stage == "promote" and provider is not None:
        await asyncio.to_thread(
            wait_new_key_id,
            run.config_path,
            provider,
            run.kube,
            run.urls,
            timeout=run.timeout,
            poll=run.poll,
            report=lambda line: run.report(f"stage {stage}: {line}"),
        )
    elif stage == "reencrypt":
        run.reencrypt = await _reencrypt(run)
    elif stage == "verify":
        run.verify = await _verify(run)
    run.state.mark_done(stage, now=datetime.now(UTC))
    run.state.save(run.state_file)
    run.report(f"stage {stage}: done")


def _covered(run: _Run) -> tuple[EncryptionConfiguration, list[str]]:
    """The config now in force and the resources the plan rotates (kept in the state)."""
    path = run.config_path
    config = parse_config(path.read_text(encoding="utf-8"), str(path), reload=True)
    return config, list(run.state.resources)


async def _reencrypt(run: _Run) -> dict[str, Any]:
    config, resources = _covered(run)
    if run.etcd is not None:
        return await asyncio.to_thread(_rewrap, run, config)

    def progress(snapshot: ReencryptProgress) -> None:
        run.report(
            f"stage reencrypt: {snapshot.done}/{snapshot.listed} objects "
            f"({snapshot.resources_done}/{snapshot.resources_total} resources): "
            f"rewritten {snapshot.rewritten}, conflicts {snapshot.conflicts}, "
            f"gone {snapshot.gone}, failed {snapshot.failed}"
        )

    client = async_client(run.kube)
    try:
        result = await reencrypt_via_api(
            client, resources, concurrency=run.concurrency, qps=run.qps, progress=progress
        )
    finally:
        await client.close()
    if not result.ok:
        raise RotationBlocked(_failed_text("re-encrypted", result.failed))
    return result.as_dict()


def _rewrap(run: _Run, config: EncryptionConfiguration) -> dict[str, Any]:
    """Offline re-encryption: every stale value in etcd, compare-and-swap (never a lost write)."""
    from sealbox.encryption import StorageTransformers
    from sealbox.kms.client import GrpcConnector
    from sealbox.ops import RewrapOptions, RewrapSummary, config_prefixes, rewrap
    from sealbox.storage.etcd import EtcdClient

    assert run.etcd is not None
    prefixes = config_prefixes(config, run.etcd.prefix)
    summary = RewrapSummary(dry_run=False)
    options = RewrapOptions(dry_run=False, etcd_prefix=run.etcd.prefix)
    with EtcdClient(run.etcd.config) as client, GrpcConnector() as connector:
        transformers = StorageTransformers(config, connector, etcd_prefix=run.etcd.prefix)
        rewrap(client, prefixes, transformers, options, summary=summary)
    run.report(
        f"stage reencrypt: etcd: examined {summary.examined}, rewrote {summary.rewritten}, "
        f"already current {summary.current}, conflicts retried {summary.conflicts}, "
        f"failed {len(summary.failed)}"
    )
    if summary.failed:
        raise RotationBlocked(_failed_text("rewrapped", [key for key, _ in summary.failed]))
    return summary.as_dict()


def _stored_keys(config: EncryptionConfiguration) -> set[StoredKey]:
    """Every ``(provider, key name)`` a value written under ``config``'s encrypting entries can
    carry in its stored prefix."""
    found: set[StoredKey] = set()
    for entry in config.resources:
        if entry.providers[0].type == "identity":
            continue
        for provider in entry.providers:
            if provider.kms is not None:
                found.add((f"kms-{provider.kms.api_version}", provider.kms.name))
            elif provider.type != "identity":
                found.update((provider.type, key.name) for key in provider.keys)
    return found


async def _verify(run: _Run) -> dict[str, Any]:
    """Nothing may still need the old keys: an etcd scan for them, else a read of every object
    through every apiserver. Raises RotationBlocked (the stage stays undone) when it fails."""
    config, resources = _covered(run)
    final = run.state.stage_files.get("remove")
    after = (
        parse_config(Path(final).read_text(encoding="utf-8"), final, reload=True)
        if final is not None
        else config
    )
    old = _stored_keys(config) - _stored_keys(after)
    if run.etcd is not None:
        access = run.etcd

        def scan_etcd() -> VerifyResult:
            from sealbox.storage.etcd import EtcdClient

            with EtcdClient(access.config) as client:
                return verify_etcd(client, config, resources, old, etcd_prefix=access.prefix)

        result: VerifyResult | ApiVerifyResult = await asyncio.to_thread(scan_etcd)
    else:
        clients = [async_client(_at(run.kube, url)) for url in run.urls]
        try:
            result = await verify_api(clients, resources, concurrency=run.concurrency, qps=run.qps)
        finally:
            for client in clients:
                await client.close()
    run.report(f"stage verify: {result.summary()}")
    if not result.passed:
        raise RotationBlocked(
            f"verify failed, so the old key stays: {result.summary()}; rerun sealbox rotate "
            "apply (it re-encrypts nothing twice and verifies again)"
        )
    if isinstance(result, VerifyResult):
        return result.as_dict()
    return {
        "passed": True,
        "read": {server.url: sum(server.read.values()) for server in result.servers},
    }


def _at(config: SingleConfig, url: str) -> SingleConfig:
    """``config`` aimed at one apiserver (its credentials and CA, another server URL)."""
    return config._replace(cluster=msgspec.structs.replace(config.cluster, server=url))


def _failed_text(verb: str, names: Sequence[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"{len(names)} object(s) could not be {verb}: {shown}; fix them and run "
        "sealbox rotate apply again (it resumes at this stage)"
    )


def _finish(config_path: Path, state: RotationState, state_file: Path) -> None:
    """Delete the staged files (they hold keys), then put the record of the finished rotation
    (target, the final file's hash, the time; no key) in place of the state."""
    for name in state.stage_files.values():
        Path(name).unlink(missing_ok=True)
    provider = kek_provider(state)
    key_id = plugin_key_id_hash(config_path, provider) if provider is not None else None
    final = config_hash(config_path.read_bytes())
    record = RotationRecord.of(state.target, final, now=datetime.now(UTC), key_id_hash=key_id)
    record.save(state_file)
