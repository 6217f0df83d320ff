"""The Sealbox KMS v2 plugin (``sealbox kms serve``): what kube-apiserver calls to encrypt Secrets.

Wired the way aws-encryption-provider is, one concern per module:

* :mod:`.config`: ``plugin.yaml`` (:class:`PluginConfig`), validated before anything starts;
* :mod:`.service`: the KMS API over the configured backends, transport-free
  (:class:`PluginService`: request rules, Decrypt routing by key_id, answer limits, answers
  within the caller's deadline);
* :mod:`.servicers`: that service on gRPC (v2, optionally v1beta1), errors mapped to codes;
* :mod:`.server`: the unix socket's lifecycle, graceful shutdown (:class:`PluginServer`,
  :func:`serve`);
* :mod:`.health`: the cached backend probe behind Status, ``/healthz`` and ``/readyz``;
* :mod:`.budget`: how long a backend call may take, the caller's deadline less a margin;
* :mod:`.breaker`: fail fast behind a backend just found unavailable (:class:`Breaker`);
* :mod:`.refusals`: warnings about refused calls, rate-limited (:class:`RefusalLog`);
* :mod:`.metrics` and :mod:`.http`: the ``sealbox_kms_*`` series and the probe/metrics port.

The key backends are :mod:`sealbox.kms.backends`; this package only awaits them.
"""

from __future__ import annotations

from sealbox.kms.plugin.breaker import FAIL_FAST_SECONDS, Breaker
from sealbox.kms.plugin.budget import ANSWER_MARGIN_SECONDS
from sealbox.kms.plugin.config import (
    DEFAULT_PROBE_INTERVAL_SECONDS,
    PluginConfig,
    ServeFlags,
    config_from_flags,
    load_plugin_config,
    parse_plugin_config,
)
from sealbox.kms.plugin.health import HealthMonitor, HealthSnapshot
from sealbox.kms.plugin.http import HealthHTTPServer
from sealbox.kms.plugin.metrics import Metrics, result_of
from sealbox.kms.plugin.refusals import RefusalLog
from sealbox.kms.plugin.server import PluginServer, prepare_socket, serve
from sealbox.kms.plugin.service import MAX_PLAINTEXT_BYTES, InvalidRequest, PluginService
from sealbox.kms.plugin.servicers import add_servicers

__all__ = [
    "ANSWER_MARGIN_SECONDS",
    "DEFAULT_PROBE_INTERVAL_SECONDS",
    "FAIL_FAST_SECONDS",
    "MAX_PLAINTEXT_BYTES",
    "Breaker",
    "HealthHTTPServer",
    "HealthMonitor",
    "HealthSnapshot",
    "InvalidRequest",
    "Metrics",
    "PluginConfig",
    "PluginServer",
    "PluginService",
    "RefusalLog",
    "ServeFlags",
    "add_servicers",
    "config_from_flags",
    "load_plugin_config",
    "parse_plugin_config",
    "prepare_socket",
    "result_of",
    "serve",
]
