"""The pure half of ``sealbox config loaded``: the file's hash and the apiserver's metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealbox.encryption import (
    LAST_CONFIG_METRIC,
    RELOAD_TIME_METRIC,
    LoadedConfig,
    config_hash,
    expected_hash,
    parse_loaded,
)
from sealbox.errors import InputError

IDENTITY = b"""\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - identity: {}
"""
# What kube-apiserver v1.36.2 reported for IDENTITY in last_config_info's hash label (recorded
# from the real apiserver; tests/conformance/test_hot_reload.py checks it live on every run).
IDENTITY_LABEL = "sha256:1c3f214e34adf8a5c8237497ed67f3312f7fdc7b1244ddc6675b6c272b355f9e"
SERVER = "sha256:73095bbbe8f317654631b5a70d7c53951e472e19c3daa5b71a50958a5e82991b"


def _exposition(*, success: float | None = None, failure: float | None = None) -> str:
    lines = [
        "# HELP apiserver_request_total [STABLE] Counter of apiserver requests.",
        "# TYPE apiserver_request_total counter",
        'apiserver_request_total{code="200",verb="GET"} 12',
        f"# HELP {LAST_CONFIG_METRIC} [ALPHA] Information about the last applied config.",
        f"# TYPE {LAST_CONFIG_METRIC} gauge",
        f'{LAST_CONFIG_METRIC}{{apiserver_id_hash="{SERVER}",hash="{IDENTITY_LABEL}"}} 1',
        f"# HELP {RELOAD_TIME_METRIC} [ALPHA] Timestamp of the last reload.",
        f"# TYPE {RELOAD_TIME_METRIC} gauge",
    ]
    for status, value in (("failure", failure), ("success", success)):
        if value is not None:
            labels = f'apiserver_id_hash="{SERVER}",status="{status}"'
            lines.append(f"{RELOAD_TIME_METRIC}{{{labels}}} {value:.10e}")
    return "\n".join(lines) + "\n"


def test_the_hash_is_kube_apiservers_label() -> None:
    assert config_hash(IDENTITY) == IDENTITY_LABEL


def test_the_hash_is_of_bytes_not_of_meaning() -> None:
    assert config_hash(IDENTITY.replace(b"[secrets]", b"[ secrets ]")) != IDENTITY_LABEL
    assert config_hash(IDENTITY + b"\n") != IDENTITY_LABEL


def test_metrics_give_the_hash_and_the_reload_times() -> None:
    found = parse_loaded(_exposition(success=1764650000.0, failure=1764650060.5))
    assert found == LoadedConfig(
        hashes=(IDENTITY_LABEL,),
        apiserver_id_hash=SERVER,
        last_success=1764650000.0,
        last_failure=1764650060.5,
    )
    assert found.matches(IDENTITY_LABEL)
    assert not found.matches(config_hash(b"other"))


def test_no_reload_yet_means_no_times() -> None:
    found = parse_loaded(_exposition())
    assert found is not None
    assert (found.last_success, found.last_failure) == (None, None)


def test_an_apiserver_without_an_encryption_config_has_no_metric() -> None:
    text = _exposition().split(f"# HELP {LAST_CONFIG_METRIC}")[0]
    assert parse_loaded(text) is None
    assert parse_loaded("") is None


def test_every_reported_hash_must_match() -> None:
    assert not LoadedConfig(hashes=(), apiserver_id_hash="").matches(IDENTITY_LABEL)
    both = LoadedConfig(hashes=(IDENTITY_LABEL, "sha256:00"), apiserver_id_hash=SERVER)
    assert not both.matches(IDENTITY_LABEL)


def test_malformed_metric_lines_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="not Prometheus text"):
        parse_loaded(f'{LAST_CONFIG_METRIC}{{hash="x"}} not-a-number\n')


def test_expected_hash_of_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(IDENTITY)
    assert expected_hash(path) == IDENTITY_LABEL


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (None, "no such file"),
        (b"", "is empty; kube-apiserver refuses an empty file"),
        (b"\xff\xfe", "not UTF-8"),
        (b"kind: EncryptionConfiguration\n", "sealbox config validate"),
    ],
    ids=["missing", "empty", "not-utf8", "invalid"],
)
def test_a_file_no_apiserver_would_load_is_an_input_error(
    tmp_path: Path, content: bytes | None, named: str
) -> None:
    path = tmp_path / "config.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        expected_hash(path)
    assert str(caught.value).startswith(f"FILE {path}: ")
    assert named in str(caught.value)


def test_a_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        expected_hash(tmp_path)
