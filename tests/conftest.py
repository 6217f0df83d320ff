"""Shared fixtures: live KMS plugins for the recorded data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sealbox.encryption.model import EncryptionConfiguration
from sealbox.kmsapi.static_plugin import StaticKEKPlugin
from tests.kms_fixtures import RecordedSetup, legacy_setup, recorded_setup

# Real servers: each module starts its own (SoftHSM2 token, OpenBao, moto, etcd); the KMS
# backends provide a ``<kind>_harness`` fixture (see tests/integration/harness.py).
pytest_plugins = [
    "tests.integration.backends.awskms",
    "tests.integration.backends.pkcs11",
    "tests.integration.backends.vault",
    "tests.integration.etcd_server",
]


@pytest.fixture
def recorded() -> Iterator[RecordedSetup]:
    with recorded_setup() as setup:
        yield setup


@pytest.fixture
def legacy() -> Iterator[tuple[EncryptionConfiguration, StaticKEKPlugin]]:
    with legacy_setup() as setup:
        yield setup
