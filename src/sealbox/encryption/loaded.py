"""Has a kube-apiserver loaded this EncryptionConfiguration? Answered from its ``/metrics``.

kube-apiserver (``k8s.io/apiserver``'s encryptionconfig package) hashes the bytes of its
``--encryption-provider-config`` file as it read them, SHA-256 over the whole file with nothing
normalised, and reports the hash of the file it last loaded as the ``hash`` label of
``apiserver_encryption_config_controller_last_config_info``, spelled ``sha256:<hex>``. It sets
the metric at start-up and, with ``--encryption-provider-config-automatic-reload``, again each
time a changed file loads. A file that changed but failed to load leaves the old hash and sets
``..._automatic_reload_last_timestamp_seconds{status="failure"}``.

So "this file is loaded" is a byte comparison: :func:`config_hash` of the file must equal the
label. Rewriting the same YAML with other whitespace is another file. Only the pure part lives
here: the HTTP that fetches ``/metrics`` is :mod:`sealbox.kube`'s.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sealbox.encryption.config import lint_config
from sealbox.errors import InputError

__all__ = [
    "LAST_CONFIG_METRIC",
    "RELOAD_TIME_METRIC",
    "LoadedConfig",
    "config_hash",
    "expected_hash",
    "parse_loaded",
]

_PREFIX = "apiserver_encryption_config_controller_"
LAST_CONFIG_METRIC = _PREFIX + "last_config_info"
RELOAD_TIME_METRIC = _PREFIX + "automatic_reload_last_timestamp_seconds"


def config_hash(data: bytes) -> str:
    """The ``hash`` label kube-apiserver reports for a config file holding ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def expected_hash(path: Path) -> str:
    """:func:`config_hash` of the file at ``path``, refusing one no apiserver would load.

    Raises:
        InputError: the file is missing, unreadable, empty (kube-apiserver refuses an empty
            file), not UTF-8, or not a valid EncryptionConfiguration.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"FILE {path}: no such file; give the EncryptionConfiguration") from None
    except IsADirectoryError:
        raise InputError(f"FILE {path}: is a directory; give the EncryptionConfiguration") from None
    except OSError as exc:
        raise InputError(f"FILE {path}: cannot read ({exc.strerror})") from None
    if not data:
        raise InputError(f"FILE {path}: is empty; kube-apiserver refuses an empty file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"FILE {path}: not UTF-8 text; give the EncryptionConfiguration") from None
    report = lint_config(text, str(path))
    if not report.valid:
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        raise InputError(
            f"FILE {path}: {first}{more}; kube-apiserver refuses such a file, so none has "
            f"loaded it (see sealbox config validate {path})"
        )
    return config_hash(data)


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """What one apiserver's ``/metrics`` says it loaded.

    ``hashes`` are the ``hash`` labels of :data:`LAST_CONFIG_METRIC` (one, from a single
    apiserver); ``last_success``/``last_failure`` the Unix times of its last automatic reload
    that worked or failed (None: none yet, or no automatic reload).
    """

    hashes: tuple[str, ...]
    apiserver_id_hash: str
    last_success: float | None = None
    last_failure: float | None = None

    def matches(self, expected: str) -> bool:
        """True only when every hash reported is ``expected``."""
        return bool(self.hashes) and all(found == expected for found in self.hashes)


def parse_loaded(text: str) -> LoadedConfig | None:
    """The encryption-config metrics in a Prometheus text exposition; None when absent.

    Only the lines of the encryption config controller are parsed (an apiserver's ``/metrics``
    is megabytes long). Raises ValueError when those lines are not Prometheus text.
    """
    from prometheus_client.parser import text_string_to_metric_families  # only when asked

    wanted = "\n".join(line for line in text.splitlines() if _PREFIX in line)
    hashes: list[str] = []
    server_ids: list[str] = []
    reloads: dict[str, float] = {}
    try:
        families = list(text_string_to_metric_families(wanted + "\n"))
    except ValueError as exc:
        raise ValueError(f"not Prometheus text ({exc})") from None
    for family in families:
        for sample in family.samples:
            if sample.name == LAST_CONFIG_METRIC and "hash" in sample.labels:
                hashes.append(sample.labels["hash"])
                server_ids.append(sample.labels.get("apiserver_id_hash", ""))
            elif sample.name == RELOAD_TIME_METRIC and "status" in sample.labels:
                status = sample.labels["status"]
                reloads[status] = max(sample.value, reloads.get(status, sample.value))
    if not hashes:
        return None
    return LoadedConfig(
        hashes=tuple(hashes),
        apiserver_id_hash=server_ids[0],
        last_success=reloads.get("success"),
        last_failure=reloads.get("failure"),
    )
