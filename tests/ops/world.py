"""A small cluster's worth of stored values for the ops tests, and the configs that read them.

``OLD`` is the config the values were written with (aesgcm key ``old``); ``NEW`` moves Secrets
and ConfigMaps to secretbox key ``new`` and keeps ``old`` readable. Keys are fixed, so any test
can read what another config wrote.
"""

from __future__ import annotations

import base64

from sealbox.encryption import StorageTransformers, parse_config
from sealbox.storage import NewObjectFields, encode_configmap, encode_secret
from tests.doubles.kms_services import FakeConnector
from tests.doubles.memory_kv import MemoryKV

__all__ = [
    "NEW",
    "OLD",
    "configmap_key",
    "plaintext",
    "secret_key",
    "seed",
    "transformers",
]

_GCM = base64.b64encode(bytes(range(32))).decode()
_BOX = base64.b64encode(bytes(range(32, 64))).decode()
OLD = f"""\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets, configmaps]
  providers:
  - aesgcm: {{keys: [{{name: old, secret: "{_GCM}"}}]}}
"""
NEW = f"""\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets, configmaps]
  providers:
  - secretbox: {{keys: [{{name: new, secret: "{_BOX}"}}]}}
  - aesgcm: {{keys: [{{name: old, secret: "{_GCM}"}}]}}
"""


def transformers(config_text: str) -> StorageTransformers:
    return StorageTransformers(parse_config(config_text, "test"), FakeConnector())


def secret_key(index: int, namespace: str = "team-a") -> str:
    return f"/registry/secrets/{namespace}/s{index:03d}"


def configmap_key(index: int, namespace: str = "team-a") -> str:
    return f"/registry/configmaps/{namespace}/c{index:03d}"


def plaintext(key: str, note: str = "original") -> bytes:
    """The serialized object the apiserver would store at ``key`` (a Secret or a ConfigMap);
    the same bytes every time for the same arguments."""
    _, _, resource, namespace, name = key.split("/")
    fields = NewObjectFields(uid=f"uid-{name}", creation_timestamp=1_700_000_000)
    if resource == "configmaps":
        return encode_configmap(name=name, namespace=namespace, data={"note": note}, **fields)
    return encode_secret(name=name, namespace=namespace, data={"note": note.encode()}, **fields)


def seed(store: MemoryKV, keys: list[str], config_text: str = OLD) -> dict[str, bytes]:
    """Write each key's object encrypted with ``config_text``; returns the plaintexts."""
    writer = transformers(config_text)
    written = {}
    for key in keys:
        written[key] = plaintext(key)
        store.put(key.encode(), writer.write(key, written[key]))
    return written
