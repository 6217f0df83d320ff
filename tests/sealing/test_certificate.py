"""The sealing certificate, above all upstream's own test certificate (see data/README.md)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from sealbox.errors import SealError
from sealbox.sealing import load_certificate, seal

UPSTREAM_CERT = Path(__file__).parent / "data" / "upstream-test-cert.pem"
# TestParseKey in pkg/kubeseal/kubeseal_test.go pins this modulus and exponent.
UPSTREAM_MODULUS = int(
    "7773042548764342976895442254477692132624925995155158372916217959363552529339301932458099426"
    "3619211968404060555480348966914156541729682166059533667217841451266075188669917173806630758"
    "8619202437848899334837760648051656982184646490661921128886671800776058692981991859399404705"
    "9357222252948114248797385862695514026681225243717185375154405684401022012599256114631611448"
    "9790584619004473555404500199919844252843529599558498071305091681357991229687836807924390954"
    "9993116827192901474611239264189340401059113919551426849847211275352102674049634252149163111"
    "5999777423652809925619043507812703446559275644750325805042765186471061677071501112917326453"
    "9916601180015496197511704572337302333577859363821616542698839913819323005648607942125648483"
    "7299169853958601000282124667227789126483641999102102039577368681983584245367307077546423870"
    "4525241546418908434639631162370033672691164354306414271134063690599911473596412667088629137"
    "8689194589644177166301014647353637228648245331501737752851796571555455089895732153618116512"
    "9538808789201530141159181590893764287807749414277289452691723903046140558704697831351834538"
    "7801652610728947929005016715341389922655459052169732149531253673884066698938897423030727556"
    "08685449114438926280862339744991872488262084141163"
)
BEFORE_EXPIRY = datetime.datetime(2027, 6, 1, tzinfo=datetime.UTC)


def test_the_upstream_certificate_parses_without_touching_its_extensions() -> None:
    cert = load_certificate(UPSTREAM_CERT.read_bytes())
    numbers = cert.public_key.public_numbers()
    assert numbers.n == UPSTREAM_MODULUS
    assert numbers.e == 65537
    assert cert.not_before == datetime.datetime(2017, 6, 20, 4, 32, 45, tzinfo=datetime.UTC)
    assert cert.not_after == datetime.datetime(2027, 6, 18, 4, 32, 45, tzinfo=datetime.UTC)


def test_the_upstream_certificate_seals() -> None:
    key = load_certificate(UPSTREAM_CERT.read_bytes()).key_for_sealing(BEFORE_EXPIRY)
    sealed = seal(key, b"sekret", b"myns/mysecret")
    assert sealed[:2] == b"\x02\x00"
    assert len(sealed) == len(b"sekret") + 530


def test_an_expired_certificate_is_refused_for_sealing() -> None:
    cert = load_certificate(UPSTREAM_CERT.read_bytes(), source="cert.pem")
    after = datetime.datetime(2027, 6, 19, tzinfo=datetime.UTC)
    assert cert.expired(after)
    assert not cert.expired(BEFORE_EXPIRY)
    with pytest.raises(SealError, match=r"^cert.pem: the certificate expired on 2027-06-18"):
        cert.key_for_sealing(after, source="cert.pem")


def _self_signed(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, cn: str) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_the_first_certificate_of_a_bundle_is_used(rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    bundle = _self_signed(rsa_keys[2048], "first") + UPSTREAM_CERT.read_bytes()
    assert load_certificate(bundle).public_key.public_numbers() == (
        rsa_keys[2048].public_key().public_numbers()
    )


@pytest.mark.parametrize("kind", ["ec", "garbage", "empty"])
def test_an_unusable_certificate_is_a_seal_error(kind: str) -> None:
    pem = {
        "ec": _self_signed(ec.generate_private_key(ec.SECP256R1()), "ec"),
        "garbage": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "empty": b"",
    }[kind]
    with pytest.raises(SealError, match=r"^ctrl.pem: "):
        load_certificate(pem, source="ctrl.pem")
