"""A KMS v2 key rotation that changes no file: the plugin rotated its KEK, every apiserver must
take up the new key_id before the re-encryption means anything.

When ``--to kms:<name>`` names the KMS v2 provider that already writes, the plan stages no file
(:func:`sealbox.rotate.entries.to_kms`): the key to retire is the plugin's previous KEK, not a
provider. The new key_id is the one the plugin's own Status reports now (``sealbox kms
rotate-key`` or a transit key rotation has moved it); :func:`wait_new_key_id` asks the plugin at
the config's endpoint, then waits until every apiserver reports that key_id's hash on its
``/metrics`` (:func:`sealbox.rotate.gate.wait_kms_key_id`). Its verify stage needs the same
provider and the key_id the plugin reports then (:func:`kek_check`): no value of that provider
may be left under another key_id. Only hashes are ever shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from lightkube.config.kubeconfig import SingleConfig

from sealbox.encryption import parse_config
from sealbox.errors import InputError
from sealbox.kms import key_id_hash
from sealbox.rotate.gate import short_hash, wait_kms_key_id
from sealbox.rotate.state import RotationState
from sealbox.rotate.verify import KekCheck

__all__ = ["kek_check", "kek_provider", "plugin_key_id_hash", "wait_new_key_id"]


def kek_provider(state: RotationState) -> str | None:
    """The KMS v2 provider whose KEK this rotation retires, or None when it rotates a provider
    or a static key (those always stage files; a KEK rotation stages none)."""
    if state.target.startswith("kms:") and not state.stage_files:
        return state.target.removeprefix("kms:")
    return None


def kek_check(config_path: Path, state: RotationState) -> KekCheck | None:
    """What the verify stage of a KEK rotation checks: the provider and the hash of the key_id
    its plugin reports now; None when ``state`` rotates a provider or a static key.

    Raises:
        InputError: the config lists no KMS v2 provider of that name.
        BackendUnavailable: the plugin did not answer.
    """
    provider = kek_provider(state)
    if provider is None:
        return None
    return KekCheck(provider, plugin_key_id_hash(config_path, provider))


def plugin_key_id_hash(config_path: Path, provider: str) -> str:
    """``sha256:<hex>`` of the key_id the plugin of ``provider`` (its endpoint as the config at
    ``config_path`` names it) reports in its Status now.

    Raises:
        InputError: the config lists no KMS v2 provider of that name.
        BackendUnavailable: the plugin did not answer.
    """
    from sealbox.kms.client import GrpcConnector

    config = parse_config(config_path.read_text(encoding="utf-8"), str(config_path), reload=True)
    for entry in config.resources:
        for item in entry.providers:
            if item.kms is not None and item.kms.name == provider and item.kms.api_version == "v2":
                with GrpcConnector() as connector:
                    return key_id_hash(connector.v2(item.kms).status().key_id)
    raise InputError(f"{config_path}: no kms v2 provider named {provider}")


def wait_new_key_id(
    config_path: Path,
    provider: str,
    kube: SingleConfig,
    urls: Sequence[str],
    *,
    timeout: float,
    poll: float,
    report: Callable[[str], None],
) -> str:
    """Wait until every apiserver has taken up the key_id the plugin reports now; its hash.

    Raises:
        RotationBlocked: an apiserver did not take it up within ``timeout`` seconds (named).
    """
    wanted = plugin_key_id_hash(config_path, provider)
    report(
        f"kms provider {provider} reports key_id {short_hash(wanted)}; waiting until every "
        "apiserver has taken it up"
    )
    wait_kms_key_id(
        kube, urls, wanted, timeout=timeout, poll=poll, report=report, provider=provider
    )
    return wanted
