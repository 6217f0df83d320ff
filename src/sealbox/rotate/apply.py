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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from lightkube.config.kubeconfig import SingleConfig

from sealbox.encryption import config_hash
from sealbox.errors import ConfigError, ConfigIssue, InputError, RotationBlocked
from sealbox.kube import KubeTarget, load_config
from sealbox.rotate.files import staged_path, state_path, write_config, write_private
from sealbox.rotate.gate import discover_apiservers, short_hash, wait_loaded
from sealbox.rotate.kek import kek_provider, plugin_key_id_hash, wait_new_key_id
from sealbox.rotate.plan import STAGES, RotationPlan, plan_rotation
from sealbox.rotate.run import EtcdAccess, Report, RotationOutcome, Run
from sealbox.rotate.state import RotationRecord, RotationState, load_rotation
from sealbox.rotate.target import parse_target
from sealbox.rotate.work import reencrypt_stage, verify_stage

__all__ = ["apply_rotation", "expected_file"]


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
    qps: float = 200.0,
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
    run = Run(
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


async def _run_stage(run: Run, stage: str) -> None:
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
        run.reencrypt = await reencrypt_stage(run)
    elif stage == "verify":
        try:
            run.verify = await verify_stage(run)
        except RotationBlocked:
            # Values still need the old key (written meanwhile under it, or a KEK that moved
            # on again): the next run re-encrypts before it verifies again.
            run.state.mark_undone("reencrypt", now=datetime.now(UTC))
            run.state.save(run.state_file)
            raise
    run.state.mark_done(stage, now=datetime.now(UTC))
    run.state.save(run.state_file)
    run.report(f"stage {stage}: done")


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
