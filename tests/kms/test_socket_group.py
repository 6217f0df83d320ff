"""The socket's group: a name from /etc/group or a numeric gid (a container's /etc/group rarely
knows the host's groups), checked before anything is bound."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealbox.errors import InputError
from sealbox.kms.backends.local import create_keyring
from sealbox.kms.plugin import PluginServer, parse_plugin_config


def _config(directory: Path, group: str) -> str:
    return (
        "apiVersion: sealbox.io/v1alpha1\nkind: KMSPluginConfiguration\n"
        f"socket: {directory / 'kms.sock'}\nsocketMode: '0660'\nsocketGroup: {group}\n"
        "backends:\n  primary: {type: local, keyFile: kek.key}\n"
    )


def _serve_once(directory: Path, group: str) -> os.stat_result:
    config = parse_plugin_config(_config(directory, group), "plugin.yaml", base_dir=directory)

    async def scenario() -> os.stat_result:
        server = PluginServer(config)
        await server.start()
        try:
            return os.stat(directory / "kms.sock")
        finally:
            await server.stop(grace=0)

    return asyncio.run(scenario())


@pytest.fixture
def directory() -> Iterator[Path]:
    path = Path(os.path.realpath("/tmp")) / f"sbx-gid-{os.getpid()}"  # unix socket paths: short
    path.mkdir(mode=0o700)
    create_keyring(path / "kek.key")
    yield path
    for item in path.iterdir():
        item.unlink()
    path.rmdir()


@pytest.mark.parametrize("quoted", [True, False], ids=["'4242'", "4242"])
def test_a_numeric_gid_needs_no_group_entry(directory: Path, quoted: bool) -> None:
    gid = 4242 if os.geteuid() == 0 else os.getegid()  # only root may give a file away
    stat = _serve_once(directory, f"'{gid}'" if quoted else str(gid))
    assert stat.st_gid == gid
    assert stat.st_mode & 0o777 == 0o660


def test_an_unknown_group_name_says_what_would_do(directory: Path) -> None:
    with pytest.raises(InputError, match=r"socketGroup 'no-such-group-x': .* or a numeric gid"):
        _serve_once(directory, "no-such-group-x")
    assert not (directory / "kms.sock").exists()
