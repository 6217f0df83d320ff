"""Key renewal with a shortened period (3 s) on a running ``sealbox controller sealing``: new
certificates are served as keys are added, values sealed to the first certificate keep
unsealing (a Secret sealed before the renewals is recreated after them), and a value sealed
kubeseal-style to the current certificate unseals too. Renewal only adds key Secrets.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.controllers.sealing.controller_support import (
    WAIT_SECONDS,
    apply,
    get,
    sealed_secret,
    secret_data,
    wait_for_condition,
)
from tests.controllers.sealing.replicas import SealingReplica
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import wait_until

pytestmark = pytest.mark.integration

KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"


@pytest.fixture(scope="module")
def namespace(sealed_secret_crd: KubeApiserver) -> str:
    name = f"t-renewal-{secrets.token_hex(3)}"
    sealed_secret_crd.kubectl("create", "namespace", name)
    return name


@pytest.fixture(scope="module")
def replica(
    sealed_secret_crd: KubeApiserver, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SealingReplica]:
    started = SealingReplica.start(
        "renewing",
        kubeconfig=Path(sealed_secret_crd.kubeconfig),
        namespace=namespace,
        directory=tmp_path_factory.mktemp("sealing-renewal"),
        flags=["--key-renew-period=3s"],
    )
    try:
        yield started
    finally:
        started.process.stop()
        print(f"--- log tail:\n{started.process.log_tail(30)}")


def _public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = x509.load_pem_x509_certificate(pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _key_secrets(api: KubeApiserver, namespace: str) -> list[str]:
    listing = json.loads(
        api.kubectl(
            "get", "secrets", "-n", namespace, "-l", f"{KEY_LABEL}=active", "-o", "json"
        ).stdout
    )
    return sorted(item["metadata"]["name"] for item in listing["items"])


def test_renewal_keeps_old_values_working_and_new_seals_use_the_new_certificate(
    sealed_secret_crd: KubeApiserver, namespace: str, replica: SealingReplica
) -> None:
    api = sealed_secret_crd
    wait_until(lambda: replica.cert() is not None, timeout=WAIT_SECONDS, what="a certificate")
    first = replica.cert() or b""
    old_public = _public_key(first)
    apply(api, sealed_secret("before", namespace, {"k": b"old"}, old_public))
    wait_for_condition(api, "before", namespace, status="True", reason="Unsealed")
    wait_until(
        lambda: len(_key_secrets(api, namespace)) >= 3, timeout=WAIT_SECONDS, what="renewals"
    )
    current = replica.cert() or b""
    assert current != first
    assert all(name.startswith("sealed-secrets-key") for name in _key_secrets(api, namespace))

    secret = get(api, "secret", "before", namespace)
    assert secret is not None
    api.kubectl("delete", "secret", "before", "-n", namespace)
    wait_until(
        lambda: (
            (get(api, "secret", "before", namespace) or secret)["metadata"]["uid"]
            != secret["metadata"]["uid"]
        ),
        timeout=WAIT_SECONDS,
        what="the Secret sealed before the renewals recreated",
    )
    assert secret_data(api, "before", namespace) == {"k": b"old"}

    apply(api, sealed_secret("after", namespace, {"k": b"new"}, _public_key(current)))
    wait_for_condition(api, "after", namespace, status="True", reason="Unsealed")
    assert secret_data(api, "after", namespace) == {"k": b"new"}
