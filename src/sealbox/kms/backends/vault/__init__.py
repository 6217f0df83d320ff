"""Vault / OpenBao transit engine as a KEK holder (``type: vault``), through hvac.

Config (camelCase in plugin.yaml; unknown keys are rejected; relative paths resolve against the
plugin.yaml directory)::

    type: vault
    address: https://vault.example:8200     # http(s) only, no credentials in the URL
    transitMount: transit                     # default
    keyName: kube-secrets                     # required
    namespace: team-a                         # optional (Vault Enterprise / OpenBao namespaces)
    caFile: /etc/sealbox/vault-ca.pem         # optional; https only
    clientCertFile: …, clientKeyFile: …       # optional mTLS; both or neither
    tlsSkipVerify: false                      # NEVER in production: anyone on the path can MITM
                                              # (logs a warning at build; urllib3's per-request
                                              # warning is filtered for this host only)
    timeoutSeconds: 10                        # per connect and per read; less when the
                                              # KMS call has less time left (its deadline)
    auth:                                     # one of:
      {method: token, tokenFile: … | tokenEnv: …}
      {method: approle, roleId: …, secretIdFile: … | secretIdEnv: …, mount: approle}
      {method: kubernetes, role: …, jwtFile: <SA token path>, mount: kubernetes}

Secrets (token, secret-id, JWT) are never config values, only a file or an environment variable
naming them, re-read at every login. Requests ignore ``VAULT_*``, proxy and CA-bundle environment
variables and ``~/.vault-token``: only this config decides where the token goes.

Token lifecycle (see :mod:`._auth`): log in at build (a failure to
reach Vault is logged and retried on first use; a missing credential file is a ConfigError).
On each call, once less than a third of the token's lease is left, renew it (``renew-self``) if it
is renewable, else log in again; with ``token`` auth that means re-reading ``tokenFile``/
``tokenEnv``, so an agent that rotates the file keeps the plugin alive. A 403 triggers one
re-login and one retry (at most once per 5 s); a 401/403 that remains is
:class:`~sealbox.errors.AccessDenied`: the plugin's own token is refused, not the request, so the
plugin answers UNAVAILABLE and is not ready until a token works again. There is no background
thread, so a token whose TTL is shorter than the gap between calls (the plugin's health probe
calls ``current_key_id`` regularly) expires in between: approle/kubernetes then simply log in
again; a plain token needs a TTL well above the probe interval (or be periodic) and is refused
once expired.
``renewals``/``logins`` count for metrics. Tokens we logged in for are revoked on ``close``.
Every approle re-login spends one secret-id use: give the plugin's secret-id no use limit, or
have something rotate the file.

``wrap`` reads the key, then calls transit ``encrypt`` pinned to the ``key_version`` just read
(two requests, but wraps are rare: one per DEK seed), so the key_id always names the version that
really wrapped. The stored ciphertext is Vault's own ``vault:v<N>:<base64>`` string as ASCII
bytes. ``unwrap`` checks it is that shape and that ``v<N>`` matches the key_id (and the
annotation), then calls transit ``decrypt`` (one request). A refused decrypt never says why
beyond "tampered, or made by a deleted, recreated or trimmed key" (or min_decryption_version).

key_id: ``vault:<mount>/<keyName>:v<latest_version>:<16 hex>`` where the hex is a SHA-256 over
namespace, mount, key name and the creation time of the key's oldest version (version 1 unless
trimmed). Why each part:

* ``v<latest_version>``: a transit rotation changes the key_id, so the apiserver re-seeds (the
  vault-kubernetes-kms plugin used the version alone);
* the creation-time digest: deleting and recreating a key restarts versions at 1, so the version
  alone would reuse key_id ``…:v1`` for a different KEK. Version 1's creation time is fixed for
  the key's lifetime and differs for a recreated key (unless created, deleted and recreated
  within the same second, which never happens to a key that was actually used). It is
  address-independent, so every replica and every DNS name of one Vault yields the same key_id.
  Trimming old versions changes the digest once (a harmless re-seed).

``owns`` matches the ``vault:<mount>/<keyName>:`` prefix, so two vault backends of one plugin
must differ in mount or key name. Annotation ``version.vault.sealbox.io`` holds the version.

Minimal policy (plus the default policy for lookup/renew-self)::

    path "transit/keys/<keyName>"    { capabilities = ["read"] }
    path "transit/encrypt/<keyName>" { capabilities = ["update"] }
    path "transit/decrypt/<keyName>" { capabilities = ["update"] }

Grant ``update`` rather than ``create`` on encrypt, so a deleted key is not silently recreated.
Derived (context) keys are refused: the KMS API carries no per-object context.
"""

from __future__ import annotations

from sealbox.kms.backends.vault._backend import (
    ANNOTATION_VERSION,
    KIND,
    THREADS,
    VaultBackend,
    build,
)
from sealbox.kms.backends.vault._config import (
    AppRoleAuth,
    Config,
    KubernetesAuth,
    TokenAuth,
    VaultAuth,
)

__all__ = [
    "ANNOTATION_VERSION",
    "KIND",
    "THREADS",
    "AppRoleAuth",
    "Config",
    "KubernetesAuth",
    "TokenAuth",
    "VaultAuth",
    "VaultBackend",
    "build",
]
