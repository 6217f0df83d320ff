"""One exception tree for every error a user can cause or fix.

::

    SealboxError                     exit 1 unless a subclass says otherwise
    ├── ConfigError                  a config file is unreadable or breaks a rule (exit 2)
    ├── InputError                   an argument, etcd key or input file is unusable (exit 2)
    │   ├── EtcdRequestTooLarge      etcd refused a request for its size: send less
    │   ├── KubeConfigError          no usable kubeconfig, context or in-cluster service account
    │   └── InvalidSealingKey        a sealing key or certificate file is not an RSA key pair
    ├── DecryptError                 stored bytes do not decrypt or do not parse
    ├── ObjectDecodeError            decrypted bytes are not a Kubernetes object Sealbox reads
    ├── EncryptError                 a value cannot be written with the chosen provider
    ├── KMSPluginError               a KMS plugin (or a key backend) broke the KMS API contract
    ├── SealError                    the certificate or the Secret manifest is unusable (exit 2)
    ├── NoSealingKey                 a controller holds no sealing key yet (nothing to seal to)
    ├── RotationBlocked              apiservers still lag behind a rotation's file or key (exit 3)
    ├── UnsealError                  a Sealed Secrets value cannot be opened
    │   ├── SealedValueNotBase64     the text is not standard base64
    │   ├── SealedValueTooShort      fewer bytes than the length prefix promises
    │   ├── NoMatchingKey            no key could decrypt it: wrong key, scope or a tampered value
    │   └── UnsealFailed             a SealedSecret cannot become a Secret; ``reason`` says why
    ├── EtcdError                    etcd answered but refused or failed the request
    │   ├── EtcdCompacted            the snapshot a scan reads was compacted: start again
    │   └── EtcdResponseTooLarge     an answer exceeded the client's size limit
    ├── KubeError                    the Kubernetes API refused or failed a request
    │   ├── KubeConflict             409: the object changed since it was read, or a field conflict
    │   ├── KubeNotFound             404: no such object (or resource)
    │   ├── KubeForbidden            403: RBAC denies the verb on the resource (exit 2)
    │   ├── KubeGone                 410: a watch's resourceVersion is too old: list again
    │   └── KubeUnavailable          429, 5xx or no connection, after the retries (exit 3)
    ├── ProviderError                an external secret store failed a read; names store and key
    │   ├── RemoteKeyMissing         the store has no such key, property or version
    │   ├── ProviderAuthError        the store refused the store's credential (exit 2)
    │   └── ProviderUnavailable      the store is unreachable, slow or failing (exit 3)
    ├── BackendRejected              a key backend refused the request: bad ciphertext, unknown key
    │   └── RequestRefused           the backend refused the request itself (another HTTP 4xx)
    └── BackendUnavailable           a KMS plugin or key backend cannot serve now (exit 3)
        ├── ServerFailed             the backend answered, with a server error (HTTP 429, 5xx)
        ├── PluginUnhealthy          Status asked while the plugin's primary backend is down
        └── AccessDenied             the backend refused the plugin's own credential (exit 2)
            └── CredentialError      a credential file or variable is missing or empty

A key backend's refusal falls on one side of a line. :class:`BackendRejected` blames the request
(a tampered ciphertext, a key_id nobody holds, a key that is disabled): retrying it cannot help
and the plugin stays healthy. :class:`BackendUnavailable` says the plugin cannot serve anybody
right now (the backend is down, slow, sealed, or refuses the plugin's own token, PIN or IAM
permission): a later retry may work, and the plugin is not ready until it does.

Messages name the file, field path or etcd key involved and what would be valid. They never carry
a secret value, key, DEK or seed: a failed decryption says *that* it failed and for which key,
never which cryptographic step rejected it (no oracle). The CLI prints ``error: <message>`` and
exits with ``exit_code``; anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "AccessDenied",
    "BackendRejected",
    "BackendUnavailable",
    "ConfigError",
    "ConfigIssue",
    "CredentialError",
    "DecryptError",
    "EncryptError",
    "EtcdCompacted",
    "EtcdError",
    "EtcdRequestTooLarge",
    "EtcdResponseTooLarge",
    "InputError",
    "InvalidSealingKey",
    "KMSPluginError",
    "KubeConfigError",
    "KubeConflict",
    "KubeError",
    "KubeForbidden",
    "KubeGone",
    "KubeNotFound",
    "KubeUnavailable",
    "NoMatchingKey",
    "NoSealingKey",
    "ObjectDecodeError",
    "PluginUnhealthy",
    "ProviderAuthError",
    "ProviderError",
    "ProviderUnavailable",
    "RemoteKeyMissing",
    "RequestRefused",
    "RotationBlocked",
    "SealError",
    "SealboxError",
    "SealedValueNotBase64",
    "SealedValueTooShort",
    "ServerFailed",
    "UnsealError",
    "UnsealFailed",
]


class SealboxError(Exception):
    """Base of every error Sealbox reports to a user."""

    exit_code: int = 1


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One broken rule: where it is (a field path such as ``resources[0].providers[1]``), why,
    and the 1-based ``line`` of the file it is on when known (0 otherwise)."""

    path: str
    message: str
    line: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(SealboxError):
    """A config file cannot be used; ``issues`` lists every broken rule found.

    One issue reads as one line (``plugin.yaml: socket: an absolute path ...``); several as a
    count followed by one indented line each.
    """

    exit_code = 2

    def __init__(self, source: str, issues: Sequence[ConfigIssue]) -> None:
        self.source = source
        self.issues = tuple(issues)
        if len(self.issues) == 1:
            issue = self.issues[0]
            where = f"{source}:{issue.line}" if issue.line else source
            super().__init__(f"{where}: {issue}")
            return
        lines = "\n".join(
            f"  line {issue.line}: {issue}" if issue.line else f"  {issue}" for issue in self.issues
        )
        super().__init__(f"{source}: {len(self.issues)} errors\n{lines}")


