"""The sync controller's CRDs in the session's apiserver, created once for every test that needs
them.

``sync_crds`` applies the three CRD files of ``deploy/sync`` (ExternalSecret, SecretStore,
ClusterSecretStore: the files clusters get) to
:func:`~tests.integration.kube_apiserver.kube_apiserver` for real, waits for each CRD's
``Established`` condition and for the kinds in discovery (kubectl finds them there), and yields
that apiserver. Tests keep apart by namespace (``kube_namespace``) and, for ClusterSecretStores,
by name; the CRDs stay for the session, so a test must not delete or change them.
"""

from __future__ import annotations

import pytest

from tests.integration.kube_apiserver import REPO, KubeApiserver
from tests.integration.processes import wait_until

__all__ = ["SYNC_CRD_FILES", "SYNC_CRD_NAMES", "sync_crds"]

_DEPLOY = REPO / "deploy" / "sync"
#: CRD name -> the file that defines it.
SYNC_CRD_FILES = {
    "externalsecrets.external-secrets.io": _DEPLOY / "externalsecret-crd.yaml",
    "secretstores.external-secrets.io": _DEPLOY / "secretstore-crd.yaml",
    "clustersecretstores.external-secrets.io": _DEPLOY / "clustersecretstore-crd.yaml",
}
SYNC_CRD_NAMES = tuple(SYNC_CRD_FILES)
_ESTABLISHED_SECONDS = 60.0  # under a second on 2 idle cores


@pytest.fixture(scope="session")
def sync_crds(kube_apiserver: KubeApiserver) -> KubeApiserver:
    """The session apiserver with the external-secrets.io/v1 CRDs established and discoverable."""
    for path in SYNC_CRD_FILES.values():
        kube_apiserver.kubectl("apply", "-f", str(path))
    kube_apiserver.kubectl(
        "wait",
        "--for=condition=Established",
        f"--timeout={_ESTABLISHED_SECONDS:g}s",
        *(f"customresourcedefinition/{name}" for name in SYNC_CRD_NAMES),
        timeout=_ESTABLISHED_SECONDS + 10,
    )
    plurals = [name.split(".", 1)[0] for name in SYNC_CRD_NAMES]

    def discovered() -> bool:
        status, body = kube_apiserver.get("/apis/external-secrets.io/v1")
        return status == 200 and all(f'"{p}"'.encode() in body for p in plurals)

    wait_until(discovered, timeout=_ESTABLISHED_SECONDS, what="external-secrets.io/v1 in discovery")
    return kube_apiserver
