"""``sealbox demo``: the command only; the walkthrough loads when it runs, not at every start."""

from __future__ import annotations

__all__ = ["demo"]


def demo() -> None:
    """Show Sealbox protecting Secrets in a real etcd, with its own KMS v2 plugin.

    Starts a throwaway etcd and `sealbox kms serve` in a temp dir (Debian's etcd-server must be
    installed), runs the real tools on them, and removes everything at the end. `make run` runs
    it. Example:

        sealbox demo
    """
    from sealbox.demo import run_demo

    run_demo()
