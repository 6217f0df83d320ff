"""Finding messages and details for the RBAC controls, built from the path grants they report.

A message reads ``<subject> <what it can do>: <path>``, where the path is readable at a glance,
``subject → binding (line N) → role → rule N (line N, or file:line)``, one per rule used (at most
:data:`_MAX_LINKS`). A ServiceAccount subject whose namespace nothing in the input gave is shown
``(namespace assumed: default)``. Places in the finding's own file (which the report shows) are
given by line, others by their path relative to it. Messages name subjects, bindings, roles,
rules and Secret *names* only. Details carry the same facts as JSON-ready values: subject,
scope, how, the chain of links (and its readable ``path``), restricting ``resourceNames``, the
identities reached (impersonation, tokens) and what the same binding also allows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from sealbox.audit.model import Location
from sealbox.audit.rbac import ALL_SCOPES, Identity, Link, PathGrant

__all__ = ["ARROW", "describe", "path_text"]

_MAX_NAMES = 5
_MAX_LINKS = 3
ARROW = " \u2192 "  # " → "


def path_text(subject: str, link: Link, anchor: str = "") -> str:
    """``subject → binding (line N) → role → rule N (file:line)`` for one link.

    Places in ``anchor`` (the finding's own file, which the report already shows) are given
    by line; others by their path relative to that file's directory.
    """
    binding = link.binding
    name = f"{binding.namespace}/{binding.name}" if binding.namespace else binding.name
    rule = f"rule {link.rule_index}"
    if link.source is not None:
        rule += f" of {link.source}"
    steps = (
        subject,
        f"{binding.kind} {name} {_at(link.binding_location, anchor)}",
        str(link.role),
        f"{rule} {_at(link.rule_location, anchor)}",
    )
    return ARROW.join(steps)


def _at(location: Location, anchor: str) -> str:
    """``(line N)`` in the anchor file, ``(file:N)`` elsewhere, ``(built-in)`` as it is."""
    path = location.path
    if path.startswith("("):
        return path
    if path == anchor:
        return f"(line {location.line})" if location.line else "(this file)"
    if anchor and not anchor.startswith("<") and not path.startswith("<"):
        base = os.path.dirname(os.path.abspath(anchor))
        path = os.path.relpath(os.path.abspath(path), base).replace(os.sep, "/")
    return f"({path}:{location.line})" if location.line else f"({path})"


def _where(scope: str) -> str:
    return "in every namespace" if scope == ALL_SCOPES else f"in namespace {scope}"


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_NAMES])
    more = len(items) - _MAX_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def _what(control_id: str, scope: str, paths: Sequence[PathGrant], reached: Sequence[str]) -> str:
    """The middle of the message: what the subject can do."""
    hows = sorted({p.how for p in paths})
    where, verbs = _where(scope), " and ".join(hows)
    if control_id in ("SBX-301", "SBX-302"):
        return f"can {verbs} every Secret {where}"
    if control_id in ("SBX-303", "SBX-307"):
        names = sorted({n for p in paths if p.names is not None for n in p.names})
        unrestricted = any(p.names is None for p in paths)
        target = "any Secret by name" if unrestricted or not names else f"Secret(s) {_names(names)}"
        return f"can {verbs} {target} {where}"
    if control_id == "SBX-304":
        cards = sorted({w for p in paths for w in p.wildcards})
        return f"reads Secrets {where} through a wildcard rule ({', '.join(cards)})"
    if control_id in ("SBX-305", "SBX-306"):
        return f"has a path to Secret values {where} ({', '.join(hows)})"
    acting = f"can act as {_names(reached)} ({verbs}) and read Secrets through them"
    texts = {
        "SBX-310": f"can read every Secret {where} by starting pods ({verbs})",
        "SBX-311": f"can read Secrets mounted in pods {where} ({verbs})",
        "SBX-312": acting,
        "SBX-313": f"can grant itself permissions it lacks {where} ({verbs})",
        "SBX-314": acting,
        "SBX-315": f"can run commands in every pod through the kubelet ({verbs})",
        "SBX-316": f"can issue client certificates for any identity ({verbs})",
        "SBX-317": f"can receive every Secret written to the cluster ({verbs})",
    }
    return texts[control_id]


def describe(
    control_id: str,
    subject: Identity,
    scope: str,
    paths: Sequence[PathGrant],
    *,
    also: Sequence[PathGrant] = (),
    reached: Mapping[Identity, None] | Sequence[Identity] = (),
    namespace_assumed: bool = False,
    anchor: str = "",
) -> tuple[str, dict[str, Any]]:
    """The message and details of one finding reporting ``paths`` (and ``also``).

    ``anchor`` is the file the finding is located in (see :func:`path_text`).
    """
    reached_names = [str(i) for i in reached]
    links: dict[Link, None] = {}
    for path in paths:
        links.update(dict.fromkeys(path.links))
    chain = sorted(links, key=lambda link: (str(link), str(link.rule_location)))
    who = str(subject)
    if namespace_assumed:
        who += f" (namespace assumed: {subject.namespace})"
    texts = [path_text(who, link, anchor) for link in chain]
    via = "; ".join(texts[:_MAX_LINKS])
    if len(chain) > _MAX_LINKS:
        via += f"; and {len(chain) - _MAX_LINKS} more rule(s)"
    message = f"{who} {_what(control_id, scope, paths, reached_names)}: {via}"
    also_hows = sorted({p.how for p in also})
    if also_hows:
        message += f"; the same binding also allows {_names(also_hows)}"
    subject_dict: dict[str, Any] = dict(subject.as_dict())
    if namespace_assumed:
        subject_dict["namespaceAssumed"] = True
    details: dict[str, Any] = {
        "subject": subject_dict,
        "scope": scope,
        "how": sorted({p.how for p in paths}),
        "families": sorted({p.family for p in paths}),
        "chain": [link.as_dict() for link in chain],
        "path": texts,
    }
    names = sorted({n for p in paths if p.names is not None for n in p.names})
    if names and all(p.names is not None for p in paths):
        details["resourceNames"] = names
    if also_hows:
        details["alsoAllows"] = also_hows
    if reached_names:
        details["reaches"] = reached_names
    return message, details
