"""Which inputs make up one cluster, and which namespace their namespace-less objects land in.

RBAC is resolved inside one cluster only: a binding finds its role by name, so two unrelated
projects that both define kubebuilder's ``manager-role`` must not lend each other rules. The
inputs are split into *cluster roots*:

* each ``--cluster-root DIR`` given: a file belongs to the deepest one that contains it;
* otherwise each *entry kustomization*: a directory with a ``kustomization.yaml`` (``.yml``,
  ``Kustomization``) that no other kustomization of the inputs names in ``resources``,
  ``bases`` or ``components``. Its cluster is every file it includes, following those entries
  through the kustomizations they name, as ``kustomize build`` would. A base included by two
  overlays is in both clusters.

Every input in no cluster root (plain manifests, stdin, files no kustomization includes) is
one more cluster together, so a tree without kustomizations is one cluster, as before.

Namespaces (:class:`~sealbox.audit.rbac.namespaces.Namespaces`): a file a kustomization
includes takes the ``namespace:`` of the outermost kustomization on the way that sets one (an
overlay's namespace replaces its base's); any other file takes the ``namespace:`` of the
nearest kustomization in a directory above it, up to the scanned directory; then
``--namespace``. A kustomization that cannot be read counts as none; its manifests are still
audited as plain files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import yaml

from sealbox.audit.model import Manifest
from sealbox.audit.rbac.namespaces import Namespaces

__all__ = ["KUSTOMIZATION_FILES", "Cluster", "split_clusters"]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_REFERENCE_FIELDS = ("resources", "bases", "components")


@dataclass(frozen=True, slots=True)
class Cluster:
    """One cluster's manifests and where their namespace-less objects land.

    ``root`` names it: the cluster-root directory or entry kustomization directory, or ``""``
    for the inputs in no cluster root.
    """

    root: str
    manifests: tuple[Manifest, ...]
    namespaces: Namespaces


@dataclass(slots=True)
class _Kustomization:
    namespace: str | None
    references: list[str] = field(default_factory=list)


# Paths are absolute, normalised strings (no symlink resolution: a kustomization names its
# resources relative to where it is written, and string work keeps large trees fast).
def _absolute(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def _parent(path: str) -> str:
    return os.path.dirname(path)


def _read_kustomization(directory: str) -> _Kustomization | None:
    for name in KUSTOMIZATION_FILES:
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8-sig") as stream:
                body = yaml.safe_load(stream)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return None
        if not isinstance(body, Mapping):
            return None
        raw = body.get("namespace")
        found = _Kustomization(raw if isinstance(raw, str) and raw else None)
        for key in _REFERENCE_FIELDS:
            entries = body.get(key)
            for entry in entries if isinstance(entries, list) else ():
                if isinstance(entry, str) and "://" not in entry:
                    found.references.append(_absolute(os.path.join(directory, entry)))
        return found
    return None


def _scan_dirs(scan_roots: Sequence[str]) -> list[str]:
    return [_absolute(raw) for raw in scan_roots if raw != "-" and os.path.isdir(raw)]


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _top(path: str, tops: Sequence[str]) -> str | None:
    return next((t for t in tops if _within(path, t)), None)


def _directories(files: Iterable[str], tops: Sequence[str]) -> set[str]:
    """Every directory holding an input file, and those above it up to its scanned directory."""
    found: set[str] = set()
    for file in files:
        top = _top(file, tops)
        directory = _parent(file)
        while directory not in found:
            found.add(directory)
            if top is None or directory == top or _parent(directory) == directory:
                break
            directory = _parent(directory)
    return found


def _kustomization_dirs(tops: Sequence[str]) -> set[str]:
    """Directories of the scanned trees with a kustomization (an overlay may hold nothing else;
    hidden directories are skipped, as the loader skips them)."""
    found: set[str] = set()
    for top in tops:
        for directory, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            if any(name in filenames for name in KUSTOMIZATION_FILES):
                found.add(_absolute(directory))
    return found


class _Layout:
    """The kustomizations among the inputs, what each includes, and the namespaces given."""

    def __init__(self, files: Iterable[str], tops: Sequence[str]) -> None:
        self._tops = tops
        self._nearest: dict[str, str | None] = {}
        self.kustomizations: dict[str, _Kustomization] = {}
        for directory in sorted(_directories(files, tops) | _kustomization_dirs(tops)):
            found = _read_kustomization(directory)
            if found is not None:
                self.kustomizations[directory] = found
        referenced = {r for k in self.kustomizations.values() for r in k.references}
        self.entries = [d for d in self.kustomizations if d not in referenced]

    def included(self, entry: str) -> dict[str, str | None]:
        """Files an entry kustomization includes, each with the namespace it lands in."""
        files: dict[str, str | None] = {}
        seen: set[str] = set()

        def visit(directory: str, namespace: str | None) -> None:
            if directory in seen:
                return
            seen.add(directory)
            kustomization = self.kustomizations[directory]
            namespace = namespace or kustomization.namespace
            for reference in kustomization.references:
                if reference in self.kustomizations:
                    visit(reference, namespace)
                else:
                    files.setdefault(reference, namespace)

        visit(entry, None)
        return files

    def nearest_namespace(self, file: str) -> str | None:
        """The ``namespace:`` of the nearest kustomization above ``file`` (scanned tree only)."""
        if not self.kustomizations:
            return None
        return self._namespace_above(_parent(file), _top(file, self._tops))

    def _namespace_above(self, directory: str, top: str | None) -> str | None:
        if directory in self._nearest:
            return self._nearest[directory]
        found = self.kustomizations.get(directory)
        if found is not None and found.namespace:
            namespace: str | None = found.namespace
        elif top is None or directory == top or _parent(directory) == directory:
            namespace = None
        else:
            namespace = self._namespace_above(_parent(directory), top)
        self._nearest[directory] = namespace
        return namespace


def _file_paths(manifests: Sequence[Manifest]) -> dict[str, str]:
    """Each file path the manifests carry (stdin has none), made absolute once."""
    out: dict[str, str] = {}
    for manifest in manifests:
        raw = manifest.location.path
        if raw not in out and os.path.isfile(raw):
            out[raw] = _absolute(raw)
    return out


def split_clusters(
    manifests: Sequence[Manifest],
    scan_roots: Sequence[str] = (),
    cluster_roots: Sequence[str] = (),
    namespace: str | None = None,
) -> list[Cluster]:
    """The clusters of the inputs (see the module docstring), in a stable order.

    ``scan_roots`` are the paths scanned: kustomizations are looked for in every directory
    under them. Without them only the directories holding input files are searched, so an
    entry kustomization whose directory holds no manifest of its own (kubebuilder's
    ``config/default``, an overlay) is not found: pass them.
    """
    paths = _file_paths(manifests)
    files = set(paths.values())
    layout = _Layout(files, _scan_dirs(scan_roots))
    groups: list[tuple[str, dict[str, str | None]]] = []
    if cluster_roots:
        roots = sorted({_absolute(r) for r in cluster_roots}, key=len, reverse=True)
        members: dict[str, dict[str, str | None]] = {}
        for file in sorted(files):
            root = next((r for r in roots if _within(file, r)), None)
            if root is not None:
                members.setdefault(root, {})[file] = layout.nearest_namespace(file)
        groups = [(str(root), members[root]) for root in sorted(members)]
    else:
        for entry in layout.entries:
            included = {f: ns for f, ns in layout.included(entry).items() if f in files}
            if included:
                groups.append((str(entry), included))
    claimed = {f for _, chosen in groups for f in chosen}
    claimed |= {f for f in files if os.path.basename(f) in KUSTOMIZATION_FILES}  # no RBAC
    by_file: dict[str, list[Manifest]] = {}  # in input order
    unnamed: list[Manifest] = []
    for manifest in manifests:
        where = paths.get(manifest.location.path)
        if where is None:
            unnamed.append(manifest)
        else:
            by_file.setdefault(where, []).append(manifest)
    clusters = [_cluster(root, chosen, by_file, paths, namespace) for root, chosen in groups]
    if len(claimed) < len(files) or unnamed or not clusters:
        loose = {f: layout.nearest_namespace(f) for f in files if f not in claimed}
        rest = _cluster("", loose, by_file, paths, namespace)
        clusters.append(Cluster("", rest.manifests + tuple(unnamed), rest.namespaces))
    return [c for c in clusters if c.manifests] or clusters[-1:]


def _cluster(
    root: str,
    chosen: Mapping[str, str | None],
    by_file: Mapping[str, list[Manifest]],
    paths: Mapping[str, str],
    fallback: str | None,
) -> Cluster:
    """The manifests of the ``chosen`` files, in input order, with their namespaces."""
    members = tuple(m for file, group in by_file.items() if file in chosen for m in group)
    namespaces: dict[str, str] = {}
    for raw, path in paths.items():
        found = chosen.get(path)
        if found:
            namespaces[raw] = found
    return Cluster(root, members, Namespaces(namespaces, fallback))
