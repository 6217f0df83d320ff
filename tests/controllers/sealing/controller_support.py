"""The sealing controller's reconcile loop in a thread of the test process, and SealedSecrets
built with the independent reference sealer (``tests/sealing/reference.py``), never ``src``.

:class:`ControllerThread` runs one leadership term of the real controller (the informers,
owned-Secret watch, reconciler and runtime :class:`~sealbox.kube.runtime.Controller` that
``build_controller`` wires) against the session apiserver, with a :class:`KeyRing` the test fills
directly. The test talks to the cluster with kubectl, as a user would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import CollectorRegistry

from sealbox.controllers.sealing.app import build_controller
from sealbox.controllers.sealing.metrics import SealingMetrics
from sealbox.controllers.sealing.reconcile import ReconcileOptions
from sealbox.kube import KubeTarget, async_client
from sealbox.kube.runtime import Backoff, ControllerMetrics, EventRecorder
from sealbox.sealing import KeyRing
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import wait_until
from tests.sealing import reference, reference_envelope

__all__ = [
    "WAIT_SECONDS",
    "ControllerThread",
    "condition",
    "events_for",
    "label_for_scope",
    "sealed_secret",
]

WAIT_SECONDS = 60.0  # a reconcile takes well under a second; this only bounds a broken test
INSTANCE = "reconcile-test"


class ControllerThread:
    """One term of the sealing controller in a thread with its own event loop."""

    def __init__(
        self,
        kubeconfig: Path,
        keyring: KeyRing,
        *,
        namespaces: tuple[str, ...],
        options: ReconcileOptions = ReconcileOptions(),
        skip_recreate: bool = False,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.keyring = keyring
        self.namespaces = namespaces
        self.options = options
        self.skip_recreate = skip_recreate
        self.registry = CollectorRegistry()
        self.sealing_metrics: SealingMetrics | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sealing-controller", daemon=True)

    def start(self) -> ControllerThread:
        self._thread.start()
        if not self._ready.wait(WAIT_SECONDS):
            raise AssertionError("the controller thread did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(WAIT_SECONDS)

    def unseal_requests(self) -> float:
        value = self.registry.get_sample_value("sealed_secrets_controller_unseal_requests_total")
        return value or 0.0

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        client = async_client(KubeTarget(kubeconfig=self.kubeconfig))
        metrics = ControllerMetrics(self.registry)
        self.sealing_metrics = SealingMetrics(
            self.registry, private_key_operations=lambda: self.keyring.private_key_operations
        )
        controller = build_controller(
            client,
            self.keyring,
            namespaces=self.namespaces,
            events=EventRecorder(client, instance=INSTANCE),
            metrics=metrics,
            sealing_metrics=self.sealing_metrics,
            options=self.options,
            skip_recreate=self.skip_recreate,
            workers=1,  # one key at a time: a later object's result means earlier ones are done
            backoff=Backoff(base_seconds=0.05, max_seconds=0.5),
        )
        self._ready.set()
        try:
            await controller.lead(self._stop)
        finally:
            await client.close()


def label_for_scope(scope: str, namespace: str, name: str) -> bytes:
    """The OAEP label of spec §1.3, written out here rather than imported from ``src``."""
    if scope == "cluster-wide":
        return b""
    if scope == "namespace-wide":
        return namespace.encode()
    return f"{namespace}/{name}".encode()


_SCOPE_ANNOTATIONS = {
    "strict": {},
    "namespace-wide": {"sealedsecrets.bitnami.com/namespace-wide": "true"},
    "cluster-wide": {"sealedsecrets.bitnami.com/cluster-wide": "true"},
}


def sealed_secret(
    name: str,
    namespace: str,
    items: Mapping[str, bytes],
    public_key: rsa.RSAPublicKey,
    *,
    scope: str = "strict",
    template: Mapping[str, Any] | None = None,
    envelope: bool = False,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A SealedSecret as kubeseal writes it, sealed by the reference implementation."""
    label = label_for_scope(scope, namespace, name)
    sealer = reference_envelope.seal if envelope else None

    def one(value: bytes) -> str:
        sealed = (
            sealer([public_key], value, label)
            if sealer is not None
            else reference.seal(public_key, value, label)
        )
        return base64.b64encode(sealed).decode()

    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if _SCOPE_ANNOTATIONS[scope]:
        meta["annotations"] = dict(_SCOPE_ANNOTATIONS[scope])
    if labels:
        meta["labels"] = dict(labels)
    spec_template: dict[str, Any] = {"metadata": {"name": name, "namespace": namespace}}
    spec_template.update(template or {})
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": meta,
        "spec": {
            "encryptedData": {key: one(value) for key, value in items.items()},
            "template": spec_template,
        },
    }


def apply(apiserver: KubeApiserver, obj: Mapping[str, Any]) -> None:
    apiserver.kubectl("apply", "-f", "-", stdin=json.dumps(obj))


def get(apiserver: KubeApiserver, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    result = apiserver.kubectl(
        "get", kind, name, "-n", namespace, "-o", "json", "--ignore-not-found"
    )
    return json.loads(result.stdout) if result.stdout.strip() else None


def condition(apiserver: KubeApiserver, name: str, namespace: str) -> dict[str, Any] | None:
    """The SealedSecret's ``Synced`` condition (None: no status yet)."""
    obj = get(apiserver, "sealedsecret", name, namespace) or {}
    for entry in (obj.get("status") or {}).get("conditions") or ():
        if entry.get("type") == "Synced":
            return dict(entry)
    return None


def events_for(apiserver: KubeApiserver, name: str, namespace: str) -> list[dict[str, Any]]:
    """``events.k8s.io`` Events about the SealedSecret ``name``, oldest first."""
    listing = json.loads(
        apiserver.kubectl("get", "events.events.k8s.io", "-n", namespace, "-o", "json").stdout
    )
    mine = [
        e
        for e in listing["items"]
        if e.get("regarding", {}).get("kind") == "SealedSecret"
        and e.get("regarding", {}).get("name") == name
    ]
    return sorted(mine, key=lambda e: e.get("eventTime") or "")


def secret_data(apiserver: KubeApiserver, name: str, namespace: str) -> dict[str, bytes] | None:
    obj = get(apiserver, "secret", name, namespace)
    if obj is None:
        return None
    return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}


def wait_for_condition(
    apiserver: KubeApiserver, name: str, namespace: str, *, status: str, reason: str
) -> dict[str, Any]:
    def matches() -> bool:
        found = condition(apiserver, name, namespace)
        return found is not None and (found["status"], found.get("reason")) == (status, reason)

    wait_until(matches, timeout=WAIT_SECONDS, what=f"{name}: Synced={status} reason {reason}")
    found = condition(apiserver, name, namespace)
    assert found is not None
    return found
