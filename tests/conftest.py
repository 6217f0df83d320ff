"""Shared fixtures: live KMS plugins for the recorded data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from sealbox.encryption.model import EncryptionConfiguration
from tests.doubles.static_plugin import StaticKEKPlugin
from tests.kms_fixtures import RecordedSetup, legacy_setup, recorded_setup

# Real servers: each module starts its own (SoftHSM2 token, OpenBao, moto, etcd); the KMS
# backends provide a ``<kind>_harness`` fixture (see tests/integration/harness.py).
# Property tests judge what code does, never how fast: on a loaded 2-core CI machine the first
# example of a test (imports, cold caches) can take longer than hypothesis's 200 ms deadline and
# fail a correct run. Every test inherits this profile; a test's own @settings still adds to it.
settings.register_profile(
    "sealbox", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("sealbox")

pytest_plugins = [
    "tests.integration.backends.awskms",
    "tests.integration.backends.pkcs11",
    "tests.integration.backends.vault",
    "tests.integration.etcd_server",
    "tests.integration.kube_apiserver",
    "tests.integration.openbao_audit",
    "tests.integration.service_endpoint",
    "tests.integration.sealing_crd",
    "tests.integration.sync_crds",
]


@pytest.fixture
def recorded() -> Iterator[RecordedSetup]:
    with recorded_setup() as setup:
        yield setup


@pytest.fixture
def legacy() -> Iterator[tuple[EncryptionConfiguration, StaticKEKPlugin]]:
    with legacy_setup() as setup:
        yield setup
