"""Where a rotation stands, kept beside the config so a crash or Ctrl-C can resume it.

The state is a small JSON file (0600, written atomically): the target, the plan's id, the path
of each stage's staged file, the stages done, and when it started and last moved. It holds no
key material itself: the staged files (:func:`~sealbox.rotate.files.staged_path`, 0600) do, so a
resumed run writes the very keys the first run chose. Only one rotation runs per config: a state
for another target refuses the run and says how to go on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sealbox.errors import InputError
from sealbox.rotate.files import write_private

__all__ = ["STATE_KIND", "RotationState"]

STATE_KIND = "SealboxRotationState"
_VERSION = 1


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RotationState:
    """One rotation in progress: ``stage_files`` maps a stage to its staged file's path, ``done``
    lists the finished stages in order; ``started``/``updated`` are UTC times (RFC 3339)."""

    target: str
    plan_id: str
    stage_files: dict[str, str] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    started: str = ""
    updated: str = ""

    @classmethod
    def start(
        cls, target: str, plan_id: str, stage_files: dict[str, str], *, now: datetime
    ) -> RotationState:
        """A fresh state for a rotation starting ``now``."""
        return cls(target, plan_id, dict(stage_files), [], _stamp(now), _stamp(now))

    def is_done(self, stage: str) -> bool:
        return stage in self.done

    def mark_done(self, stage: str, *, now: datetime) -> None:
        """Record ``stage`` as finished (again is a no-op) and move ``updated``."""
        if stage not in self.done:
            self.done.append(stage)
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
        }

    @classmethod
    def load(cls, path: Path) -> RotationState | None:
        """The state saved at ``path``, or None when there is none.

        Raises:
            InputError: the file cannot be read, or is not a rotation state this version wrote
                (corrupt, or another program's); the message names it and what to do.
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
        return cls._from(body, path)

    @classmethod
    def _from(cls, body: dict[str, Any], path: Path) -> RotationState:
        strings = ("target", "planId", "started", "updated")
        bad = [name for name in strings if not isinstance(body.get(name), str)]
        files = body.get("stageFiles")
        if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()
        ):
            bad.append("stageFiles")
        done = body.get("done")
        if not isinstance(done, list) or not all(isinstance(item, str) for item in done):
            bad.append("done")
        if bad:
            raise _unusable(path, f"field {', '.join(bad)} is missing or of the wrong type")
        assert isinstance(files, dict)
        assert isinstance(done, list)
        started, updated = body["started"], body["updated"]
        return cls(body["target"], body["planId"], dict(files), list(done), started, updated)


def _unusable(path: Path, why: str) -> InputError:
    return InputError(
        f"{path}: unusable rotation state: {why}; check no rotation is running, then remove it "
        "to start over (the config and its backups are untouched)"
    )
