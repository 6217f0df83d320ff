"""The sync controller as it runs in a cluster, in a thread of the test process.

:class:`SyncControllerThread` runs :func:`~sealbox.controllers.sync.run_sync_controller` (leader
election, every informer, the reconciler, the rollout loop) against the session apiserver with
its own event loop and metrics registry; the test talks to the cluster with kubectl and to
OpenBao with its admin client, as a user would.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import secrets
import threading
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sealbox.controllers.sync import SyncSettings, run_sync_controller
from sealbox.kube import KubeTarget
from sealbox.kube.runtime import LeaseConfig
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.openbao_audit import AuditedOpenBao
from tests.integration.processes import wait_until

__all__ = [
    "WAIT_SECONDS",
    "SyncControllerThread",
    "apply",
    "condition",
    "deployment",
    "events_for",
    "external_secret",
    "generation",
    "get",
    "kv_put",
    "new_namespace",
    "restarted_at",
    "samples",
    "secret_values",
    "token_secret",
    "vault_store",
    "wait_ready",
    "wait_value",
]

WAIT_SECONDS = 60.0  # a sync takes well under a second; this only bounds a broken test


class SyncControllerThread:
    """One replica of the sync controller in a thread with its own event loop."""

    def __init__(self, kubeconfig: Path, settings: SyncSettings) -> None:
        self.kubeconfig = kubeconfig
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sync-controller", daemon=True)

    @classmethod
    def for_namespaces(
        cls, apiserver: KubeApiserver, *namespaces: str, **overrides: Any
    ) -> SyncControllerThread:
        """A replica watching ``namespaces``, its Lease in the first one."""
        lease = LeaseConfig(
            f"sealbox-sync-{secrets.token_hex(3)}",
            namespaces[0],
            f"test-{secrets.token_hex(3)}",
            lease_duration_seconds=6,
            renew_deadline_seconds=4,
            retry_period_seconds=1,
        )
        settings = dataclasses.replace(
            SyncSettings(lease=lease, namespaces=tuple(namespaces), metrics_listen=None),
            **overrides,
        )
        return cls(Path(apiserver.kubeconfig), settings)

    def start(self) -> SyncControllerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(WAIT_SECONDS)
        if self._error is not None:
            raise self._error

    def __enter__(self) -> SyncControllerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by stop()
            self._error = exc
        finally:
            self._done.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await run_sync_controller(
            KubeTarget(kubeconfig=self.kubeconfig), self.settings, stop=self._stop
        )


def apply(apiserver: KubeApiserver, *objects: Mapping[str, Any]) -> None:
    document = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    apiserver.kubectl("apply", "-f", "-", stdin=json.dumps(document))


def get(apiserver: KubeApiserver, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    result = apiserver.kubectl(
        "get", kind, name, "-n", namespace, "-o", "json", "--ignore-not-found"
    )
    return json.loads(result.stdout) if result.stdout.strip() else None


def secret_values(apiserver: KubeApiserver, name: str, namespace: str) -> dict[str, bytes] | None:
    """The Secret's data, decoded (None: no such Secret)."""
    secret = get(apiserver, "secret", name, namespace)
    if secret is None:
        return None
    return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}


def condition(
    apiserver: KubeApiserver, kind: str, name: str, namespace: str
) -> dict[str, Any] | None:
    """The object's ``Ready`` condition (None: no status yet)."""
    obj = get(apiserver, kind, name, namespace) or {}
    for entry in (obj.get("status") or {}).get("conditions") or ():
        if entry.get("type") == "Ready":
            return dict(entry)
    return None


def wait_ready(
    apiserver: KubeApiserver, name: str, namespace: str, *, status: str = "True"
) -> dict[str, Any]:
    """Wait until ExternalSecret ``name``'s Ready condition has ``status``; return it."""
    found: dict[str, Any] = {}

    def ready() -> bool:
        found.clear()
        found.update(condition(apiserver, "externalsecret", name, namespace) or {})
        return found.get("status") == status

    wait_until(ready, timeout=WAIT_SECONDS, what=f"ExternalSecret {name} Ready={status}")
    return found


def events_for(apiserver: KubeApiserver, name: str, namespace: str) -> list[dict[str, Any]]:
    """``events.k8s.io`` Events about object ``name``, oldest first."""
    listed = apiserver.kubectl("get", "events.events.k8s.io", "-n", namespace, "-o", "json")
    items = [
        item
        for item in json.loads(listed.stdout)["items"]
        if (item.get("regarding") or {}).get("name") == name
    ]
    return sorted(items, key=lambda item: item.get("eventTime") or "")


