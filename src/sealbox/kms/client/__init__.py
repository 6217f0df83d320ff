"""Call a KMS plugin over gRPC exactly as kube-apiserver does (any plugin, not only Sealbox's).

:class:`GrpcConnector` opens one client per ``kms`` provider block (it implements
:class:`sealbox.kms.KMSConnector`, which the encryption core takes) and closes them all at the
end; :class:`KMSv2Client` and :class:`KMSv1Client` are the clients themselves.
:func:`check_plugin` checks a running KMS v2 plugin as the apiserver would use it (Status and a
real Encrypt/Decrypt round trip), for ``sealbox kms status``.
"""

from __future__ import annotations

from sealbox.kms.client._check import ACCEPTED_VERSIONS, PluginCheck, check_plugin
from sealbox.kms.client._clients import GrpcConnector, KMSv1Client, KMSv2Client

__all__ = [
    "ACCEPTED_VERSIONS",
    "GrpcConnector",
    "KMSv1Client",
    "KMSv2Client",
    "PluginCheck",
    "check_plugin",
]
