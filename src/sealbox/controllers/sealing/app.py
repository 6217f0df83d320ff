"""``sealbox controller sealing``: the process that unseals SealedSecrets, on the shared runtime.

Every replica loads the sealing keys and follows them (:class:`KeyStore.watch`), and serves the
HTTP endpoints kubeseal calls, so a standby answers ``/v1/cert.pem`` as well as the leader. Only
the leader (a Lease, :class:`~sealbox.kube.runtime.LeaderElector`) reconciles SealedSecrets and
generates or renews keys: a term starts with key generation when there is none (or the newest is
older than ``--key-cutoff-time``), runs the renewal schedule beside the workers, and stops both
when leadership ends.

What a term watches: SealedSecrets in every namespace or in the selected ones (one informer
each, asking the apiserver only for what ``--label-selector`` selects: :mod:`.selector`), and,
unless ``--skip-recreate``, the *metadata* of Secrets there, so an owned Secret deleted by hand
is recreated (:mod:`.owned`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from sealbox.controllers.sealing.key_secrets import DEFAULT_KEY_PREFIX
from sealbox.controllers.sealing.keystore import KeyOrder, KeyStore
from sealbox.controllers.sealing.metrics import SealingMetrics
from sealbox.controllers.sealing.owned import OwnedSecretDeletions
from sealbox.controllers.sealing.reconcile import ReconcileOptions, SealingReconciler
from sealbox.controllers.sealing.resource import SealedSecret
from sealbox.controllers.sealing.selector import server_side
from sealbox.controllers.sealing.server import SealingServer
from sealbox.controllers.sealing.wrapping import KeyWrapper
from sealbox.errors import InputError, SealboxError
from sealbox.kube import KubeTarget, async_client
from sealbox.kube.runtime import (
    Backoff,
    Controller,
    ControllerMetrics,
    ControllerOptions,
    EventRecorder,
    Informer,
    LeaderElector,
    LeaseConfig,
    run_controller,
)
from sealbox.sealing import DEFAULT_KEY_SIZE, DEFAULT_KEY_VALIDITY, KeyRing, unseal_sealed_secret

__all__ = [
    "CONTROLLER_NAME",
    "SealingController",
    "SealingSettings",
    "build_controller",
    "load_key_wrapper",
    "run_sealing_controller",
]

_log = logging.getLogger(__name__)

CONTROLLER_NAME = "sealing"


@dataclass(frozen=True, slots=True)
class SealingSettings:
    """Everything the flags decide (the CLI builds it; tests build it directly)."""

    key_namespace: str
    lease: LeaseConfig
    key_prefix: str = DEFAULT_KEY_PREFIX
    key_size: int = DEFAULT_KEY_SIZE
    key_renew_period: datetime.timedelta | None = datetime.timedelta(days=30)
    key_cutoff_time: datetime.datetime | None = None
    key_order: KeyOrder = KeyOrder.CERT_NOT_BEFORE
    my_cn: str = ""
    key_validity: datetime.timedelta = DEFAULT_KEY_VALIDITY
    key_labels: Mapping[str, str] = field(default_factory=dict)
    key_annotations: Mapping[str, str] = field(default_factory=dict)
    namespaces: tuple[str, ...] | None = None  # None: every namespace
    skip_recreate: bool = False
    listen: tuple[str, int] | None = ("0.0.0.0", 8080)  # noqa: S104 - reached through a Service
    metrics_listen: tuple[str, int] | None = ("0.0.0.0", 8081)  # noqa: S104 - scraped off-host
    key_wrap_config: Path | None = None
    rate_limit: float = 2  # /v1/verify requests per second per client; 0: no limit
    rate_limit_burst: int = 2
    workers: int = 2
    resync_seconds: float = 600.0
    reconcile: ReconcileOptions = field(default_factory=ReconcileOptions)


class SealingController(Controller):
    """A runtime :class:`Controller` whose terms start afresh and run the leader's key duties.

    ``on_lead`` runs at the start of each term (generate a key if needed) and ``while_leading``
    beside the workers (the renewal schedule), cancelled when the term ends.
    """

    def __init__(
        self,
        *args: Any,
        reconciler: SealingReconciler,
        on_lead: Callable[[], Any] | None = None,
        while_leading: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.reconciler = reconciler
        self._on_lead = on_lead
        self._while_leading = while_leading

    async def lead(self, stepping_down: asyncio.Event) -> None:
        self.reconciler.reset()
        if self._on_lead is not None:
            await self._on_lead()
        side = asyncio.create_task(self._while_leading()) if self._while_leading else None
        try:
            await super().lead(stepping_down)
        finally:
            if side is not None:
                side.cancel()
                await asyncio.gather(side, return_exceptions=True)


def build_controller(
    client: Any,
    keyring: KeyRing,
    *,
    namespaces: tuple[str, ...] | None,
    events: EventRecorder,
    metrics: ControllerMetrics,
    sealing_metrics: SealingMetrics,
    options: ReconcileOptions = ReconcileOptions(),
    skip_recreate: bool = False,
    workers: int = 2,
    resync_seconds: float = 600.0,
    backoff: Backoff | None = None,
    on_lead: Callable[[], Any] | None = None,
    while_leading: Callable[[], Any] | None = None,
) -> SealingController:
    """The informers, reconciler and runtime controller for ``namespaces`` (None: all); the
    SealedSecret informers ask the apiserver only for what ``options.label_selector`` selects."""
    scopes: tuple[str | None, ...] = (None,) if namespaces is None else namespaces
    labels = server_side(options.label_selector)
    sealed = {ns: Informer(client, SealedSecret, namespace=ns, labels=labels) for ns in scopes}

    def find(key: str) -> Any | None:
        informer = sealed.get(None) or sealed.get(key.partition("/")[0])
        return None if informer is None else informer.get(key)

    reconciler = SealingReconciler(
        client,
        keyring,
        find=find,
        unseal=unseal_sealed_secret,
        events=events,
        metrics=sealing_metrics,
        options=options,
    )
    informers: list[Informer] = list(sealed.values())
    if not skip_recreate:
        informers += [
            OwnedSecretDeletions(client, namespace=ns, on_deleted=reconciler.forget)
            for ns in scopes
        ]
    return SealingController(
        ControllerOptions(
            CONTROLLER_NAME,
            workers=workers,
            resync_seconds=resync_seconds,
            backoff=backoff or Backoff(),
        ),
        reconciler,
        informers=informers,
        metrics=metrics,
        reconciler=reconciler,
        on_lead=on_lead,
        while_leading=while_leading,
    )


def load_key_wrapper(path: Path) -> KeyWrapper:
    """``--key-wrap-config FILE``: one KMS backend entry (``type: local``, ...), alone or as the
    only entry of a plugin.yaml's ``backends``.

    Raises:
        InputError: unreadable, not YAML, not one entry, or a backend that cannot be set up.
    """
    where = f"--key-wrap-config {path}"
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(f"{where}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError:
        raise InputError(f"{where}: not YAML; expected one backend entry (type: ...)") from None
    entry: Any = document
    if isinstance(document, Mapping) and "backends" in document:
        backends = document["backends"]
        values = list(backends.values()) if isinstance(backends, Mapping) else []
        if len(values) != 1:
            raise InputError(f"{where}: backends must hold exactly one entry to wrap keys with")
        entry = values[0]
    if not isinstance(entry, Mapping) or "type" not in entry:
        raise InputError(
            f"{where}: expected one backend entry with a type (local, pkcs11, vault, awskms)"
        )
    try:
        return KeyWrapper.from_entry(entry, path.parent)
    except SealboxError as exc:
        raise InputError(f"{where}: {exc}") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"{where}: not a valid backend entry ({exc})") from None


async def run_sealing_controller(target: KubeTarget, settings: SealingSettings) -> None:
    """Run one replica until SIGTERM/SIGINT (see the module docstring)."""
    wrapper = load_key_wrapper(settings.key_wrap_config) if settings.key_wrap_config else None
    client = async_client(target)
    store = KeyStore(
        client,
        namespace=settings.key_namespace,
        prefix=settings.key_prefix,
        key_size=settings.key_size,
        renew_period=settings.key_renew_period,
        cutoff=settings.key_cutoff_time,
        common_name=settings.my_cn,
        key_validity=settings.key_validity,
        key_order=settings.key_order,
        labels=settings.key_labels,
        annotations=settings.key_annotations,
        wrapper=wrapper,
    )
    metrics = ControllerMetrics()
    sealing_metrics = SealingMetrics(
        metrics.registry,
        private_key_operations=lambda: store.keyring.private_key_operations,
        newest_key_backed_up=store.newest_backed_up,
    )

    async def on_lead() -> None:
        try:
            await store.start(may_generate=True)
        except SealboxError as exc:  # renew_forever retries with backoff while leading
            _log.error("could not load or generate sealing keys as leader: %s", exc)

    controller = build_controller(
        client,
        store.keyring,
        namespaces=settings.namespaces,
        events=EventRecorder(client, instance=settings.lease.identity),
        metrics=metrics,
        sealing_metrics=sealing_metrics,
        options=settings.reconcile,
        skip_recreate=settings.skip_recreate,
        workers=settings.workers,
        resync_seconds=settings.resync_seconds,
        on_lead=on_lead,
        while_leading=store.renew_forever,
    )
    elector = LeaderElector(client, settings.lease)
    await store.start(may_generate=False)
    background = [asyncio.create_task(store.watch())]
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # as upstream: SIGUSR1 renews
        loop.add_signal_handler(signal.SIGUSR1, store.request_renewal)
    server = await _start_server(store, settings, metrics.registry)
    try:
        metrics_port = settings.metrics_listen
        await run_controller(
            controller,
            elector,
            metrics=metrics,
            health_port=None if metrics_port is None else metrics_port[1],
            health_host="0.0.0.0" if metrics_port is None else metrics_port[0],  # noqa: S104
        )
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if server is not None:
            await server.stop()
        if wrapper is not None:
            wrapper.close()
        await client.close()


async def _start_server(
    store: KeyStore, settings: SealingSettings, registry: CollectorRegistry
) -> SealingServer | None:
    """The kubeseal endpoints on ``--listen-addr`` (None when it is off), on every replica."""
    if settings.listen is None:
        return None
    host, port = settings.listen
    server = SealingServer(
        store.keyring,
        host=host,
        port=port,
        registry=registry,
        newest=store.newest,
        rate_limit=settings.rate_limit,
        rate_limit_burst=settings.rate_limit_burst,
    )
    await server.start()
    return server
