"""SoftHSM2 tokens in temp dirs, and the ``pkcs11_harness`` fixture.

Each token gets its own directory: a ``softhsm2.conf`` pointing at its own ``tokens/`` dir, one
token initialized there by ``softhsm2-util --init-token --free`` with random PINs, and a PIN
file (mode 0600). Nothing touches ``/var/lib/softhsm``. The directory is deleted afterwards.

SoftHSM reads ``SOFTHSM2_CONF`` once, at ``C_Initialize``. The plugin under test is a separate
process and gets it through ``BackendHarness.env``; a backend built inside the test process needs
it in ``os.environ`` (the ``softhsm_token`` fixture sets it), and the ``pkcs11`` runtime
re-initializes the library whenever its last backend has closed, so tests can use one token each.

Levers, all from outside the process under test:

* ``rotate`` runs :func:`sealbox.kms.backends.pkcs11.rotate_key` in a fresh interpreter. SoftHSM's
  file store shows a key made by another process to sessions that are already open, so a running
  plugin sees it at its next re-list (``rescanInterval``, 1s here).
* ``stop`` moves the token's directory out of ``tokens/`` (the token is gone: object lookups fail,
  ``C_GetTokenInfo`` fails, new logins find no token); ``start`` moves it back with the same keys.
  The plugin answers ``BackendUnavailable`` meanwhile and recovers by re-initializing the library
  (at most once a second) on its next calls; no restart needed.

Tests use the fixtures by importing them (``pkcs11_harness = fixtures.pkcs11_harness``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import BackendHarness

__all__ = [
    "SOFTHSM_MODULE",
    "SOFTHSM_UTIL",
    "SoftHsmToken",
    "init_softhsm_token",
    "pkcs11_harness",
    "softhsm_token",
    "temporary_softhsm_token",
]

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SOFTHSM_UTIL = "softhsm2-util"
_SUBPROCESS_TIMEOUT_SECONDS = 60

_ROTATE = """
import json, sys
from pathlib import Path
from sealbox.kms.backends import pkcs11
config = pkcs11.Config.model_validate(json.loads(sys.argv[1]))
print(pkcs11.rotate_key(config, base_dir=Path(sys.argv[2])))
"""


@dataclass(frozen=True)
class SoftHsmToken:
    """One initialized SoftHSM2 token in its own directory."""

    root: Path
    label: str
    pin: str = field(repr=False)
    so_pin: str = field(repr=False)

    @property
    def conf(self) -> Path:
        return self.root / "softhsm2.conf"

    @property
    def tokens_dir(self) -> Path:
        return self.root / "tokens"

    @property
    def pin_file(self) -> Path:
        return self.root / "pin"

    @property
    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A ``pkcs11`` backend entry as plugin.yaml would hold it (camelCase, PIN from a file)."""
        return {
            "type": "pkcs11",
            "module": SOFTHSM_MODULE,
            "tokenLabel": self.label,
            "keyLabel": "sealbox-kek",
            "pinFile": str(self.pin_file),
            "generateIfMissing": True,
            "rescanInterval": "1s",
            **overrides,
        }

    def run_python(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``code`` in a fresh interpreter on this token (``SOFTHSM2_CONF`` set); check it."""
        result = subprocess.run(
            [sys.executable, "-c", code, *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=_SUBPROCESS_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"subprocess failed ({result.returncode}):\n{result.stderr}")
        return result

    def rotate(self, config: dict[str, Any] | None = None) -> str:
        """Add a KEK with ``rotate_key`` from another process; returns its key_id."""
        document = json.dumps(config or self.config())
        return self.run_python(_ROTATE, document, str(self.root)).stdout.strip()

    def add_token(self, label: str) -> None:
        """Initialize one more token, with the same PINs, next to this one."""
        _init_token(self, label)

    def take_away(self) -> None:
        """Make the tokens vanish for every process (as if the HSM were unplugged)."""
        away = self.root / "away"
        away.mkdir(exist_ok=True)
        for path in self.tokens_dir.iterdir():
            path.rename(away / path.name)

    def bring_back(self) -> None:
        """Put the tokens back, with the same keys."""
        for path in (self.root / "away").iterdir():
            path.rename(self.tokens_dir / path.name)


def init_softhsm_token(root: Path, *, label: str = "sealbox-test") -> SoftHsmToken:
    """Create ``root`` with a SoftHSM2 config, a token dir and one initialized token."""
    token = SoftHsmToken(
        root=root, label=label, pin=secrets.token_hex(8), so_pin=secrets.token_hex(8)
    )
    token.tokens_dir.mkdir(parents=True)
    token.conf.write_text(
        f"directories.tokendir = {token.tokens_dir}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    fd = os.open(token.pin_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token.pin + "\n")
    _init_token(token, label)
    return token


def _init_token(token: SoftHsmToken, label: str) -> None:
    pins = ["--so-pin", token.so_pin, "--pin", token.pin]
    subprocess.run(
        [SOFTHSM_UTIL, "--init-token", "--free", "--label", label, *pins],
        env={**os.environ, **token.env},
        capture_output=True,
        check=True,
        timeout=_SUBPROCESS_TIMEOUT_SECONDS,
    )


@contextlib.contextmanager
def temporary_softhsm_token(root: Path, *, label: str = "sealbox-test") -> Iterator[SoftHsmToken]:
    """:func:`init_softhsm_token`, and delete ``root`` afterwards."""
    try:
        yield init_softhsm_token(root, label=label)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def softhsm_token(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SoftHsmToken]:
    """A fresh token, with ``SOFTHSM2_CONF`` set in ``os.environ`` for in-process backends."""
    with temporary_softhsm_token(tmp_path_factory.mktemp("softhsm")) as token:
        monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))
        yield token


@pytest.fixture
def pkcs11_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendHarness]:
    """A ``pkcs11`` backend on a fresh SoftHSM2 token; see the module docstring for the levers."""
    with temporary_softhsm_token(tmp_path_factory.mktemp("softhsm")) as token:

        def rotate() -> None:
            token.rotate()

        yield BackendHarness(
            kind="pkcs11",
            config=token.config(),
            rotate=rotate,
            stop=token.take_away,
            start=token.bring_back,
            env=dict(token.env),
        )
