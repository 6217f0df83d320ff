"""The work of the ``reencrypt`` and ``verify`` stages of a rotation run.

``reencrypt``: every object of the rotated resources written again with the new key, through
the API (:func:`~.reencrypt.reencrypt_via_api`) or, given etcd, rewrapped in etcd with
compare-and-swap (``sealbox etcd rewrap``). ``verify``: no stored value under a key the final
file no longer has (an etcd scan), or every object read through every apiserver. A KMS v2 KEK
rotation retires no key of the file: its etcd scan decrypts every value and counts those of the
rotated provider still under another key_id than the plugin's current one. Each raises
:class:`~sealbox.errors.RotationBlocked` when it fails, so the stage stays undone and a rerun
resumes there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from lightkube.config.kubeconfig import SingleConfig

from sealbox.encryption import EncryptionConfiguration, parse_config
from sealbox.errors import RotationBlocked
from sealbox.kube import async_client
from sealbox.rotate.kek import kek_check
from sealbox.rotate.reencrypt import ReencryptProgress, reencrypt_via_api
from sealbox.rotate.run import Run
from sealbox.rotate.verify import (
    ApiVerifyResult,
    KekCheck,
    StoredKey,
    VerifyResult,
    verify_api,
    verify_etcd,
)
from sealbox.storage import KeyValueReader

__all__ = ["reencrypt_stage", "verify_stage"]


def _covered(run: Run) -> tuple[EncryptionConfiguration, list[str]]:
    """The config now in force and the resources the plan rotates (kept in the state)."""
    path = run.config_path
    config = parse_config(path.read_text(encoding="utf-8"), str(path), reload=True)
    return config, list(run.state.resources)


async def reencrypt_stage(run: Run) -> dict[str, Any]:
    config, resources = _covered(run)
    if run.etcd is not None:
        return await asyncio.to_thread(_rewrap, run, config)

    def progress(snapshot: ReencryptProgress) -> None:
        run.report(
            f"stage reencrypt: {snapshot.done}/{snapshot.listed} objects "
            f"({snapshot.resources_done}/{snapshot.resources_total} resources): "
            f"rewritten {snapshot.rewritten}, conflicts {snapshot.conflicts}, "
            f"gone {snapshot.gone}, failed {snapshot.failed}"
        )

    client = async_client(run.kube)
    try:
        result = await reencrypt_via_api(
            client, resources, concurrency=run.concurrency, qps=run.qps, progress=progress
        )
    finally:
        await client.close()
    if not result.ok:
        raise RotationBlocked(_failed_text("re-encrypted", result.failed))
    return result.as_dict()


def _rewrap(run: Run, config: EncryptionConfiguration) -> dict[str, Any]:
    """Offline re-encryption: every stale value in etcd, compare-and-swap (never a lost write)."""
    from sealbox.encryption import StorageTransformers
    from sealbox.kms.client import GrpcConnector
    from sealbox.ops import RewrapOptions, RewrapSummary, config_prefixes, rewrap
    from sealbox.storage.etcd import EtcdClient

    assert run.etcd is not None
    prefixes = config_prefixes(config, run.etcd.prefix)
    summary = RewrapSummary(dry_run=False)
    options = RewrapOptions(dry_run=False, etcd_prefix=run.etcd.prefix)
    with EtcdClient(run.etcd.config) as client, GrpcConnector() as connector:
        transformers = StorageTransformers(config, connector, etcd_prefix=run.etcd.prefix)
        rewrap(client, prefixes, transformers, options, summary=summary)
    run.report(
        f"stage reencrypt: etcd: examined {summary.examined}, rewrote {summary.rewritten}, "
        f"already current {summary.current}, conflicts retried {summary.conflicts}, "
        f"failed {len(summary.failed)}"
    )
    if summary.failed:
        raise RotationBlocked(_failed_text("rewrapped", [key for key, _ in summary.failed]))
    return summary.as_dict()


def _stored_keys(config: EncryptionConfiguration) -> set[StoredKey]:
    """Every ``(provider, key name)`` a value written under ``config``'s encrypting entries can
    carry in its stored prefix."""
    found: set[StoredKey] = set()
    for entry in config.resources:
        if entry.providers[0].type == "identity":
            continue
        for provider in entry.providers:
            if provider.kms is not None:
                found.add((f"kms-{provider.kms.api_version}", provider.kms.name))
            elif provider.type != "identity":
                found.update((provider.type, key.name) for key in provider.keys)
    return found


async def verify_stage(run: Run) -> dict[str, Any]:
    """Nothing may still need the old keys: an etcd scan for them (for a KEK rotation, for the
    plugin's previous key_ids), else a read of every object through every apiserver. Raises
    RotationBlocked (the stage stays undone) when it fails."""
    config, resources = _covered(run)
    final = run.state.stage_files.get("remove")
    after = (
        parse_config(Path(final).read_text(encoding="utf-8"), final, reload=True)
        if final is not None
        else config
    )
    old = _stored_keys(config) - _stored_keys(after)
    if run.etcd is not None:
        access = run.etcd
        kek = await asyncio.to_thread(kek_check, run.config_path, run.state)

        def scan_etcd() -> VerifyResult:
            from sealbox.storage.etcd import EtcdClient

            with EtcdClient(access.config) as client:
                if kek is None:
                    return verify_etcd(client, config, resources, old, etcd_prefix=access.prefix)
                return _verify_kek(client, config, resources, kek, access.prefix)

        result: VerifyResult | ApiVerifyResult = await asyncio.to_thread(scan_etcd)
    else:
        clients = [async_client(_at(run.kube, url)) for url in run.urls]
        try:
            result = await verify_api(clients, resources, concurrency=run.concurrency, qps=run.qps)
        finally:
            for client in clients:
                await client.close()
    run.report(f"stage verify: {result.summary()}")
    if not result.passed:
        raise RotationBlocked(
            f"verify failed, so the old key stays: {result.summary()}; rerun sealbox rotate "
            "apply (it re-encrypts nothing twice and verifies again)"
        )
    if isinstance(result, VerifyResult):
        return result.as_dict()
    return {
        "passed": True,
        "read": {server.url: sum(server.read.values()) for server in result.servers},
    }


def _verify_kek(
    client: KeyValueReader,
    config: EncryptionConfiguration,
    resources: Sequence[str],
    kek: KekCheck,
    etcd_prefix: str,
) -> VerifyResult:
    """The etcd scan of a KEK rotation: every value decrypted (the plugin is asked), those of
    ``kek.provider`` under another key_id than its current one counted as remaining."""
    from sealbox.encryption import StorageTransformers
    from sealbox.kms.client import GrpcConnector

    with GrpcConnector() as connector:
        transformers = StorageTransformers(config, connector, etcd_prefix=etcd_prefix)
        return verify_etcd(
            client,
            config,
            resources,
            (),
            etcd_prefix=etcd_prefix,
            transformers=transformers,
            kek=kek,
        )


def _at(config: SingleConfig, url: str) -> SingleConfig:
    """``config`` aimed at one apiserver (its credentials and CA, another server URL)."""
    return config._replace(cluster=msgspec.structs.replace(config.cluster, server=url))


def _failed_text(verb: str, names: Sequence[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"{len(names)} object(s) could not be {verb}: {shown}; fix them and run "
        "sealbox rotate apply again (it resumes at this stage)"
    )
