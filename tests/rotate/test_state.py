"""Rotation state: saved 0600 and atomically, loaded back as saved, refusing what it cannot use."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sealbox.errors import InputError
from sealbox.rotate import STATE_KIND, RotationState, staged_path, state_path

START = datetime(2026, 12, 2, 11, 37, tzinfo=UTC)
LATER = datetime(2026, 12, 2, 11, 52, 30, tzinfo=UTC)


def _state(config: Path) -> RotationState:
    files = {name: str(staged_path(config, name)) for name in ("add", "promote", "remove")}
    return RotationState.start("aesgcm", "plan-0123456789abcdef", files, now=START)


def test_resume_loads_what_was_saved(tmp_path: Path) -> None:
    path = state_path(tmp_path / "enc.yaml")
    state = _state(tmp_path / "enc.yaml")
    state.mark_done("add", now=LATER)
    state.mark_done("add", now=LATER)
    state.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = RotationState.load(path)
    assert loaded == state
    assert loaded.done == ["add"]
    assert loaded.is_done("add")
    assert not loaded.is_done("promote")
    assert (loaded.started, loaded.updated) == ("2026-12-02T11:37:00Z", "2026-12-02T11:52:30Z")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_no_state_is_none(tmp_path: Path) -> None:
    assert RotationState.load(tmp_path / "enc.yaml.rotation.json") is None


def test_a_state_for_another_target_refuses(tmp_path: Path) -> None:
    path = state_path(tmp_path / "enc.yaml")
    state = _state(tmp_path / "enc.yaml")
    state.refuse_other("aesgcm", path)
    with pytest.raises(InputError) as caught:
        state.refuse_other("kms:b", path)
    message = str(caught.value)
    assert "a rotation to aesgcm is in progress" in message
    assert f"or remove {path}" in message
    assert "sealbox rotate apply --to aesgcm" in message


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "it is not JSON"),
        ('{"kind": "Something"}', f"it is not a {STATE_KIND} file"),
        ("[1, 2]", f"it is not a {STATE_KIND} file"),
        (json.dumps({"kind": STATE_KIND, "version": 9}), "it has version 9"),
        (
            json.dumps({"kind": STATE_KIND, "version": 1, "target": "aesgcm", "done": "add"}),
            "field planId, started, updated, stageFiles, done is missing",
        ),
    ],
)
def test_a_corrupt_or_foreign_state_names_the_file_and_what_to_do(
    tmp_path: Path, content: str, why: str
) -> None:
    path = tmp_path / "enc.yaml.rotation.json"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        RotationState.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: unusable rotation state: {why}")
    assert "remove it to start over" in message
    assert "\n" not in message
