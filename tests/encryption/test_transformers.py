"""From a config and an etcd key to the apiserver's chain for that resource."""

from __future__ import annotations

import base64
import os

from sealbox.encryption.config import parse_config
from sealbox.encryption.transformers import StorageTransformers
from tests.doubles.kms_services import FakeConnector

PLAIN = b"k8s\x00 a serialized object"


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _config(body: str) -> str:
    return (
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n" + body
    )


def test_resource_listed_in_two_entries_gets_both_chains_appended() -> None:
    """config.go appends the providers of every entry naming the same resource."""
    gcm, box = _key(), _key()
    text = _config(
        "- resources: [secrets]\n  providers:\n"
        f"  - aesgcm: {{keys: [{{name: g, secret: {gcm}}}]}}\n"
        f"- resources: [secrets, configmaps]\n  providers:\n"
        f"  - secretbox: {{keys: [{{name: b, secret: {box}}}]}}\n"
    )
    config = parse_config(text, "two-entries")
    transformers = StorageTransformers(config, FakeConnector())
    key = "/registry/secrets/default/s"
    assert [p.name for p in transformers.chain_for("secrets").providers] == ["aesgcm", "secretbox"]
    written_by_box = transformers.write("/registry/configmaps/default/c", PLAIN)
    result = transformers.read("/registry/configmaps/default/c", written_by_box)
    assert (result.provider, result.stale) == ("secretbox", False)
    # The same secretbox value under a secrets key is readable through the appended chain, stale.
    moved = transformers.read(key, written_by_box)
    assert (moved.provider, moved.stale) == ("secretbox", True)


def test_uncovered_resources_are_plaintext_and_wildcards_apply() -> None:
    text = _config(
        "- resources: ['*.apps']\n  providers:\n"
        f"  - aesgcm: {{keys: [{{name: g, secret: {_key()}}}]}}\n"
    )
    transformers = StorageTransformers(parse_config(text, "wild"), FakeConnector())
    assert transformers.write("/registry/secrets/default/s", PLAIN) == PLAIN
    deployment = transformers.write("/registry/deployments/default/d", PLAIN)
    assert deployment.startswith(b"k8s:enc:aesgcm:v1:g:")
    assert transformers.read("/registry/deployments/default/d", deployment).data == PLAIN


def test_a_kms_provider_is_connected_once_for_every_resource() -> None:
    text = _config(
        "- resources: [secrets, configmaps, widgets.example.com]\n  providers:\n"
        "  - kms: {apiVersion: v2, name: one, endpoint: 'unix:///x.sock'}\n"
    )
    connector = FakeConnector()
    transformers = StorageTransformers(parse_config(text, "kms"), connector)
    for key in (
        "/registry/secrets/a/s",
        "/registry/configmaps/a/c",
        "/registry/example.com/widgets/a/w",
    ):
        assert transformers.read(key, transformers.write(key, PLAIN)).data == PLAIN
    assert list(connector.v2_services) == ["one"]
    assert connector.v2_services["one"].calls["Encrypt"] == 1
