"""What every etcd-facing command shares: where etcd is, its client certificate, the etcd prefix,
one way to connect, which resources to walk, and a progress bar for long walks.

A command takes the shared options as one keyword-only parameter, ``etcd: EtcdOptions``, and is
decorated with :func:`with_etcd_options`, which puts ``--endpoints --cacert --cert --key --timeout
--prefix`` in that parameter's place (so ``--help`` lists them where it always did) and hands the
command one :class:`EtcdOptions`. :func:`open_etcd` then opens the client and, given an
EncryptionConfiguration, the KMS connector and the transformers, and closes them again.

Flags renamed to the CLI's conventions (``--output-file``, ``--output-dir``, ``--etcd-key``) keep
their old spelling as a hidden alias; :func:`aliased` reads the pair.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, overload

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sealbox.cli.option_group import option_group
from sealbox.encryption import EncryptionConfiguration, StorageTransformers, load_config
from sealbox.errors import InputError
from sealbox.kms.client import GrpcConnector
from sealbox.render import OutputFormat, stderr_console
from sealbox.storage import DEFAULT_PREFIX, KeyValueReader
from sealbox.storage.etcd import DEFAULT_ENDPOINT, EtcdClient, EtcdConfig, parse_endpoints

__all__ = [
    "EtcdOptions",
    "OutputOption",
    "aliased",
    "open_etcd",
    "progress_bar",
    "resources_option",
    "split_resources",
    "start_after_option",
    "warn_no_keys",
    "with_etcd_options",
]

OutputOption = Annotated[
    OutputFormat, typer.Option("--output", "-o", help="table (default), json or yaml.")
]
"""``-o`` of the commands that print a summary (the default is the table)."""


@dataclass(frozen=True, slots=True)
class EtcdOptions:
    """The shared options' values: where etcd is, how to reach it, the apiserver's prefix.

    Each field's typer option rides in its annotation (typer's ``Annotated`` style), so the
    name, type, flag, default and help of an option are written once, here.
    """

    endpoints: Annotated[
        str,
        typer.Option(
            "--endpoints",
            help="Comma-separated etcd endpoints, e.g. "
            "https://10.0.0.1:2379,https://10.0.0.2:2379.",
        ),
    ] = DEFAULT_ENDPOINT
    cacert: Annotated[
        Path | None, typer.Option("--cacert", help="CA bundle that signed etcd's serving cert.")
    ] = None
    cert: Annotated[
        Path | None,
        typer.Option("--cert", help="Client certificate (control planes require one)."),
    ] = None
    key: Annotated[Path | None, typer.Option("--key", help="Client certificate's private key.")] = (
        None
    )
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds per etcd call and endpoint.")
    ] = 5.0
    prefix: Annotated[str, typer.Option("--prefix", help="The apiserver's --etcd-prefix.")] = (
        DEFAULT_PREFIX
    )

    def config(self) -> EtcdConfig:
        """Raises InputError naming the bad option."""
        return EtcdConfig(
            endpoints=parse_endpoints(self.endpoints),
            cacert=self.cacert,
            cert=self.cert,
            key=self.key,
            timeout_seconds=self.timeout,
        )


with_etcd_options = option_group(EtcdOptions, "etcd")
"""``command`` with its ``etcd: EtcdOptions`` parameter spelled out as the shared options."""


@overload
def open_etcd(
    options: EtcdOptions, encryption: None
) -> AbstractContextManager[tuple[EtcdClient, None]]: ...


@overload
def open_etcd(
    options: EtcdOptions, encryption: Path | EncryptionConfiguration
) -> AbstractContextManager[tuple[EtcdClient, StorageTransformers]]: ...


@contextmanager
def open_etcd(
    options: EtcdOptions, encryption: Path | EncryptionConfiguration | None
) -> Iterator[tuple[EtcdClient, Any]]:  # Any: the overloads above say which
    """The etcd client, and with ``encryption`` (a config, or its file) the transformers that
    read and write values as the apiserver does; both closed on exit.

    The etcd options are checked before a config file is loaded, so a bad flag is reported
    before a bad file (KMS plugins are connected on first use).
    """
    with EtcdClient(options.config()) as client:
        if encryption is None:
            yield client, None
            return
        with GrpcConnector() as connector:
            config = (
                encryption
                if isinstance(encryption, EncryptionConfiguration)
                else load_config(encryption)
            )
            yield client, StorageTransformers(config, connector, etcd_prefix=options.prefix)


_T = TypeVar("_T")


def aliased(flag: str, value: _T | None, alias: str, alias_value: _T | None) -> _T | None:
    """The value of ``flag`` given under its name or under its old, hidden ``alias``.

    Raises:
        InputError: both are given, with different values.
    """
    if value is not None and alias_value is not None and value != alias_value:
        raise InputError(f"{flag} and {alias} (its old name) disagree; give {flag} only")
    return value if value is not None else alias_value


def resources_option(help_text: str) -> Any:
    """The ``--resource``/``-r`` filter (repeatable, comma-separated); each command says what
    it does with it. Read its values with :func:`split_resources`."""
    return typer.Option("--resource", "-r", help=help_text)


def start_after_option(what: str) -> Any:
    """``--start-after KEY``: resume a walk after the last key an interrupted run did."""
    return typer.Option(
        "--start-after",
        metavar="KEY",
        help=f"Resume after this etcd key, as an interrupted run prints it; {what}.",
    )


def split_resources(values: Sequence[str] | None) -> list[str]:
    """``-r secrets -r configmaps,widgets.x.io`` -> each resource once, in order given."""
    return [part.strip() for item in values or () for part in item.split(",") if part.strip()]


@contextmanager
def progress_bar(
    store: KeyValueReader, prefixes: list[bytes], label: str
) -> Iterator[Callable[[int], None] | None]:
    """A bar on stderr when it is a terminal (nothing otherwise); call the result per key."""
    if not sys.stderr.isatty():
        yield None
        return
    total = sum(store.count_prefix(p) for p in prefixes)
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda count: progress.advance(task, count)


def warn_no_keys(prefixes: Sequence[str]) -> None:
    """Say on stderr that these prefixes held no key: a wrong ``--prefix`` looks just like this."""
    if prefixes:
        stderr_console().print(
            f"warning: no keys under {', '.join(prefixes)} (is --prefix the apiserver's "
            "--etcd-prefix?)",
            markup=False,
            highlight=False,
        )
