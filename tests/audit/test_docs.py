"""docs/audit.md lists every control exactly as the catalog defines it.

The section after ``## Controls`` is generated from the catalog; when a control changes, run
``SEALBOX_UPDATE_DOCS=1 .venv/bin/pytest tests/audit/test_docs.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

from sealbox.audit.engine import ALL_CONTROLS

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"
MARKER = "<!-- The table below lists every control of `sealbox audit controls`; a test keeps them in sync. -->\n"  # noqa: E501
AREA_TITLES = {
    "workloads": "Workloads",
    "manifests": "Manifests in a repository",
    "rbac": "RBAC: who can read Secrets",
    "encryption": "EncryptionConfiguration",
    "audit-policy": "Audit policy",
    "audit-log": "Audit log",
}


def controls_section() -> str:
    lines: list[str] = []
    for area, title in AREA_TITLES.items():
        controls = [c for c in ALL_CONTROLS if c.area == area]
        lines += [f"\n### {title}\n", "| Id | Severity | Control | Closest elsewhere |"]
        lines.append("|---|---|---|---|")
        for c in controls:
            mapped = ", ".join(c.mappings) if c.mappings else "none"
            link = f"[{c.id}](#{c.id.lower()})"
            lines.append(f"| {link} | {c.severity.label} | {c.title} | {mapped} |")
        for c in controls:
            lines += [
                f"\n#### {c.id}\n",
                f"**{c.title}** ({c.severity.label}). {c.rationale}\n",
                f"*Remediation:* {c.remediation}",
            ]
    return "\n".join(lines).lstrip("\n") + "\n"


def test_docs_list_every_control_as_the_catalog_defines_it() -> None:
    text = DOC.read_text()
    head, marker, _ = text.partition(MARKER)
    assert marker, "docs/audit.md lost its controls marker"
    expected = head + MARKER + "\n" + controls_section()
    if os.environ.get("SEALBOX_UPDATE_DOCS") == "1":
        DOC.write_text(expected)
    assert text == expected
