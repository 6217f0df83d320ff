"""No plaintext, key or seed reaches a log record, an error message or a repr."""

from __future__ import annotations

import base64
import logging
import os

import pytest

from sealbox.encryption.chain import ProviderChain
from sealbox.encryption.envelope import KMSv2Provider
from sealbox.encryption.model import KMSConfiguration
from sealbox.encryption.provider import Provider
from sealbox.encryption.static import StaticKey, aescbc, aesgcm, secretbox
from sealbox.errors import SealboxError
from tests.doubles.kms_services import FakeKMSv2

SECRET = b"hunter2-very-secret-password"
KEY = "/registry/secrets/default/leak"


def _needles(*materials: bytes) -> list[str]:
    out = [SECRET.decode(), base64.b64encode(SECRET).decode()]
    for material in materials:
        out += [material.hex(), base64.b64encode(material).decode(), repr(material)]
    return out


def test_failures_and_reprs_leak_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    keys = {kind: os.urandom(32) for kind in ("aesgcm", "aescbc", "secretbox")}
    service = FakeKMSv2()
    kms = KMSv2Provider(
        KMSConfiguration(name="kms", endpoint="unix:///x", api_version="v2"), lambda: service
    )
    providers: list[Provider] = [
        aesgcm([StaticKey("k", keys["aesgcm"])]),
        aescbc([StaticKey("k", keys["aescbc"])]),
        secretbox([StaticKey("k", keys["secretbox"])]),
        kms,
    ]
    texts: list[str] = []
    for provider in providers:
        chain = ProviderChain([provider])
        value = chain.write(KEY, SECRET)
        texts.append(repr(chain.read(KEY, value)))
        for broken in (value[:-3], value[:-1] + bytes([value[-1] ^ 1]), value + b"x"):
            try:
                chain.read("/registry/secrets/default/other", broken)
            except SealboxError as exc:
                texts.append(str(exc))
    seed = kms._write_state().seed
    texts.append(repr(kms._write_state()))
    texts.append(repr(StaticKey("k", keys["aesgcm"])))
    texts.extend(record.getMessage() for record in caplog.records)
    joined = "\n".join(texts)
    assert "could not be decrypted" in joined  # the failures above were really exercised
    for needle in _needles(seed, *keys.values(), *service.keks.values()):
        assert needle not in joined
