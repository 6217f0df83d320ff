"""``sealbox seal inventory DIR``: which key sealed each value in a tree of manifests.

Walks DIR (or one file) for ``.yaml``, ``.yml`` and ``.json`` files (hidden directories such as
``.git`` skipped), finds the SealedSecrets in them and asks :func:`sealbox.sealing.inventory`
about every value. Keys are named by the files they were given in (``--cert``,
``--private-key``), else by fingerprint. A file that does not parse is counted and named on
stderr, never fatal: a repository holds other YAML too. Never reads or prints a value.

Exit code: 0 when every value's key is known; 1 when some value's key is ``unknown`` (no key
given opens it) or the value is ``invalid``, so a CI job can refuse to retire keys; 2 for bad
input.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from sealbox.cli.io import read_input
from sealbox.cli.seal_certs import certificate_pem
from sealbox.errors import InputError
from sealbox.render import OutputFormat, emit, stderr_console, stdout_console, table

__all__ = ["inventory_command"]

_SUFFIXES = (".yaml", ".yml", ".json")


def inventory_command(
    directory: Path = typer.Argument(
        ..., metavar="DIR", help="Directory (searched recursively) or file of manifests."
    ),
    private_key: list[str] | None = typer.Option(
        None,
        "--private-key",
        metavar="FILE[,FILE...]",
        help="Private keys to try on upstream values (PEM, a Secret, a List of Secrets); "
        "repeatable, or comma-separated.",
    ),
    cert: list[str] | None = typer.Option(
        None,
        "--cert",
        metavar="CERT",
        help="Certificates (files or URLs) whose keys name envelope recipients; repeatable.",
    ),
    output_format: OutputFormat = typer.Option(
        OutputFormat.table, "-o", "--output", help="table (default), json or yaml."
    ),
) -> None:
    """List which key sealed each SealedSecret value, so old sealing keys can be retired.

    Sealbox envelope values name their keys; upstream values carry no key id, so they are
    opened by trial with the --private-key keys given (nothing is printed but the key's
    name). A value no key given opens is "unknown"; one that is not a sealed value at all is
    "invalid". The summary counts values per key: a key given that no value needs (0) can be
    retired once every repository and cluster has been inventoried.

    Exit code: 0 when every value's key is known, 1 when some value is unknown or invalid,
    2 for bad input.

    Examples:

        sealbox seal inventory manifests/ --private-key backup-keys.yaml
        sealbox seal inventory . --cert prod.pem --cert recovery.pem -o json
    """
    from sealbox.sealing import (
        KeySet,
        inventory,
        load_certificate,
        public_key_fingerprint,
        read_private_keys,
        summary,
    )

    if not directory.exists():
        raise InputError(f"DIR {directory}: no such file or directory")
    names: dict[str, str] = {}
    keys = []
    for path in _split(private_key):
        found = read_private_keys(read_input(path, "--private-key"), f"--private-key {path}")
        for index, key in enumerate(found):
            label = path if len(found) == 1 else f"{path}#{index + 1}"
            names.setdefault(public_key_fingerprint(key.public_key()), label)
        keys += found
    for each in cert or []:
        pem, source = certificate_pem(each, None, "--cert")
        public = load_certificate(pem, source).public_key
        names.setdefault(public_key_fingerprint(public), each)
    documents, unreadable = _documents(directory)
    records = inventory(documents, KeySet(keys), names)
    per_key = summary(records, names.values())
    base = directory if directory.is_dir() else directory.parent
    if output_format is OutputFormat.table:
        _print_table(records, per_key, base)
    else:
        emit(
            {
                "values": [
                    {
                        "file": _relative(record.source, base),
                        "namespace": record.namespace,
                        "name": record.name,
                        "item": record.item,
                        "format": record.format,
                        "keys": list(record.keys),
                        "fingerprints": list(record.fingerprints),
                    }
                    for record in records
                ],
                "keys": per_key,
                "unreadableFiles": [_relative(str(p), base) for p in unreadable],
            },
            output_format,
        )
    for skipped in unreadable:
        stderr_console().print(
            f"warning: {escape(str(skipped))}: not valid YAML or JSON; skipped", highlight=False
        )
    if any(record.format == "invalid" or "unknown" in record.keys for record in records):
        raise typer.Exit(1)


def _split(values: Sequence[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(_SUFFIXES):
                yield Path(current) / name


def _documents(root: Path) -> tuple[list[tuple[str, Any]], list[Path]]:
    import yaml

    documents: list[tuple[str, Any]] = []
    unreadable = []
    for path in _files(root):
        try:
            text = path.read_text(encoding="utf-8")
            documents += [(str(path), doc) for doc in yaml.safe_load_all(text) if doc is not None]
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            unreadable.append(path)
    return documents, unreadable


def _relative(source: str, base: Path) -> str:
    try:
        return str(Path(source).relative_to(base))
    except ValueError:
        return source


def _print_table(records: Sequence[Any], per_key: dict[str, int], base: Path) -> None:
    console = stdout_console()
    rows = [
        [
            escape(_relative(r.source, base)),
            escape(f"{r.namespace}/{r.name}" if r.namespace else r.name),
            escape(r.item),
            r.format,
            escape(", ".join(r.keys)),
        ]
        for r in records
    ]
    console.print(table("Sealed values", ["FILE", "SEALEDSECRET", "ITEM", "FORMAT", "KEY"], rows))
    key_rows = [[escape(name), count] for name, count in per_key.items()]
    console.print(table("Values per key", ["KEY", "VALUES"], key_rows))
