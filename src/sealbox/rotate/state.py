"""Where a rotation stands, kept beside the config so a crash or Ctrl-C can resume it.

The state is a small JSON file (0600, written atomically): the target, the plan's id, the
resource patterns the rotated entries cover (so the re-encryption and the verification work on
exactly what the plan rotated, whatever the file says by then), the path of each stage's staged
file, the stages done, and when it started and last moved. It holds no key material itself: the
staged files (:func:`~sealbox.rotate.files.staged_path`, 0600) do, so a resumed run writes the
very keys the first run chose. Only one rotation runs per config: a state for another target
refuses the run and says how to go on.

Once the last stage is done the same file is replaced by a :class:`RotationRecord`: the target,
the hash of the file the rotation left and when it finished (``completed: true``, still no key
material), so a rerun of the same rotation on that very file is a no-op that says so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sealbox.errors import InputError
from sealbox.rotate.files import write_private

__all__ = ["STATE_KIND", "RotationRecord", "RotationState", "load_rotation"]

STATE_KIND = "SealboxRotationState"
_VERSION = 1


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RotationState:
    """One rotation in progress: ``stage_files`` maps a stage to its staged file's path, ``done``
    lists the finished stages in order; ``started``/``updated`` are UTC times (RFC 3339);
    ``resources`` are the resource patterns the rotated entries cover (the plan's)."""

    target: str
    plan_id: str
    stage_files: dict[str, str] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    started: str = ""
    updated: str = ""
    resources: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        target: str,
        plan_id: str,
        stage_files: dict[str, str],
        *,
        now: datetime,
        resources: Sequence[str] = (),
    ) -> RotationState:
        """A fresh state for a rotation of ``resources`` starting ``now``."""
        return cls(
            target, plan_id, dict(stage_files), [], _stamp(now), _stamp(now), list(resources)
        )

    def is_done(self, stage: str) -> bool:
        return stage in self.done

    def mark_done(self, stage: str, *, now: datetime) -> None:
        """Record ``stage`` as finished (again is a no-op) and move ``updated``."""
        if stage not in self.done:
            self.done.append(stage)
        self.updated = _stamp(now)

    def mark_undone(self, stage: str, *, now: datetime) -> None:
        """Forget that ``stage`` finished, so the next run does it again."""
        if stage in self.done:
            self.done.remove(stage)
        self.updated = _stamp(now)

    def refuse_other(self, target: str, path: Path) -> None:
        """Refuse to run ``target`` while this state, kept at ``path``, is for another target.

        Raises:
            InputError: names the target in progress and how to finish or drop it.
        """
        if target != self.target:
            raise InputError(
                f"--to {target}: a rotation to {self.target} is in progress ({path}); finish "
                f"it (sealbox rotate apply --to {self.target}) or remove {path}"
            )

    def save(self, path: Path) -> None:
        """Write the state at ``path`` atomically, 0600.

        Raises:
            InputError: the directory cannot be written.
        """
        body = {"kind": STATE_KIND, "version": _VERSION, **self._fields()}
        write_private(path, (json.dumps(body, indent=2) + "\n").encode("utf-8"))

    def _fields(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "planId": self.plan_id,
            "stageFiles": self.stage_files,
            "done": self.done,
            "started": self.started,
            "updated": self.updated,
            "resources": self.resources,
        }

    @classmethod
    def load(cls, path: Path) -> RotationState | None:
        """The state saved at ``path``, or None when there is none (or only the record of a
        finished rotation: see :func:`load_rotation`).

        Raises:
            InputError: the file cannot be read, or is not a rotation state this version wrote
                (corrupt, or another program's); the message names it and what to do.
        """
        found = load_rotation(path)
        return found if isinstance(found, RotationState) else None

    @classmethod
    def _from(cls, body: dict[str, Any], path: Path) -> RotationState:
        strings = ("target", "planId", "started", "updated")
        bad = [name for name in strings if not isinstance(body.get(name), str)]
        files = body.get("stageFiles")
        if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()
        ):
            bad.append("stageFiles")
        done, resources = body.get("done"), body.get("resources")
        if not _strings(done):
            bad.append("done")
        if not _strings(resources) and not bad:
            bad.append("resources")
        if bad:
            raise _unusable(path, f"field {', '.join(bad)} is missing or of the wrong type")
        assert isinstance(files, dict)
        assert isinstance(done, list)
        assert isinstance(resources, list)
        started, updated = body["started"], body["updated"]
        return cls(
            body["target"],
            body["planId"],
            dict(files),
            list(done),
            started,
            updated,
            list(resources),
        )


@dataclass(frozen=True, slots=True)
class RotationRecord:
    """A finished rotation: its ``target``, the :func:`~sealbox.encryption.config_hash` of the
    file it left (``final_hash``), and when it finished (UTC, RFC 3339). For a KMS v2 key
    rotation (no file change) ``key_id_hash`` is the hash of the key_id it rotated to."""

    target: str
    final_hash: str
    finished: str
    key_id_hash: str | None = None

    @classmethod
    def of(
        cls, target: str, final_hash: str, *, now: datetime, key_id_hash: str | None = None
    ) -> RotationRecord:
        return cls(target, final_hash, _stamp(now), key_id_hash)

    def save(self, path: Path) -> None:
        """Write the record at ``path`` (in place of the state) atomically, 0600.

        Raises:
            InputError: the directory cannot be written.
        """
        body: dict[str, Any] = {
            "kind": STATE_KIND,
            "version": _VERSION,
            "completed": True,
            "target": self.target,
            "finalHash": self.final_hash,
            "finished": self.finished,
        }
        if self.key_id_hash is not None:
            body["keyIdHash"] = self.key_id_hash
        write_private(path, (json.dumps(body, indent=2) + "\n").encode("utf-8"))

    def covers(self, target: str, current_hash: str) -> bool:
        """Is rotating to ``target`` a file whose hash is ``current_hash`` this very rotation,
        done already? (A file changed since, or another target, is a new rotation.)"""
        return target == self.target and current_hash == self.final_hash

    @classmethod
    def _from(cls, body: dict[str, Any], path: Path) -> RotationRecord:
        strings = ("target", "finalHash", "finished")
        bad = [name for name in strings if not isinstance(body.get(name), str)]
        key_id = body.get("keyIdHash")
        if key_id is not None and not isinstance(key_id, str):
            bad.append("keyIdHash")
        if bad:
            raise _unusable(path, f"field {', '.join(bad)} is missing or of the wrong type")
        return cls(body["target"], body["finalHash"], body["finished"], key_id)


def load_rotation(path: Path) -> RotationState | RotationRecord | None:
    """What ``path`` holds: a rotation in progress, the record of a finished one, or nothing.

    Raises:
        InputError: the file cannot be read, or is not one this version wrote (corrupt, or
            another program's); the message names it and what to do.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise InputError(f"{path}: cannot read the rotation state: {reason}") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        raise _unusable(path, "it is not JSON (a crash mid-write or an edit)") from None
    if not isinstance(body, dict) or body.get("kind") != STATE_KIND:
        raise _unusable(path, f"it is not a {STATE_KIND} file")
    if body.get("version") != _VERSION:
        raise _unusable(path, f"it has version {body.get('version')!r}, not {_VERSION}")
    if body.get("completed") is True:
        return RotationRecord._from(body, path)
    return RotationState._from(body, path)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _unusable(path: Path, why: str) -> InputError:
    return InputError(
        f"{path}: unusable rotation state: {why}; check no rotation is running, then remove it "
        "to start over (the config and its backups are untouched)"
    )
