from __future__ import annotations

import datetime

import pytest

from sealbox.sealing import SealingKey
from tests.controllers.sealing.keys_support import make_keys


@pytest.fixture(scope="session")
def sealing_keys() -> list[SealingKey]:
    """Four 2048-bit keys, NotBefore an hour ago and one second apart (oldest first)."""
    return make_keys(4, age=datetime.timedelta(hours=1))
