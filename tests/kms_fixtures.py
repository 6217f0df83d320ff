"""Plugins for the recorded data: real gRPC servers on unix sockets in a short temp dir.

Unix socket paths are limited to 107 bytes, so sockets go in a fresh ``/tmp/sbx-*`` directory
rather than pytest's (long) ``tmp_path``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sealbox.encryption.config import parse_config
from sealbox.encryption.model import EncryptionConfiguration
from tests.doubles.static_plugin import AESGCMWrapper, Base64Wrapper, StaticKEKPlugin
from tests.vectors import load_json, recorded_path

RECORDED = "kube-apiserver-1.36"
LEGACY = "kube-apiserver-kmsv2-legacy"
RECORDER_ANNOTATIONS = {"recorder.kms.example.io": b"yes"}
LEGACY_ANNOTATIONS = {"local-kek.kms.kubernetes.io": b"encrypted-local-kek"}


@contextmanager
def socket_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sbx-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def recorded_wrapper() -> AESGCMWrapper:
    kms = load_json(RECORDED, "test-kms.json")
    return AESGCMWrapper(kek=bytes.fromhex(kms["kek_hex"]), key_id=kms["key_id"])


@dataclass
class RecordedSetup:
    """The recorded EncryptionConfiguration pointed at live plugins speaking its wrap scheme."""

    config: EncryptionConfiguration
    config_text: str
    v2: StaticKEKPlugin
    v1: StaticKEKPlugin


@contextmanager
def recorded_setup() -> Iterator[RecordedSetup]:
    text = recorded_path(RECORDED, "encryption-config.yaml").read_text(encoding="utf-8")
    with socket_dir() as sockets:
        wrapper = recorded_wrapper()
        v2 = StaticKEKPlugin(str(sockets / "kms2.sock"), wrapper, annotations=RECORDER_ANNOTATIONS)
        v1 = StaticKEKPlugin(str(sockets / "kms1.sock"), wrapper)
        with v2, v1:
            text = text.replace("unix:///var/run/kms/kms2-pub.sock", v2.endpoint)
            text = text.replace("unix:///var/run/kms/kms1-pub.sock", v1.endpoint)
            assert v2.endpoint in text
            assert v1.endpoint in text
            config = parse_config(text, "recorded encryption-config.yaml")
            yield RecordedSetup(config=config, config_text=text, v2=v2, v1=v1)


LEGACY_CONFIG = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - kms:
      apiVersion: v2
      name: kms-provider
      endpoint: {endpoint}
"""


@contextmanager
def legacy_setup() -> Iterator[tuple[EncryptionConfiguration, StaticKEKPlugin]]:
    """Upstream's Base64Plugin (Status version v2beta1, key_id "1") on an abstract socket."""
    with socket_dir() as sockets:
        name = "@" + sockets.name + "-legacy.sock"
        plugin = StaticKEKPlugin(
            name, Base64Wrapper("1"), annotations=LEGACY_ANNOTATIONS, status_version="v2beta1"
        )
        with plugin:
            config = parse_config(LEGACY_CONFIG.format(endpoint=plugin.endpoint), "legacy config")
            yield config, plugin
