"""Finding messages and details for the RBAC controls, built from the path grants they report.

A message reads ``<subject> <what it can do> via <binding> -> <role> (rule N)``; it names
subjects, bindings, roles, rules and Secret *names* only. Details carry the same facts as
JSON-ready values: subject, scope, how, the chain of links, restricting ``resourceNames``,
the identities reached (impersonation, tokens) and what the same binding also allows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sealbox.audit.rbac import ALL_SCOPES, Identity, Link, PathGrant

__all__ = ["describe"]

_MAX_NAMES = 5
_MAX_LINKS = 3


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
    if control_id == "SBX-303":
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
) -> tuple[str, dict[str, Any]]:
    """The message and details of one finding reporting ``paths`` (and ``also``)."""
    reached_names = [str(i) for i in reached]
    links: dict[Link, None] = {}
    for path in paths:
        links.update(dict.fromkeys(path.links))
    chain = sorted(links, key=lambda link: (str(link), str(link.rule_location)))
    via = "; ".join(str(link) for link in chain[:_MAX_LINKS])
    if len(chain) > _MAX_LINKS:
        via += f"; and {len(chain) - _MAX_LINKS} more rule(s)"
    message = f"{subject} {_what(control_id, scope, paths, reached_names)} via {via}"
    also_hows = sorted({p.how for p in also})
    if also_hows:
        message += f"; the same binding also allows {_names(also_hows)}"
    details: dict[str, Any] = {
        "subject": subject.as_dict(),
        "scope": scope,
        "how": sorted({p.how for p in paths}),
        "families": sorted({p.family for p in paths}),
        "chain": [link.as_dict() for link in chain],
    }
    names = sorted({n for p in paths if p.names is not None for n in p.names})
    if names and all(p.names is not None for p in paths):
        details["resourceNames"] = names
    if also_hows:
        details["alsoAllows"] = also_hows
    if reached_names:
        details["reaches"] = reached_names
    return message, details