class InputError(SealboxError):
    """An argument, etcd key or input file is unusable."""

    exit_code = 2


class EtcdRequestTooLarge(InputError):
    """etcd (or gRPC) refused a request for its size (``--max-request-bytes``); send less."""


class KubeConfigError(InputError):
    """No usable kubeconfig, context or in-cluster service account; says which was tried."""


class InvalidSealingKey(InputError):
    """A sealing key or certificate (a file, a key Secret) is not an RSA key pair; names where."""


class DecryptError(SealboxError):
    """A stored value cannot be decrypted or decoded. Never says which step failed."""


class ObjectDecodeError(SealboxError):
    """Plaintext stored bytes are not a Kubernetes object this tool can read."""


class EncryptError(SealboxError):
    """A value cannot be encrypted with the configured write provider."""


class KMSPluginError(SealboxError):
    """A KMS plugin (or a key backend) answered outside the KMS API contract: a wrong version,
    key_id or response shape, or bytes the apiserver would reject."""


class SealError(SealboxError):
    """A value cannot be sealed: the certificate holds no RSA key, is not PEM, or has expired,
    or the manifest is not a Secret that can be sealed. Always the user's input: exit 2.

    The message names the certificate source or manifest field; it never carries a value.
    """

    exit_code = 2


class UnsealError(SealboxError):
    """A Sealed Secrets value cannot be opened.

    The subclasses follow the upstream controller's error classes so a status reason can be
    chosen from the type. Messages say *that* a value failed, never which cryptographic step
    rejected it, and never carry plaintext or key material.
    """


class SealedValueNotBase64(UnsealError):
    """An ``encryptedData`` item is not standard base64 (upstream: a per-item base64 error)."""


class SealedValueTooShort(UnsealError):
    """The value is shorter than its 2-byte length prefix says (upstream ``ErrTooShort``)."""


class NoMatchingKey(UnsealError):
    """None of the private keys opens the value (upstream "no key could decrypt secret").

    A key the controller does not hold and a tampered value look the same here, as they do
    upstream: telling them apart would be a decryption oracle. (A value that opens under another
    scope of the same object is told apart, by :class:`UnsealFailed` ``ScopeMismatch``: its author
    knows the scope already.)
    """


