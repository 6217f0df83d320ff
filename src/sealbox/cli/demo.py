"""``sealbox demo``: the command only; the walkthrough loads when it runs, not at every start."""

from __future__ import annotations

__all__ = ["demo"]


def demo() -> None:
    """Show Sealbox protecting Secrets in a real etcd, with its own KMS v2 plugin."""
    from sealbox.demo import run_demo

    run_demo()
