"""File names as a reader wants them: relative to the path that was scanned.

A scan of ``/home/ci/build/repo/deploy`` should say ``apps/web.yaml:12``, not repeat the
checkout's absolute path on every row. With one root, paths are shown relative to it (a root
that is a file is shown by its name). With several, each path is shown relative to its own root,
after that root's name (``charts-a/web.yaml``, ``charts-b/web.yaml``), so that two bundles with
the same layout stay apart; when two roots share a name, the root is written as given instead.
Paths under no root (a file named by ``--encryption-config``, the audit log) and ``<stdin>``
are shown as they are. SARIF does not use this: it has its own base (``%SRCROOT%``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sealbox.audit.model import Finding, Location
from sealbox.words import plural

__all__ = ["PathDisplay", "also_files"]


def also_files(finding: Finding) -> str:
    """``"2 files"``: how many other files hold the same finding (see ``Finding.also``)."""
    return plural(len({where.path for where in finding.also}), "file")


@dataclass(frozen=True, slots=True)
class _Root:
    given: str  # as written on the command line
    base: str  # the absolute, normalised directory paths are taken relative to
    label: str  # what a path is prefixed with when there are several roots ("" for none)
    is_file: bool


class PathDisplay:
    """Turns a file path of the report into the text shown for it."""

    def __init__(self, roots: Sequence[str]) -> None:
        given = [root for root in dict.fromkeys(roots) if root != "-"]
        names = Counter(_name(root) for root in given)
        several = len(given) > 1
        self._roots: list[_Root] = []
        for root in given:
            absolute = os.path.abspath(root)
            is_file = not os.path.isdir(absolute)
            label = ""
            if several:
                label = _name(root) if names[_name(root)] == 1 else os.path.normpath(root)
            base = os.path.dirname(absolute) if is_file else absolute
            self._roots.append(_Root(root, base, label, is_file))
        # the deepest root first: a path under two roots belongs to the nearer one
        self._roots.sort(key=lambda r: len(r.base), reverse=True)

    def root_of(self, path: str) -> str | None:
        """The root (as given) ``path`` was found under, or None."""
        found = self._match(path)
        return found[0].given if found is not None else None

    def __call__(self, path: str) -> str:
        found = self._match(path)
        if found is None:
            return path
        root, relative = found
        if root.is_file and len(self._roots) > 1:
            return relative  # a file given by itself is its own label
        return f"{root.label}/{relative}" if root.label else relative

    def location(self, location: Location) -> str:
        """``file:line`` (just ``file`` when the line is unknown), the file as displayed."""
        shown = self(location.path)
        return f"{shown}:{location.line}" if location.line else shown

    def _match(self, path: str) -> tuple[_Root, str] | None:
        if not self._roots or path.startswith("<"):
            return None
        absolute = os.path.abspath(path)
        for root in self._roots:
            if root.is_file:
                if absolute == os.path.abspath(root.given):
                    return root, os.path.basename(absolute)
                continue
            if absolute == root.base or absolute.startswith(root.base.rstrip(os.sep) + os.sep):
                relative = os.path.relpath(absolute, root.base)
                return root, relative.replace(os.sep, "/")
        return None


def _name(root: str) -> str:
    """The last component of a root (``.`` becomes the working directory's name)."""
    return os.path.basename(os.path.abspath(root)) or os.path.abspath(root)
