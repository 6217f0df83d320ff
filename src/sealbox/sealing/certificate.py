"""The sealing certificate: where ``kubeseal`` finds the public key it seals to.

Upstream takes the RSA key of the *first* certificate in a PEM bundle and refuses an expired
one. Its certificates carry KeyUsage "Encipher Only" without keyAgreement, which pyca's
extension parser rejects, so this module reads only the key and the validity, never
``extensions``: an upstream certificate must never crash us.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.errors import SealError

__all__ = ["SealingCertificate", "load_certificate"]


@dataclass(frozen=True, slots=True)
class SealingCertificate:
    """The public half of a sealing key and its validity window (UTC)."""

    public_key: rsa.RSAPublicKey
    not_before: datetime.datetime
    not_after: datetime.datetime

    def expired(self, now: datetime.datetime) -> bool:
        """Whether ``now`` is past NotAfter: kubeseal refuses to seal with such a certificate."""
        return now > self.not_after

    def key_for_sealing(
        self, now: datetime.datetime, source: str = "certificate"
    ) -> rsa.RSAPublicKey:
        """The public key, or :class:`SealError` when the certificate has expired at ``now``."""
        if self.expired(now):
            raise SealError(
                f"{source}: the certificate expired on {self.not_after:%Y-%m-%d %H:%M:%S} UTC;"
                " fetch the controller's current certificate"
            )
        return self.public_key


def load_certificate(pem: bytes, source: str = "certificate") -> SealingCertificate:
    """The first certificate of a PEM bundle; :class:`SealError` (naming ``source``) when there
    is none or its key is not RSA."""
    try:
        certificate = x509.load_pem_x509_certificates(pem)[0]
    except (ValueError, IndexError):
        raise SealError(f"{source}: no PEM certificate found") from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SealError(f"{source}: the certificate's key is not RSA; Sealed Secrets needs RSA")
    return SealingCertificate(
        key, certificate.not_valid_before_utc, certificate.not_valid_after_utc
    )
