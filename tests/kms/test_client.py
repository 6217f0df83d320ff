"""The gRPC edge: endpoints, timeouts, outages and refusals become clear Sealbox errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import grpc
import pytest

from sealbox.encryption.model import KMSConfiguration
from sealbox.errors import BackendUnavailable, DecryptError, InputError, KMSPluginError
from sealbox.kms import grpc_target, socket_path
from sealbox.kms.client import GrpcConnector, KMSv1Client, KMSv2Client
from tests.doubles.static_plugin import AESGCMWrapper, StaticKEKPlugin
from tests.kms_fixtures import socket_dir


@pytest.mark.parametrize(
    ("endpoint", "path", "target"),
    [
        ("unix:///var/run/kms.sock", "/var/run/kms.sock", "unix:///var/run/kms.sock"),
        ("unix:///@kms-plugin", "@kms-plugin", "unix-abstract:kms-plugin"),
        ("unix:/var/run/kms.sock", "/var/run/kms.sock", "unix:///var/run/kms.sock"),
        ("unix://host/var/run/kms.sock", "/var/run/kms.sock", "unix:///var/run/kms.sock"),
    ],
)
def test_endpoints_parse_like_the_apiserver(endpoint: str, path: str, target: str) -> None:
    assert socket_path(endpoint) == path
    assert grpc_target(endpoint) == target


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("tcp://127.0.0.1:80", "unsupported scheme 'tcp'"),
        ("unix:relative.sock", "must be absolute"),
        ("unix:///@", "abstract socket name is empty"),
    ],
)
def test_bad_endpoints_are_named(endpoint: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        socket_path(endpoint)


def _config(endpoint: str, *, timeout: float = 0.3, version: str = "v2") -> KMSConfiguration:
    return KMSConfiguration(
        name="p",
        endpoint=endpoint,
        api_version=version,  # type: ignore[arg-type]
        timeout_seconds=timeout,
    )


@pytest.mark.integration
def test_dead_plugin_is_backend_unavailable_within_the_timeout() -> None:
    with socket_dir() as sockets:
        endpoint = f"unix://{sockets}/nobody-home.sock"
        client = KMSv2Client(_config(endpoint, timeout=0.3))
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match=r"nobody-home\.sock") as caught:
            client.status()
        elapsed = time.monotonic() - started
        client.close()
    assert "'p'" in str(caught.value)
    assert "0.3s" in str(caught.value)
    assert elapsed < 5


@pytest.mark.integration
def test_v2_round_trip_and_refusals_over_the_socket() -> None:
    wrapper = AESGCMWrapper(kek=os.urandom(32), key_id="kid-1")
    with socket_dir() as sockets, StaticKEKPlugin(str(sockets / "p.sock"), wrapper) as plugin:
        mode = os.stat(plugin.socket_path).st_mode & 0o777
        assert mode == 0o600
        with GrpcConnector() as connector:
            client = connector.v2(_config(plugin.endpoint, timeout=2))
            status = client.status()
            assert (status.version, status.healthz, status.key_id) == ("v2", "ok", "kid-1")
            response = client.encrypt(b"\x01" * 32, uid="u-1")
            assert response.key_id == "kid-1"
            plain = client.decrypt(response.ciphertext, uid="u-2", key_id="kid-1", annotations={})
            assert plain == b"\x01" * 32
            with pytest.raises(DecryptError, match="INVALID_ARGUMENT"):
                client.decrypt(b"garbage", uid="u-3", key_id="kid-1", annotations={})
            plugin.fail_with(grpc.StatusCode.UNAVAILABLE)
            with pytest.raises(BackendUnavailable):
                client.status()
            plugin.fail_with(grpc.StatusCode.PERMISSION_DENIED)
            with pytest.raises(KMSPluginError, match="PERMISSION_DENIED"):
                client.status()
            plugin.fail_with(None)
            assert client.status().healthz == "ok"


@pytest.mark.integration
def test_v1_checks_the_version_once() -> None:
    wrapper = AESGCMWrapper(kek=os.urandom(32), key_id="kid-1")
    with socket_dir() as sockets, StaticKEKPlugin(str(sockets / "p.sock"), wrapper) as plugin:
        client = KMSv1Client(_config(plugin.endpoint, timeout=2, version="v1"))
        for _ in range(3):
            assert client.decrypt(client.encrypt(b"dek")) == b"dek"
        client.close()
        assert plugin.calls["Version"] == 1


def test_socket_dir_is_short_enough_for_unix_sockets() -> None:
    with socket_dir() as sockets:
        assert len(str(Path(sockets) / "kms-provider-name.sock")) < 100
