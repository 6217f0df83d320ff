"""Where ``sealbox controller sealing`` keeps its keys when ``--key-namespace`` is not given.

A controller in a Pod uses its own namespace, as upstream does (the service-account file, then
``POD_NAMESPACE``); run from a workstation it uses the kubeconfig context's namespace, and
``kube-system`` when neither says.
"""

from __future__ import annotations

import os
from pathlib import Path

from sealbox.cli.kube_options import KubeOptions
from sealbox.errors import KubeConfigError

__all__ = ["own_namespace"]

_FALLBACK_NAMESPACE = "kube-system"
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_namespace(kube: KubeOptions, environ: dict[str, str] | None = None) -> str:
    """Where the keys live by default: the Pod's namespace (service-account file, then
    ``POD_NAMESPACE``), else the kubeconfig context's namespace, else ``kube-system``."""
    env = dict(os.environ) if environ is None else environ
    try:
        found = _SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError:
        found = ""
    if found:
        return found
    if env.get("POD_NAMESPACE", "").strip():
        return env["POD_NAMESPACE"].strip()
    from sealbox.kube import load_config

    try:
        config = load_config(kube.target())
    except KubeConfigError:
        return _FALLBACK_NAMESPACE
    return config.context.namespace or _FALLBACK_NAMESPACE
