"""``sealbox etcd decrypt``: export decrypted objects from etcd for disaster recovery."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import typer

from sealbox import render
from sealbox.cli.etcd_options import (
    CACERT,
    CERT,
    ENDPOINTS,
    KEY,
    TIMEOUT,
    etcd_config,
    split_resources,
)
from sealbox.cli.io import write_private_file
from sealbox.encryption.config import load_config
from sealbox.encryption.transformers import StorageTransformers
from sealbox.errors import InputError
from sealbox.kms.client import GrpcConnector
from sealbox.ops.export import ExportedObject, ExportResult, export_objects
from sealbox.ops.scan import scan_prefixes
from sealbox.storage.etcd import EtcdClient

__all__ = ["decrypt_command"]


def decrypt_command(
    config: Path = typer.Option(
        ...,
        "--config",
        "-c",
        help="The apiserver's EncryptionConfiguration; the KMS plugins it names must be running.",
    ),
    out_dir: Path | None = typer.Option(
        None,
        "--out-dir",
        help="Write one file per object (<resource>/<namespace>/<name>.yaml, mode 0600, "
        "directories 0700) instead of a YAML stream on stdout.",
    ),
    endpoints: str = ENDPOINTS,
    cacert: Path | None = CACERT,
    cert: Path | None = CERT,
    key: Path | None = KEY,
    timeout: float = TIMEOUT,
    prefix: str = typer.Option("/registry", "--prefix", help="The apiserver's --etcd-prefix."),
    resource: list[str] = typer.Option(
        ["secrets"], "--resource", "-r", help="Resources to export (default: secrets)."
    ),
    keep_metadata: bool = typer.Option(
        False,
        "--keep-metadata",
        help="Keep uid, resourceVersion, managedFields and ownerReferences (dropped by default "
        "so the manifests apply to a new cluster).",
    ),
) -> None:
    """Decrypt objects stored in etcd (a live member or one restored from a snapshot) into
    manifests ready for kubectl apply. Values that fail to decrypt are listed with the reason;
    the rest still export. Exit code 1 when any value failed.

    Example:

        sealbox etcd decrypt -c encryption-config.yaml --out-dir restored/ \\
            --endpoints https://127.0.0.1:2379 --cacert ca.crt --cert client.crt --key client.key

    The output contains decrypted Secrets: keep it off shared disks and delete it after use.
    """
    resources = split_resources(resource)
    result = ExportResult()
    with ExitStack() as stack:
        client = stack.enter_context(EtcdClient(etcd_config(endpoints, cacert, cert, key, timeout)))
        connector = stack.enter_context(GrpcConnector())
        transformers = StorageTransformers(load_config(config), connector, etcd_prefix=prefix)
        objects = export_objects(
            client,
            scan_prefixes(prefix, resources),
            transformers,
            result,
            etcd_prefix=prefix,
            keep_metadata=keep_metadata,
        )
        if out_dir is None:
            _stream(objects)
        else:
            _write_files(objects, out_dir)
    _report(result, out_dir)
    if any(not failure.skipped for failure in result.failures):
        raise typer.Exit(1)


def _stream(objects: Iterator[ExportedObject]) -> None:
    for item in objects:
        sys.stdout.write("---\n" + render.to_yaml(item.manifest))
    sys.stdout.flush()


def _private_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise InputError(f"--out-dir {path}: exists and is not a directory")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _write_files(objects: Iterator[ExportedObject], out_dir: Path) -> None:
    _private_dir(out_dir)
    for item in objects:
        resource_dir = out_dir / (item.resource or "other")
        directory = resource_dir / (item.namespace or "_cluster")
        _private_dir(resource_dir)  # each level 0700: mkdir(parents=True) would use the umask
        _private_dir(directory)
        text = render.to_yaml(item.manifest)
        write_private_file(str(directory / f"{item.name}.yaml"), text.encode())


def _report(result: ExportResult, out_dir: Path | None) -> None:
    console = render.stderr_console()
    failed = [f for f in result.failures if not f.skipped]
    skipped = [f for f in result.failures if f.skipped]
    where = f" to {out_dir}" if out_dir is not None else ""
    console.print(
        f"exported {result.exported} object(s){where}; {len(failed)} failed; {len(skipped)} skipped"
    )
    for failure in result.failures:
        label = "skipped" if failure.skipped else "failed"
        console.print(f"  {label} {failure.key}: {failure.reason}", markup=False, highlight=False)
