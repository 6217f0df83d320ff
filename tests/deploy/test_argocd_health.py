"""The Argo CD health check for SealedSecrets, run in a real Lua 5.1 interpreter (lupa; Argo CD's
gopher-lua implements Lua 5.1) the way Argo CD runs it: the object as the global ``obj``, the
script's return value read as ``hs.status`` / ``hs.message``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lupa.lua51 import LuaRuntime

SCRIPT = (Path(__file__).parents[2] / "deploy" / "sealing" / "argocd-health.lua").read_text()


def _health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = LuaRuntime(unpack_returned_tuples=True)
    # Argo CD hands the object over as nested Lua tables, built here the same way.
    lua.globals().obj = _table(lua, obj)
    result = lua.execute(SCRIPT)
    return str(result["status"]), str(result["message"])


def _table(lua: LuaRuntime, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({key: _table(lua, item) for key, item in value.items()})
    if isinstance(value, list):
        return lua.table_from([_table(lua, item) for item in value])
    return value


def _synced(status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": "Synced", "status": status, "reason": reason, "message": message}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"metadata": {"generation": 1}}, ("Progressing", "Waiting for the sealing controller")),
        (
            {
                "metadata": {"generation": 2},
                "status": {"observedGeneration": 1, "conditions": [_synced("True")]},
            },
            ("Progressing", "Waiting for the sealing controller to unseal generation 2"),
        ),
        (
            {
                "metadata": {"generation": 1},
                "status": {"observedGeneration": 1, "conditions": [_synced("True", "Unsealed")]},
            },
            ("Healthy", "Unsealed"),
        ),
        (
            {
                "metadata": {"generation": 3},
                "status": {
                    "observedGeneration": 3,
                    "conditions": [_synced("False", "NoMatchingKey", "no key could decrypt")],
                },
            },
            ("Degraded", "NoMatchingKey: no key could decrypt"),
        ),
        (  # upstream's controller writes no reason and an empty message on success
            {"status": {"conditions": [_synced("True")]}},
            ("Healthy", "Unsealed"),
        ),
        ({"status": {"conditions": [_synced("False")]}}, ("Degraded", "Failed to unseal")),
        ({"status": {}}, ("Progressing", "Waiting for the sealing controller")),
    ],
    ids=lambda value: json.dumps(value)[:60] if isinstance(value, dict) else value[0],
)
def test_health(obj: dict[str, Any], expected: tuple[str, str]) -> None:
    status, message = _health(obj)
    assert status == expected[0]
    assert message.startswith(expected[1])
