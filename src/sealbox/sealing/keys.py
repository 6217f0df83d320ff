"""A sealing key pair: the RSA private key a controller opens values with, and its certificate.

Generated exactly as the upstream controller generates them (``pkg/crypto/keys.go``), so a key
Sealbox makes is indistinguishable from one upstream made and an upstream key loads here
unchanged: RSA (4096 bits by default), a self-signed certificate with an empty subject unless a
common name is given, a random serial below 2^128, NotBefore now and NotAfter ten years on,
KeyUsage "Encipher Only" (critical), CA:TRUE, sha256WithRSAEncryption.

pyca's KeyUsage builder refuses Encipher Only without keyAgreement, which Go writes, so the
extension is written as its DER bytes; reading never touches ``extensions`` (see
:mod:`.certificate`).

A key is named by its **fingerprint**: the SHA-256 of its public key's SubjectPublicKeyInfo, in
hex. The Sealbox envelope (:mod:`.envelope`) carries it so a controller picks the one key that
opens a value, and inventories and backups use it to say which key is which.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtensionOID

from sealbox.errors import InvalidSealingKey

__all__ = [
    "DEFAULT_KEY_SIZE",
    "DEFAULT_KEY_VALIDITY",
    "SealingKey",
    "generate_key",
    "key_from_pem",
    "public_key_fingerprint",
]

DEFAULT_KEY_SIZE = 4096
DEFAULT_KEY_VALIDITY = datetime.timedelta(hours=87600)  # upstream --key-ttl
_ENCIPHER_ONLY = b"\x03\x02\x00\x01"  # KeyUsage BIT STRING with only encipherOnly (bit 7) set


def public_key_fingerprint(public_key: rsa.RSAPublicKey) -> str:
    """Hex SHA-256 of the SubjectPublicKeyInfo DER: the key id of a sealing key."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True, slots=True, repr=False)
class SealingKey:
    """A private key and the certificate that publishes its public half."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @property
    def fingerprint(self) -> str:
        return public_key_fingerprint(self.public_key)

    @property
    def not_before(self) -> datetime.datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime.datetime:
        return self.certificate.not_valid_after_utc

    @property
    def key_size(self) -> int:
        return self.private_key.key_size

    def private_key_pem(self) -> bytes:
        """PKCS#1 ``RSA PRIVATE KEY`` PEM, as the upstream controller writes ``tls.key``."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def __repr__(self) -> str:
        return (
            f"SealingKey(fingerprint={self.fingerprint[:16]}…, bits={self.key_size}, "
            f"not_before={self.not_before:%Y-%m-%dT%H:%M:%SZ})"
        )


def generate_key(
    *,
    bits: int = DEFAULT_KEY_SIZE,
    common_name: str = "",
    validity: datetime.timedelta = DEFAULT_KEY_VALIDITY,
    now: datetime.datetime | None = None,
) -> SealingKey:
    """A new key pair with a self-signed certificate, as upstream ``--key-size``/``--my-cn``/
    ``--key-ttl`` make them."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    start = (now or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)
    name = x509.Name(
        [x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)] if common_name else []
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(secrets.randbelow(2**128 - 1) + 1)
        .not_valid_before(start)
        .not_valid_after(start + validity)
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, _ENCIPHER_ONLY), critical=True
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False
        )
        .sign(private_key, hashes.SHA256())
    )
    return SealingKey(private_key, certificate)


def key_from_pem(private_pem: bytes, certificate_pem: bytes, *, source: str) -> SealingKey:
    """The key pair in ``tls.key``/``tls.crt`` form (any PEM private key, first certificate).

    Raises :class:`InvalidSealingKey` naming ``source`` when either half is not PEM, the key is
    not RSA, or the certificate publishes a different key (upstream does not check that; a
    mismatched pair would serve a certificate nobody can open values for).
    """
    try:
        private_key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError):
        raise InvalidSealingKey(
            f"{source}: tls.key is not an unencrypted PEM private key"
        ) from None
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise InvalidSealingKey(f"{source}: tls.key is not an RSA key; Sealed Secrets needs RSA")
    try:
        certificate = x509.load_pem_x509_certificates(certificate_pem)[0]
    except (ValueError, IndexError):
        raise InvalidSealingKey(f"{source}: tls.crt holds no PEM certificate") from None
    published = certificate.public_key()
    if not isinstance(published, rsa.RSAPublicKey) or public_key_fingerprint(
        published
    ) != public_key_fingerprint(private_key.public_key()):
        raise InvalidSealingKey(f"{source}: tls.crt does not publish the key in tls.key")
    return SealingKey(private_key, certificate)
