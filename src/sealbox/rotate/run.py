"""What one run of ``sealbox rotate apply`` carries: how to reach etcd, what it did so far, and
the outcome it reports (:mod:`.apply` runs the stages, :mod:`.work` does their work)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightkube.config.kubeconfig import SingleConfig

from sealbox.rotate.state import RotationState
from sealbox.storage import DEFAULT_PREFIX
from sealbox.storage.etcd import EtcdConfig

__all__ = ["EtcdAccess", "Report", "RotationOutcome", "Run"]

Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class EtcdAccess:
    """How to reach the cluster's etcd directly: with it, ``reencrypt`` rewraps in etcd and
    ``verify`` scans etcd; without it both go through the API."""

    config: EtcdConfig
    prefix: str = DEFAULT_PREFIX


@dataclass(frozen=True, slots=True)
class RotationOutcome:
    """What one run did: the stages it ran and those an earlier run had done, the counts of the
    work stages, the backups it left, and whether it stopped early or found nothing to do."""

    config: Path
    target: str
    apiservers: tuple[str, ...]
    ran: tuple[str, ...]
    skipped: tuple[str, ...]
    backups: tuple[Path, ...]
    reencrypt: dict[str, Any] | None = None
    verify: dict[str, Any] | None = None
    stopped_after: str | None = None
    already_complete: bool = False

    @property
    def complete(self) -> bool:
        return self.stopped_after is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": str(self.config),
            "target": self.target,
            "complete": self.complete,
            "alreadyComplete": self.already_complete,
            "apiservers": list(self.apiservers),
            "ran": list(self.ran),
            "skipped": list(self.skipped),
            "stoppedAfter": self.stopped_after,
            "backups": [str(path) for path in self.backups],
            "reencrypt": self.reencrypt,
            "verify": self.verify,
        }


@dataclass
class Run:
    """One run's collaborators and what it has done so far."""

    config_path: Path
    state: RotationState
    state_file: Path
    kube: SingleConfig
    urls: list[str]
    etcd: EtcdAccess | None
    concurrency: int
    qps: float
    timeout: float
    poll: float
    report: Report
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    reencrypt: dict[str, Any] | None = None
    verify: dict[str, Any] | None = None

    def outcome(
        self, *, stopped_after: str | None = None, already: bool = False
    ) -> RotationOutcome:
        return RotationOutcome(
            config=self.config_path,
            target=self.state.target,
            apiservers=tuple(self.urls),
            ran=tuple(self.ran),
            skipped=tuple(self.skipped),
            backups=tuple(self.backups),
            reencrypt=self.reencrypt,
            verify=self.verify,
            stopped_after=stopped_after,
            already_complete=already,
        )
