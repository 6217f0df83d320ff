"""``sealbox etcd decrypt``: export decrypted objects from etcd for disaster recovery.

Objects go to stdout (a YAML stream, or one JSON ``List``) or, with ``--output-dir``, one file per
object, each written whole (temp file + rename, mode 0600, directories 0700). Keys are exported
in key order: on Ctrl-C the command says how many files are complete, where, and the
``--start-after KEY`` that resumes the export into the same directory, then exits 130.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli import etcd_options as shared
from sealbox.cli.io import check_output_dir, private_dir, write_private_file
from sealbox.encryption import load_config
from sealbox.ops import ExportedObject, ExportResult, export_objects, scan_prefixes
from sealbox.render import stderr_console, to_json, to_yaml
from sealbox.words import plural

__all__ = ["ManifestFormat", "decrypt_command"]

INTERRUPTED = 130
"""The exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it."""


class ManifestFormat(StrEnum):
    """How manifests are written: YAML documents, or JSON (a ``List`` on stdout)."""

    yaml = "yaml"
    json = "json"


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
    output: Annotated[
        ManifestFormat,
        typer.Option(
            "--output",
            "-o",
            help="yaml (default: a YAML stream) or json (one v1 List on stdout, a .json file "
            "per object with --output-dir).",
        ),
    ] = ManifestFormat.yaml,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Write one file per object (<resource>/<namespace>/<name>.yaml, mode 0600, "
            "directories 0700), not a stream on stdout. New or empty, unless resuming.",
        ),
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", hidden=True)] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Write into a non-empty --output-dir, replacing files of the same name."
        ),
    ] = False,
    start_after: Annotated[
        str | None, shared.start_after_option("files already written stay as they are")
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
    the rest still export. Exit code 1 when any value failed, 130 when interrupted.

    Examples:

        sealbox etcd decrypt -c encryption-config.yaml --output-dir restored/ \\
            --endpoints https://127.0.0.1:2379 --cacert ca.crt \\
            --cert client.crt --key client.key

        sealbox etcd decrypt -c encryption-config.yaml -r secrets -r configmaps \\
            -o json > all.json

    The output contains decrypted Secrets: keep it off shared disks and delete it after use.
    """
    prefixes = scan_prefixes(etcd.prefix, shared.split_resources(resource))
    directory = shared.aliased("--output-dir", output_dir, "--out-dir", out_dir)
    if directory is not None:
        check_output_dir("--output-dir", directory, reuse=force or start_after is not None)
    encryption = load_config(config)
    result = ExportResult()
    with shared.open_etcd(etcd, encryption) as (client, transformers):
        objects = export_objects(
            client,
            prefixes,
            transformers,
            result,
            etcd_prefix=etcd.prefix,
            keep_metadata=keep_metadata,
            start_after=start_after,
        )
        try:
            with shared.progress_bar(client, prefixes, "decrypting") as advance:
                _export(_progress(objects, result, advance), output, directory)
        except KeyboardInterrupt:
            _report(result, directory)
            _say_how_to_resume(result, directory)
            raise typer.Exit(INTERRUPTED) from None
    _report(result, directory)
    if not (result.exported or result.failures):
        shared.warn_no_keys([prefix.decode() for prefix in prefixes])
    if result.failed:
        raise typer.Exit(1)


def _progress(
    objects: Iterator[ExportedObject], result: ExportResult, advance: Callable[[int], None] | None
) -> Iterator[ExportedObject]:
    """``objects``, moving the bar by every key settled (exported, failed or skipped)."""
    if advance is None:
        yield from objects
        return
    shown = 0
    for item in objects:
        settled = result.exported + len(result.failures) + 1
        advance(settled - shown)
        shown = settled
        yield item


def _export(objects: Iterator[ExportedObject], fmt: ManifestFormat, directory: Path | None) -> None:
    if directory is not None:
        _write_files(objects, fmt, directory)
    elif fmt is ManifestFormat.json:
        _stream_json_list(objects)
    else:
        for item in objects:
            sys.stdout.write("---\n" + to_yaml(item.manifest))
    sys.stdout.flush()


def _stream_json_list(objects: Iterator[ExportedObject]) -> None:
    """One ``v1 List`` (``kubectl apply -f`` takes it), written object by object."""
    out = sys.stdout
    out.write('{\n  "apiVersion": "v1",\n  "kind": "List",\n  "items": [')
    for index, item in enumerate(objects):
        out.write(("," if index else "") + "\n    " + json.dumps(item.manifest))
    out.write("\n  ]\n}\n")


def _write_files(objects: Iterator[ExportedObject], fmt: ManifestFormat, root: Path) -> None:
    made: set[Path] = set()  # created with the first object: a failed run leaves no tree
    for item in objects:
        directory = root / (item.resource or "other") / (item.namespace or "_cluster")
        if directory not in made:
            if not made:
                private_dir("--output-dir", root)
            private_dir("--output-dir", directory)
            made.add(directory)
        text = (
            to_json(item.manifest) + "\n" if fmt is ManifestFormat.json else to_yaml(item.manifest)
        )
        write_private_file(directory / f"{item.name}.{fmt.value}", text.encode())


def _report(result: ExportResult, directory: Path | None) -> None:
    console = stderr_console()
    where = f" to {directory}" if directory is not None else ""
    console.print(
        f"exported {plural(result.exported, 'object')}{where}; {len(result.failed)} failed; "
        f"{len(result.skipped)} skipped",
        markup=False,
        highlight=False,
    )
    for failure in result.failures:
        label = "skipped" if failure.skipped else "failed"
        console.print(f"  {label} {failure.key}: {failure.reason}", markup=False, highlight=False)


def _say_how_to_resume(result: ExportResult, directory: Path | None) -> None:
    console = stderr_console()
    if result.last_key is None:
        console.print("interrupted before any key was done: run the same command again")
        return
    if directory is not None:
        done = f"every file written is complete; the last key done is {result.last_key}"
    else:
        done = f"stdout holds every object up to {result.last_key}"
    console.print(
        f"interrupted: {done}. To resume, run the same command with "
        f"--start-after {result.last_key}",
        markup=False,
        highlight=False,
    )
