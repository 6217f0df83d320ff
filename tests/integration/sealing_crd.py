"""The SealedSecret CRD in the session's apiserver, created once for every test that needs it.

``sealed_secret_crd`` applies ``deploy/sealing/crd.yaml`` (the file clusters get, upstream's CRD)
to :func:`~tests.integration.kube_apiserver.kube_apiserver` for real, waits for the CRD's
``Established`` condition and for the group in discovery (kubectl finds the kind there), and
yields that apiserver. Tests keep apart by namespace (``kube_namespace``); the CRD stays for the
session, so a test must not delete or change it.
"""

from __future__ import annotations

import pytest

from tests.integration.kube_apiserver import REPO, KubeApiserver
from tests.integration.processes import wait_until

__all__ = ["CRD_FILE", "CRD_NAME", "sealed_secret_crd"]

CRD_FILE = REPO / "deploy" / "sealing" / "crd.yaml"
CRD_NAME = "sealedsecrets.bitnami.com"
_ESTABLISHED_SECONDS = 60.0  # under a second on 2 idle cores


@pytest.fixture(scope="session")
def sealed_secret_crd(kube_apiserver: KubeApiserver) -> KubeApiserver:
    """The session apiserver with the SealedSecret CRD established and discoverable."""
    kube_apiserver.kubectl("apply", "-f", str(CRD_FILE))
    kube_apiserver.kubectl(
        "wait",
        "--for=condition=Established",
        f"--timeout={_ESTABLISHED_SECONDS:g}s",
        f"customresourcedefinition/{CRD_NAME}",
        timeout=_ESTABLISHED_SECONDS + 10,
    )
    wait_until(
        lambda: b'"sealedsecrets"' in kube_apiserver.get("/apis/bitnami.com/v1alpha1")[1],
        timeout=_ESTABLISHED_SECONDS,
        what="bitnami.com/v1alpha1 in discovery",
    )
    return kube_apiserver
