"""Providers by name: a store's ``spec.provider`` key to the module that implements it.

Each provider module (``sealbox.sync.providers.<module>``) exports ``open_provider(spec,
context)`` (see :mod:`.base`). Modules are imported only when a store names them, so a controller
whose stores all use OpenBao never imports boto3.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, cast

from sealbox.errors import ConfigError, ConfigIssue
from sealbox.sync.providers.base import OpenProvider, Provider, StoreContext

__all__ = ["PROVIDER_MODULES", "open_provider", "provider_module"]

PROVIDER_MODULES: Mapping[str, str] = {
    "aws": "awssm",
    "kubernetes": "kubernetes",
    "vault": "vault",
}
"""ESO's ``spec.provider`` key to the module under :mod:`sealbox.sync.providers`."""


def provider_module(name: str) -> OpenProvider:
    """The ``open_provider`` of the provider called ``name`` (its module is imported now).

    Raises:
        KeyError: no such provider (see :data:`PROVIDER_MODULES`).
    """
    module = importlib.import_module(f"{__package__}.{PROVIDER_MODULES[name]}")
    return cast(OpenProvider, module.open_provider)


async def open_provider(provider: Mapping[str, Any], context: StoreContext) -> Provider:
    """A client for the store whose ``spec.provider`` is ``provider`` (exactly one key).

    Raises:
        ConfigError: no provider, several, one Sealbox does not implement, or a bad setting
            (issues name the field path, e.g. ``spec.provider.vault.server``).
    """
    names = sorted(provider)
    if len(names) != 1 or names[0] not in PROVIDER_MODULES:
        known = ", ".join(sorted(PROVIDER_MODULES))
        got = ", ".join(names) or "none"
        raise ConfigError(
            context.label,
            [ConfigIssue("spec.provider", f"exactly one of {known} is supported (got {got})")],
        )
    spec = provider[names[0]]
    if not isinstance(spec, Mapping):
        raise ConfigError(
            context.label, [ConfigIssue(f"spec.provider.{names[0]}", "must be an object")]
        )
    return await provider_module(names[0])(spec, context)
