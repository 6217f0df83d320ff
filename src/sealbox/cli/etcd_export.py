"""``sealbox etcd decrypt``: export decrypted objects from etcd for disaster recovery."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli import etcd_options as shared
from sealbox.cli.io import write_private_file
from sealbox.errors import InputError
from sealbox.ops import ExportedObject, ExportResult, export_objects, scan_prefixes
from sealbox.render import stderr_console, to_yaml

__all__ = ["decrypt_command"]


@shared.with_etcd_options
def decrypt_command(
    *,
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="The apiserver's EncryptionConfiguration; the KMS plugins it names must be "
            "running.",
        ),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            help="Write one file per object (<resource>/<namespace>/<name>.yaml, mode 0600, "
            "directories 0700) instead of a YAML stream on stdout.",
        ),
    ] = None,
    etcd: shared.EtcdOptions,
    resource: Annotated[
        list[str],
        shared.resources_option("Resources to export (default: secrets)."),
    ] = ["secrets"],  # noqa: B006 - never mutated; typer shows a list default only from a list
    keep_metadata: Annotated[
        bool,
        typer.Option(
            "--keep-metadata",
            help="Keep uid, resourceVersion, managedFields and ownerReferences (dropped by "
            "default so the manifests apply to a new cluster).",
        ),
    ] = False,
) -> None:
    """Decrypt objects stored in etcd (a live member or one restored from a snapshot) into
    manifests ready for kubectl apply. Values that fail to decrypt are listed with the reason;
    the rest still export. Exit code 1 when any value failed.

    Example:

        sealbox etcd decrypt -c encryption-config.yaml --out-dir restored/ \\
            --endpoints https://127.0.0.1:2379 --cacert ca.crt --cert client.crt --key client.key

    The output contains decrypted Secrets: keep it off shared disks and delete it after use.
    """
    resources = shared.split_resources(resource)
    result = ExportResult()
    with shared.open_etcd(etcd, config) as (client, transformers):
        objects = export_objects(
            client,
            scan_prefixes(etcd.prefix, resources),
            transformers,
            result,
            etcd_prefix=etcd.prefix,
            keep_metadata=keep_metadata,
        )
        if out_dir is None:
            _stream(objects)
        else:
            _write_files(objects, out_dir)
    _report(result, out_dir)
    if result.failed:
        raise typer.Exit(1)


def _stream(objects: Iterator[ExportedObject]) -> None:
    for item in objects:
        sys.stdout.write("---\n" + to_yaml(item.manifest))
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
        text = to_yaml(item.manifest)
        write_private_file(str(directory / f"{item.name}.yaml"), text.encode())


def _report(result: ExportResult, out_dir: Path | None) -> None:
    console = stderr_console()
    where = f" to {out_dir}" if out_dir is not None else ""
    console.print(
        f"exported {result.exported} object(s){where}; {len(result.failed)} failed; "
        f"{len(result.skipped)} skipped"
    )
    for failure in result.failures:
        label = "skipped" if failure.skipped else "failed"
        console.print(f"  {label} {failure.key}: {failure.reason}", markup=False, highlight=False)
