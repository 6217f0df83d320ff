"""Where a rotation stands, read from the files beside the config alone (no cluster asked).

The state file says the target and the stages done; each staged file is the config its stage
writes, and its hash is what every apiserver must report before that stage's work runs. A stage
that changes nothing expects the file of the stage before it (or the config as it is, before any
stage wrote one). When no rotation is in progress, the record a finished one left says its
target, when it finished, and whether the config is still the file it left. Nothing here reads
or shows a key: only hashes and paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealbox.encryption import config_hash
from sealbox.errors import ConfigError, ConfigIssue
from sealbox.rotate.files import state_path
from sealbox.rotate.plan import STAGES
from sealbox.rotate.state import RotationRecord, load_rotation

__all__ = ["CompletedView", "RotationStatusView", "StageView", "rotation_status"]


@dataclass(frozen=True, slots=True)
class CompletedView:
    """The last finished rotation: its target, when it finished, the hash of the file it left,
    and whether the config is still that file (``current``: rerunning it is a no-op)."""

    target: str
    finished: str
    final_hash: str
    current: bool
    key_id_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "finished": self.finished,
            "finalHash": self.final_hash,
            "current": self.current,
            "keyIdHash": self.key_id_hash,
        }


@dataclass(frozen=True, slots=True)
class StageView:
    """One stage: done or not, the staged file it writes (None: it writes none) and whether that
    file is still there, and the config hash the apiservers must report during it."""

    name: str
    done: bool
    file: Path | None
    present: bool
    expected_hash: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "done": self.done,
            "file": None if self.file is None else str(self.file),
            "present": self.present,
            "expectedHash": self.expected_hash,
        }


@dataclass(frozen=True, slots=True)
class RotationStatusView:
    """A config's rotation: none in progress (``target`` None), or its target, the stages done,
    the next one, and each stage's file and hash. ``current_hash`` is the config's own."""

    config: Path
    state: Path
    current_hash: str
    target: str | None = None
    done: tuple[str, ...] = ()
    next_stage: str | None = None
    stages: tuple[StageView, ...] = ()
    started: str | None = None
    updated: str | None = None
    completed: CompletedView | None = None

    @property
    def in_progress(self) -> bool:
        return self.target is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": str(self.config),
            "state": str(self.state),
            "inProgress": self.in_progress,
            "target": self.target,
            "done": list(self.done),
            "next": self.next_stage,
            "currentHash": self.current_hash,
            "started": self.started,
            "updated": self.updated,
            "stages": [stage.as_dict() for stage in self.stages],
            "completed": None if self.completed is None else self.completed.as_dict(),
        }


def rotation_status(config_path: Path) -> RotationStatusView:
    """The rotation of ``config_path`` as its state and staged files describe it.

    Raises:
        ConfigError: the config cannot be read; InputError: the state file is unusable.
    """
    try:
        current = config_path.read_bytes()
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise ConfigError(str(config_path), [ConfigIssue("", f"cannot read it: {why}")]) from None
    state_file = state_path(config_path)
    state = load_rotation(state_file)
    current_hash = config_hash(current)
    if state is None:
        return RotationStatusView(config_path, state_file, current_hash)
    if isinstance(state, RotationRecord):
        done = CompletedView(
            state.target,
            state.finished,
            state.final_hash,
            state.final_hash == current_hash,
            state.key_id_hash,
        )
        return RotationStatusView(config_path, state_file, current_hash, completed=done)
    views = []
    expected: str | None = current_hash  # no stage before the first staged file changes it
    for name in STAGES:
        staged = state.stage_files.get(name)
        path = Path(staged) if staged is not None else None
        present = path is not None and path.is_file()
        if path is not None:
            expected = config_hash(path.read_bytes()) if present else None
        views.append(StageView(name, name in state.done, path, present, expected))
    remaining = [name for name in STAGES if name not in state.done]
    return RotationStatusView(
        config=config_path,
        state=state_file,
        current_hash=current_hash,
        target=state.target,
        done=tuple(name for name in STAGES if name in state.done),
        next_stage=remaining[0] if remaining else None,
        stages=tuple(views),
        started=state.started,
        updated=state.updated,
    )
