"""Kubernetes API access for every command and controller that talks to a cluster.

Thin and typed, on lightkube: :func:`load_config` finds the cluster the way kubectl does
(``--kubeconfig``, ``--context``, ``KUBECONFIG``, ``~/.kube/config``, then the Pod's service
account).
"""

from __future__ import annotations

from sealbox.kube.config import DEFAULT_KUBECONFIG, SERVICE_ACCOUNT_DIR, KubeTarget, load_config

__all__ = ["DEFAULT_KUBECONFIG", "SERVICE_ACCOUNT_DIR", "KubeTarget", "load_config"]
