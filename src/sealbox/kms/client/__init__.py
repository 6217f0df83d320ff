"""Call a KMS plugin over gRPC exactly as kube-apiserver does (any plugin, not only Sealbox's).

:class:`GrpcConnector` opens one client per ``kms`` provider block (it implements
:class:`sealbox.kms.KMSConnector`, which the encryption core takes) and closes them all at the
end; :class:`KMSv2Client` and :class:`KMSv1Client` are the clients themselves.
"""

from __future__ import annotations

from sealbox.kms.client._clients import GrpcConnector, KMSv1Client, KMSv2Client

__all__ = ["GrpcConnector", "KMSv1Client", "KMSv2Client"]
