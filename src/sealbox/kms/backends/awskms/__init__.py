"""``awskms``: the KEK is an AWS KMS symmetric key; seeds are wrapped with KMS Encrypt/Decrypt.

::

    primary:
      type: awskms
      keyId: alias/kubernetes-secrets   # key id, key ARN, alias/NAME or alias ARN
      region: eu-west-1
      endpointUrl: https://kms.eu-west-1.amazonaws.com   # optional: VPC endpoint, FIPS, moto
      encryptionContext: {sealbox.io/purpose: kubernetes-kms}   # the default
      timeoutSeconds: 2      # connect and read timeout of one attempt
      maxAttempts: 2         # botocore "standard" retries, first attempt included
                             # (both cut short to fit the deadline of the KMS call served)
      profile: sealbox       # optional shared-config profile (role_arn, credential_process…)

Credentials never come from plugin.yaml: boto3's standard chain finds them (environment, web
identity / IRSA, the shared config ``profile``, container or instance metadata). Role
assumption is a profile with ``role_arn``; botocore refreshes such credentials itself. If no
credentials can be found yet (a metadata proxy that is not up, the pod-identity token file not
written, aws-encryption-provider#39), calls fail with :class:`BackendUnavailable` and the client
is rebuilt (at most once a second) so the plugin recovers without a restart.

**key_id tracks the real key.** The configured ``keyId`` (often an alias) is resolved with
DescribeKey to the key's ARN; the result is cached and refreshed on every
:meth:`AwsKmsBackend.current_key_id` (the plugin's periodic health probe; never per request, and
DescribeKey is a management call outside the cryptographic request quota)::

    key_id      awskms:<key ARN>                           moto, keys without key material ids
    key_id      awskms:<key ARN>#<CurrentKeyMaterialId>    AWS symmetric keys (AWS_KMS, EXTERNAL)

So moving the alias to another key changes key_id (the apiserver re-seeds), and so does AWS
automatic or on-demand rotation of the key's material, unlike aws-encryption-provider whose
key_id is the static configured name. A material id, once seen for an ARN, is kept if a later
DescribeKey omits it, so key_id cannot flap. Encrypt is sent to the cached ARN (never to the
alias), and the ARN AWS reports in the answer must be that ARN, so a key_id always names the key
that really wrapped. A moved alias is picked up at the next refresh. Decrypt passes the ARN from
the key_id as ``KeyId`` (a moved or deleted alias cannot break old data, and AWS refuses to use
any other key) and checks the ARN in the answer. The resolved key must be ``Enabled``,
``ENCRYPT_DECRYPT`` and ``SYMMETRIC_DEFAULT``, else :meth:`current_key_id` and :meth:`wrap`
fail with :class:`BackendRejected` naming its state, which makes the probe report it.

**Ciphertext** is ``0x01 ‖ CiphertextBlob``: one format byte (as aws-encryption-provider does) so
the layout can change later; anything not starting with it is rejected before calling AWS. The
blob itself embeds the key reference. **Annotations**: none; the encryption context is
configuration, never read back from etcd, so an attacker who can write etcd cannot pick it.
The encryption context goes into every Encrypt and Decrypt: key policies can require it
(``kms:EncryptionContext:sealbox.io/purpose``) and CloudTrail logs it. Changing it makes existing
data undecryptable with this backend entry; keep the old context in a ``decryptOnly`` entry.

Errors: connection failures, timeouts, throttling, HTTP 5xx, ``KMSInternalException``,
``KeyUnavailableException``, ``DependencyTimeoutException``, expired tokens and missing
credentials are :class:`BackendUnavailable`; so are ``AccessDeniedException`` and a credential
AWS does not recognize, as :class:`~sealbox.errors.AccessDenied` (the plugin's principal is
refused, not the request), except a Decrypt denied for what the ciphertext names rather than
because the principal "is not authorized" (a tampered key reference: rejected); every other
answer (``InvalidCiphertextException``,
``IncorrectKeyException``, ``DisabledException``, ``NotFoundException``,
``KMSInvalidStateException``…) is :class:`BackendRejected`. Messages name the key, the region
and the endpoint, never credentials, plaintext or ciphertext; a failed Decrypt does not say which
check failed. botocore logs request and response bodies (seeds) at DEBUG, so building this
backend caps the ``botocore`` logger at INFO unless it was set explicitly.

Time: the plugin runs each call under the deadline of the KMS call it serves
(:mod:`sealbox.kms.backends.deadline`). Each attempt then reads for at most the time left, and
botocore does not retry when less than a second is left, so a hung endpoint answers
``BackendUnavailable`` before kube-apiserver gives up (the default 2 s x 2 attempts would not fit
its 3 s).

``endpointUrl`` must be https, except to a loopback address (moto, a local proxy): the seeds
travel in the request body. TLS settings come from the standard ``AWS_CA_BUNDLE`` variable.
The plugin's principal needs ``kms:DescribeKey``, ``kms:Encrypt`` and ``kms:Decrypt`` on the key
(and on every older key it must still decrypt).

Layout: :class:`Config` and its validators are in :mod:`._config`, the mapping of botocore errors
to Backend errors in :mod:`._errors`; :mod:`._backend` holds the backend, the key_id handling and
:func:`build`.
"""

from __future__ import annotations

from sealbox.kms.backends.awskms._backend import (
    FORMAT_V1,
    KEY_ID_PREFIX,
    KIND,
    THREADS,
    AwsKmsBackend,
    build,
    parse_key_id,
)
from sealbox.kms.backends.awskms._config import DEFAULT_ENCRYPTION_CONTEXT, Config

__all__ = [
    "DEFAULT_ENCRYPTION_CONTEXT",
    "FORMAT_V1",
    "KEY_ID_PREFIX",
    "KIND",
    "THREADS",
    "AwsKmsBackend",
    "Config",
    "build",
    "parse_key_id",
]
