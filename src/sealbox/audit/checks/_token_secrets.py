"""Service-account tokens in Secrets (SBX-205, SBX-206): long-lived tokens and API credentials.

* A Secret of type ``kubernetes.io/service-account-token`` asks the token controller for a
  token that never expires; it is reported even without ``data``, since the controller fills
  it in once the manifest is applied. The ServiceAccount is named from its annotation.
* A value that holds a service-account JWT, kubeconfig or Argo CD cluster credentials
  (:mod:`._kubecreds`) is worth more than any other secret: :func:`api_finding` reports it as
  critical, next to the Secret or ConfigMap finding for the same object.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from sealbox.audit.model import Control, Finding, Location, Manifest, Severity

__all__ = [
    "KUBE_CREDENTIALS",
    "LEGACY_TOKEN_SECRET",
    "LEGACY_TYPE",
    "api_finding",
    "token_secret_findings",
]

LEGACY_TYPE = "kubernetes.io/service-account-token"
_SA_ANNOTATION = "kubernetes.io/service-account.name"
_DNS_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")

LEGACY_TOKEN_SECRET = Control(
    id="SBX-205",
    title="Long-lived service account token Secret",
    severity=Severity.MEDIUM,
    rationale=(
        "A Secret of type kubernetes.io/service-account-token is filled by the token controller "
        "with a token that never expires and stays valid until the Secret is deleted; anyone who "
        "can read Secrets in the namespace can use it "
        "(https://kubernetes.io/docs/concepts/security/service-accounts/#get-a-token)."
    ),
    remediation=(
        "Use short-lived tokens from the TokenRequest API (projected volumes, kubectl create "
        "token) and delete the Secret; if a long-lived token is unavoidable, bind the "
        "ServiceAccount to as little as possible and rotate the Secret."
    ),
)
KUBE_CREDENTIALS = Control(
    id="SBX-206",
    title="Kubernetes API credentials committed",
    severity=Severity.CRITICAL,
    rationale=(
        "A service-account JWT or a kubeconfig user's token, client key or password in a "
        "committed Secret or ConfigMap lets anyone who reads the repository call the API server "
        "as that identity; legacy service-account tokens never expire."
    ),
    remediation=(
        "Revoke the credential now (delete the token Secret, rotate the client certificate or "
        "password), remove it from the repository history, and give the consumer a short-lived "
        "token (TokenRequest) or a Secret synced from a secret store."
    ),
)


def token_secret_findings(manifest: Manifest) -> Iterator[Finding]:
    """SBX-205 for a Secret of the legacy token type, with or without data."""
    if manifest.body.get("type") != LEGACY_TYPE:
        return
    annotation = manifest.annotations.get(_SA_ANNOTATION)
    # Printed only when it has the shape of a name: an annotation value is never echoed.
    account = annotation if isinstance(annotation, str) and _DNS_NAME.match(annotation) else None
    if account is not None:
        whose = f"ServiceAccount {account!r}"
    else:
        whose = f"the ServiceAccount its {_SA_ANNOTATION} annotation names"
    message = (
        f"Secret of type {LEGACY_TYPE}: the token controller fills it with a token for {whose} "
        "that never expires"
    )
    details = {"type": LEGACY_TYPE, "serviceAccount": account}
    yield Finding(LEGACY_TOKEN_SECRET, message, manifest.location, manifest.ref, details)


def api_finding(
    manifest: Manifest, what: str, field_name: str, api: Mapping[str, list[str]], at: Location
) -> Finding:
    """One SBX-206 finding for the keys of ``field_name`` that hold API credentials."""
    listed = "; ".join(f"{key!r} ({', '.join(labels)})" for key, labels in api.items())
    message = f"{what} {field_name} holds Kubernetes API credentials: {listed}"
    details = {"field": field_name, "keys": dict(api)}
    return Finding(KUBE_CREDENTIALS, message, at, manifest.ref, details)
