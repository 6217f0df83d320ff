"""The CI gate of a scan: ``--fail-on plaintext|stale|undecryptable``, judged fail-safe.

A gate fails when any object scanned breaks one of its conditions, and also when there was
nothing to judge: a scan that walked a prefix holding no key at all (a wrong ``--prefix``, a
resource with no objects) proves nothing, so it fails unless ``allow_empty`` says an empty
result is expected. :class:`Gate` notes which keys failed while the scan runs (a bounded list:
memory does not grow with the keyspace) and :meth:`Gate.verdict` says PASSED or FAILED, and why,
in one line. Nothing here ever holds a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sealbox.errors import InputError
from sealbox.ops.scan import ScannedObject, ScanSummary

__all__ = ["MAX_LISTED_FAILURES", "FailOn", "Gate", "GateFailure", "Verdict"]

MAX_LISTED_FAILURES = 100
"""How many failing keys a gate remembers to list; the rest are only counted."""


class FailOn(StrEnum):
    """What fails the gate."""

    plaintext = "plaintext"
    stale = "stale"
    undecryptable = "undecryptable"

    @property
    def needs_decryption(self) -> bool:
        """Only a scan that decrypts (``--config``) can tell."""
        return self is not FailOn.plaintext


@dataclass(frozen=True, slots=True)
class GateFailure:
    """A key that failed the gate, the condition it broke and why (never its value)."""

    key: str
    fail_on: FailOn
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "failOn": str(self.fail_on), "reason": self.reason}


def _reason(item: ScannedObject, fail_on: FailOn) -> str | None:
    if fail_on is FailOn.plaintext:
        return "stored in plaintext (identity)" if item.provider == "identity" else None
    if fail_on is FailOn.stale:
        written = f"{item.provider} {item.key_name}".strip()
        return f"written by {written}, not the first provider and key" if item.stale else None
    if item.decryptable is False:
        return item.error or "does not decrypt"
    return None


@dataclass(frozen=True, slots=True)
class Verdict:
    """PASSED or FAILED, the conditions judged and every reason it failed."""

    passed: bool
    fail_on: tuple[FailOn, ...]
    checked: int
    reasons: tuple[str, ...] = ()
    failures: tuple[GateFailure, ...] = ()
    unlisted: int = 0

    def line(self) -> str:
        """``PASSED (--fail-on plaintext): 10 objects checked, 0 plaintext``, or FAILED and why."""
        head = f"{'PASSED' if self.passed else 'FAILED'} (--fail-on {','.join(self.fail_on)})"
        return f"{head}: {'; '.join(self.reasons)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failOn": [str(item) for item in self.fail_on],
            "checked": self.checked,
            "reasons": list(self.reasons),
            "failures": [failure.as_dict() for failure in self.failures],
            "unlistedFailures": self.unlisted,
        }


@dataclass
class Gate:
    """One scan's gate. Call :meth:`check` on every object scanned, then :meth:`verdict`."""

    fail_on: tuple[FailOn, ...]
    allow_empty: bool = False
    failures: list[GateFailure] = field(default_factory=list)
    unlisted: int = 0

    @classmethod
    def of(cls, fail_on: Iterable[FailOn], *, allow_empty: bool, decrypting: bool) -> Gate:
        """A gate on these conditions (each once, in a fixed order).

        Raises:
            InputError: a condition needs decryption and the scan does not decrypt.
        """
        chosen = tuple(item for item in FailOn if item in set(fail_on))
        blind = [str(item) for item in chosen if item.needs_decryption and not decrypting]
        if blind:
            raise InputError(
                f"--fail-on {'/'.join(blind)} needs --config to decrypt the values "
                "(the EncryptionConfiguration the apiserver runs with)"
            )
        return cls(chosen, allow_empty=allow_empty)

    def check(self, item: ScannedObject) -> None:
        if item.provider != "identity" and not item.stale and item.decryptable is not False:
            return  # the common case, on every key: fails nothing
        for fail_on in self.fail_on:
            reason = _reason(item, fail_on)
            if reason is None:
                continue
            if len(self.failures) < MAX_LISTED_FAILURES:
                self.failures.append(GateFailure(item.key, fail_on, reason))
            else:
                self.unlisted += 1

    def verdict(self, summary: ScanSummary) -> Verdict:
        counts = {
            FailOn.plaintext: summary.plaintext,
            FailOn.stale: summary.stale,
            FailOn.undecryptable: summary.undecryptable,
        }
        found = [f"{counts[item]} {item}" for item in self.fail_on]
        checked = f"{summary.total} object{'' if summary.total == 1 else 's'} checked"
        reasons = [f"{checked}, {', '.join(found)}"]
        failed = any(counts[item] for item in self.fail_on)
        empty = summary.empty_prefixes
        if empty:
            nothing = f"no keys under {', '.join(empty)}"
            if self.allow_empty:
                reasons.append(f"{nothing} (allowed by --allow-empty)")
            else:
                reasons.append(
                    f"{nothing}: a gate that checks nothing fails (is --prefix the apiserver's "
                    "--etcd-prefix? pass --allow-empty if an empty result is expected)"
                )
                failed = True
        return Verdict(
            passed=not failed,
            fail_on=self.fail_on,
            checked=summary.total,
            reasons=tuple(reasons),
            failures=tuple(self.failures),
            unlisted=self.unlisted,
        )