# -- manifests and helpers shared by the end-to-end modules ------------------------------------


def new_namespace(apiserver: KubeApiserver, prefix: str = "t") -> str:
    """A fresh namespace with its ``default`` ServiceAccount (as ``kube_namespace`` makes), for
    fixtures shared by a module."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    apiserver.kubectl("create", "namespace", name)
    apiserver.kubectl("create", "serviceaccount", "default", "-n", name)
    return name


def kv_put(bao: AuditedOpenBao, path: str, **values: str) -> None:
    """Write ``values`` as the new version of KV v2 key ``secret/<path>``."""
    bao.admin.write(f"secret/data/{path}", data=values)


def vault_store(
    bao: AuditedOpenBao,
    namespace: str | None,
    name: str = "bao",
    *,
    auth: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A SecretStore (``namespace`` None: a ClusterSecretStore) reading KV v2 ``secret/``;
    ``auth`` defaults to the token in Secret ``bao-token``; ``extra`` adds spec fields."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore" if namespace is not None else "ClusterSecretStore",
        "metadata": metadata,
        "spec": {
            "provider": {
                "vault": {
                    "server": bao.address,
                    "path": "secret",
                    "version": "v2",
                    "auth": dict(auth or {"tokenSecretRef": {"name": "bao-token", "key": "token"}}),
                }
            },
            **(extra or {}),
        },
    }


def token_secret(namespace: str, token: str, name: str = "bao-token") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"token": token},
    }


def external_secret(
    namespace: str,
    name: str,
    key: str,
    *,
    refresh: str = "1s",
    store: str = "bao",
    store_kind: str = "SecretStore",
    target: Mapping[str, Any] | None = None,
    data: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An ExternalSecret syncing ``user``/``password`` from the ``username``/``password``
    properties of remote ``key`` (or the given ``data`` items) into Secret ``name``."""
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "refreshInterval": refresh,
            "secretStoreRef": {"name": store, "kind": store_kind},
            "target": {"name": name, **(target or {})},
            "data": data
            if data is not None
            else [
                {"secretKey": "user", "remoteRef": {"key": key, "property": "username"}},
                {"secretKey": "password", "remoteRef": {"key": key, "property": "password"}},
            ],
        },
    }


def deployment(namespace: str, name: str, secret: str, *, env: bool = True) -> dict[str, Any]:
    """An opted-in Deployment reading key ``password`` of ``secret`` through ``env`` (fixed at
    start), or with ``env=False`` mounting the whole Secret as a volume (updated live)."""
    container: dict[str, Any] = {"name": "app", "image": "registry.example/app:1"}
    pod: dict[str, Any] = {"containers": [container]}
    if env:
        container["env"] = [
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}},
            }
        ]
    else:
        container["volumeMounts"] = [{"name": "db", "mountPath": "/etc/db"}]
        pod["volumes"] = [{"name": "db", "secret": {"secretName": secret}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"sealbox.io/restart-on-change": "true"},
        },
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod},
        },
    }


def generation(apiserver: KubeApiserver, kind: str, name: str, namespace: str) -> int:
    obj = get(apiserver, kind, name, namespace) or {}
    return int((obj.get("metadata") or {}).get("generation") or 0)


def restarted_at(apiserver: KubeApiserver, name: str, namespace: str) -> str | None:
    """The Deployment's ``kubectl.kubernetes.io/restartedAt`` (None: never restarted)."""
    found = get(apiserver, "deployment", name, namespace) or {}
    template = (found.get("spec") or {}).get("template") or {}
    value = ((template.get("metadata") or {}).get("annotations") or {}).get(
        "kubectl.kubernetes.io/restartedAt"
    )
    return value if isinstance(value, str) else None


def wait_value(
    apiserver: KubeApiserver, name: str, namespace: str, expected: Mapping[str, bytes]
) -> None:
    """Wait until Secret ``name`` holds exactly ``expected``."""
    wait_until(
        lambda: secret_values(apiserver, name, namespace) == dict(expected),
        timeout=WAIT_SECONDS,
        what=f"Secret {namespace}/{name} with the expected data",
    )


def samples(port: int, metric: str, /, **labels: str) -> list[float]:
    """The values of ``metric`` on ``127.0.0.1:port/metrics`` whose labels include
    ``labels`` (an empty list: no such series)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode("utf-8")
    return [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == metric and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
