"""How a backend type plugs into the plugin: its config model, how it is served and rotated.

Each backend subpackage exports a :class:`BackendKind` (``KIND``). It is generic in its config
model, and :meth:`BackendKind.configure` binds a validated config to that kind's functions in a
:class:`ConfiguredBackend`, so code that holds "some backend's config" (plugin.yaml's
``backends``) serves and rotates it without knowing which type it is, and without a cast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from sealbox.errors import InputError
from sealbox.kms.backends.base import Backend, BlockingBackend
from sealbox.kms.backends.settings import BackendSettings
from sealbox.kms.backends.threads import ThreadedBackend

__all__ = ["BackendKind", "BackendType", "Builder", "ConfiguredBackend", "threaded_kind"]

C = TypeVar("C", bound=BackendSettings)
C_in = TypeVar("C_in", bound=BackendSettings, contravariant=True)


@dataclass(frozen=True, slots=True)
class ConfiguredBackend:
    """One validated ``backends`` entry of plugin.yaml, ready to serve (or rotate)."""

    settings: BackendSettings
    serve_with: Callable[[Path], Backend]
    rotate_with: Callable[[Path], str] | None = None

    @property
    def type(self) -> str:
        return self.settings.type

    def serve(self, base_dir: Path) -> Backend:
        """The backend as ``sealbox kms serve`` runs it; relative paths resolve in ``base_dir``.

        Raises:
            ConfigError, BackendRejected, BackendUnavailable: it cannot start (each backend
                documents which).
        """
        return self.serve_with(base_dir)

    @property
    def rotates_here(self) -> bool:
        """False when the KEK rotates in the service that holds it (Vault, AWS KMS)."""
        return self.rotate_with is not None

    def rotate(self, base_dir: Path) -> str:
        """Create a new KEK (``sealbox kms rotate-key``); returns its key_id.

        Raises:
            InputError: this backend's keys rotate in the service that holds them.
        """
        if self.rotate_with is None:
            raise InputError(f"{self.type} keys rotate in {self.type} itself, not here")
        return self.rotate_with(base_dir)


class BackendType(Protocol):
    """What the registry needs of a backend type, whatever its config model."""

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> type[BackendSettings]: ...

    def configure(self, entry: Mapping[str, object]) -> ConfiguredBackend: ...


@dataclass(frozen=True, slots=True)
class BackendKind(Generic[C]):
    """A backend type: its config model, how the plugin serves it, how ``rotate-key`` rotates it.

    ``serve`` and ``rotate`` take the validated config and the directory relative paths in it
    resolve against (plugin.yaml's own).
    """

    name: str
    config: type[C]
    serve: Callable[[C, Path], Backend]
    rotate: Callable[[C, Path], str] | None = None

    def configure(self, entry: Mapping[str, object]) -> ConfiguredBackend:
        """Validate one plugin.yaml entry and bind it to this kind.

        Raises:
            pydantic.ValidationError: the entry breaks the config model (callers turn it into a
                ConfigError with field paths).
        """
        settings = self.config.model_validate(dict(entry))  # ValidationError: see settings.py
        serve, rotate = self.serve, self.rotate
        return ConfiguredBackend(
            settings=settings,
            serve_with=lambda base_dir: serve(settings, base_dir),
            rotate_with=None if rotate is None else (lambda base_dir: rotate(settings, base_dir)),
        )


class Builder(Protocol[C_in]):
    """A backend package's ``build(config, *, base_dir)``: its backend in this process."""

    def __call__(self, config: C_in, *, base_dir: Path) -> BlockingBackend: ...


def threaded_kind(name: str, config: type[C], build: Builder[C], *, threads: int) -> BackendKind[C]:
    """The kind of a backend on a blocking SDK: served as ``build``'s backend on ``threads``
    threads of its own (:class:`~.threads.ThreadedBackend`); its key rotates in its service."""

    def serve(settings: C, base_dir: Path) -> Backend:
        return ThreadedBackend(build(settings, base_dir=base_dir), threads=threads)

    return BackendKind(name=name, config=config, serve=serve)