class UnsealFailed(UnsealError):
    """A SealedSecret cannot become a Secret. ``reason`` is the status reason code
    (``NoMatchingKey``, ``ScopeMismatch``, ``TemplateError``, ``InvalidSealedSecret``); the message
    names the items that failed, never a value."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class NoSealingKey(SealboxError):
    """The controller holds no sealing key yet, so there is no certificate to serve or seal to."""


class RotationBlocked(SealboxError):
    """A key rotation cannot go on: some apiservers have not loaded its file (or taken up its KMS
    key) in time. ``lagging`` are their URLs; the message names each and why it lags. Running
    the rotation again later resumes at the same gate."""

    exit_code = 3

    def __init__(self, message: str, *, lagging: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.lagging = tuple(lagging)


class EtcdError(SealboxError):
    """etcd answered but refused or failed the request (auth, no space, internal error)."""


class EtcdCompacted(EtcdError):
    """The revision a read was pinned to has been compacted away; start a new snapshot."""


class EtcdResponseTooLarge(EtcdError):
    """An answer was larger than the client accepts (``EtcdConfig.max_response_bytes``)."""


class ProviderError(SealboxError):
    """An external secret store (OpenBao/Vault, AWS Secrets Manager, a Kubernetes Secret...) could
    not serve a sync read.

    ``store`` names the store (``SecretStore team-a/vault``), ``key`` the remote path involved
    (``secret/db#password``; empty for a store-wide failure such as a login). The message never
    carries a value, token or credential. ``retry_after`` is how many seconds the provider will
    itself refuse to try again (its backoff; 0 when a retry may go out at once).
    """

    def __init__(
        self, store: str, message: str, *, key: str = "", retry_after: float = 0.0
    ) -> None:
        super().__init__(f"{store}: {key}: {message}" if key else f"{store}: {message}")
        self.store = store
        self.key = key
        self.retry_after = retry_after


class RemoteKeyMissing(ProviderError):
    """The store has no such key, JSON property or version: the ExternalSecret's deletionPolicy
    applies, and the status says which path is missing."""


class ProviderAuthError(ProviderError):
    """The store refused the store's own credential (a wrong, expired or revoked token, an AppRole
    or Kubernetes login refused, a permission denied on the path). The provider backs off before
    logging in again, so a wrong credential never turns into a login per reconcile."""

    exit_code = 2


class ProviderUnavailable(ProviderError):
    """The store is unreachable, too slow, sealed, rate limiting or failing (5xx); retry later."""

    exit_code = 3


class BackendRejected(SealboxError):
    """A key backend answered and refused the request (tampered ciphertext, unknown key_id, a
    disabled or deleted key).

    Caused by the request or by the state of the key it names, so retrying does not help and it
    must not make the plugin look unhealthy.
    """


class RequestRefused(BackendRejected):
    """The backend refused the request itself (an HTTP 4xx other than 401/403).

    ``status`` is the HTTP status and ``server_message`` the server's trimmed, redacted text.
    """

    def __init__(self, message: str, *, status: int, server_message: str) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message


class BackendUnavailable(SealboxError):
    """A KMS plugin (or a key backend) cannot serve now: unreachable, too slow, failing, or
    refusing the plugin's own credential. Retrying later may work."""

    exit_code = 3


class ServerFailed(BackendUnavailable):
    """The backend answered 429 or 5xx; ``server_message`` is the trimmed, redacted text."""

    def __init__(self, message: str, *, server_message: str) -> None:
        super().__init__(message)
        self.server_message = server_message


class PluginUnhealthy(BackendUnavailable):
    """Status was asked while the plugin's primary backend fails its health probe."""


class AccessDenied(BackendUnavailable):
    """The backend refused the plugin's own credential or permission: a Vault token that is
    invalid, expired, revoked or lacks a capability (HTTP 401/403), a PKCS#11 PIN that was
    rejected or is locked, an AWS principal without access to the key.

    Nothing is wrong with the request, so the plugin answers UNAVAILABLE and is not ready until
    the credential works again. A person running a command fixes their setup: exit 2.
    """

    exit_code = 2


class CredentialError(AccessDenied):
    """A credential source (file or environment variable) is missing or empty.

    ``setting`` is the config field naming the source (``auth.tokenFile``…) and ``detail`` what
    is wrong with it, for a ConfigIssue; the message adds the backend label in front.
    """

    def __init__(self, label: str, setting: str, detail: str) -> None:
        super().__init__(f"{label}: {setting}: {detail}")
        self.setting = setting
        self.detail = detail


class KubeError(SealboxError):
    """The Kubernetes API refused or failed a request: ``status`` is its HTTP code (0 when no
    answer came), ``reason`` its Status reason (``Conflict``, ``NotFound``, ...)."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeConflict(KubeError):
    """409: the object changed since it was read (retry from a fresh read), or server-side
    apply found a field owned by another manager."""


class KubeNotFound(KubeError):
    """404: the object, its namespace or its resource type does not exist."""


class KubeForbidden(KubeError):
    """403: RBAC does not let this user do the verb on the resource; the message names both."""

    exit_code = 2


class KubeGone(KubeError):
    """410: the resourceVersion a watch or a paged list resumes from is too old: list again."""


class KubeUnavailable(KubeError):
    """The apiserver is unreachable, overloaded (429) or failing (5xx), still after retries."""

    exit_code = 3
