"""Kubernetes API access for every command and controller that talks to a cluster.

Thin and typed, on lightkube: :func:`load_config` finds the cluster the way kubectl does
(``--kubeconfig``, ``--context``, ``KUBECONFIG``, ``~/.kube/config``, then the Pod's service
account); :func:`sync_client` and :func:`async_client` open lightkube clients on it whose
transport retries what is safe to repeat (:class:`RetryPolicy`); :func:`kube_errors` turns what
they raise into Sealbox's typed Kube* errors; :func:`apply` is server-side apply as field manager
``sealbox``; :func:`list_metadata` enumerates objects (Secrets) by metadata alone, never
receiving a value, and :func:`watch_metadata_async` follows them the same way;
:func:`fetch_metrics` reads one apiserver's ``/metrics``;
:class:`SealingService` reaches the sealing controller through the service proxy.
"""

from __future__ import annotations

from sealbox.kube.apply import apply, apply_async
from sealbox.kube.client import DEFAULT_TIMEOUT, FIELD_MANAGER, async_client, sync_client
from sealbox.kube.config import DEFAULT_KUBECONFIG, SERVICE_ACCOUNT_DIR, KubeTarget, load_config
from sealbox.kube.errors import as_kube_error, kube_errors
from sealbox.kube.metadata import (
    METADATA_LIST_ACCEPT,
    METADATA_WATCH_ACCEPT,
    MetadataEvent,
    MetadataPage,
    ObjectMetadata,
    list_metadata,
    list_metadata_async,
    metadata_pages,
    metadata_pages_async,
    watch_metadata_async,
)
from sealbox.kube.metrics import apiserver_url, fetch_metrics
from sealbox.kube.retry import AsyncRetryTransport, RetryPolicy, RetryTransport
from sealbox.kube.service_proxy import SealingService

__all__ = [
    "DEFAULT_KUBECONFIG",
    "DEFAULT_TIMEOUT",
    "FIELD_MANAGER",
    "METADATA_LIST_ACCEPT",
    "METADATA_WATCH_ACCEPT",
    "SERVICE_ACCOUNT_DIR",
    "AsyncRetryTransport",
    "KubeTarget",
    "MetadataEvent",
    "MetadataPage",
    "ObjectMetadata",
    "RetryPolicy",
    "RetryTransport",
    "SealingService",
    "apiserver_url",
    "apply",
    "apply_async",
    "as_kube_error",
    "async_client",
    "fetch_metrics",
    "kube_errors",
    "list_metadata",
    "list_metadata_async",
    "load_config",
    "metadata_pages",
    "metadata_pages_async",
    "sync_client",
    "watch_metadata_async",
]
