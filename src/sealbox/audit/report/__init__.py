"""The output formats of ``sealbox audit``, each a function of one :class:`AuditReport`.

- :func:`render_table`: rich tables grouped by severity, for terminals and CI logs (the default);
- :func:`to_json_dict`: the documented JSON contract for scripts (``-o json``);
- :func:`to_sarif`: SARIF 2.1.0 for code-scanning UIs (``-o sarif``);
- :func:`to_html`: one self-contained page with summary charts (``-o html``).

None of them computes anything about the audit: they only lay out what the checks found, and they
treat every string in it as untrusted text.
"""

from __future__ import annotations

from sealbox.audit.report.html import to_html
from sealbox.audit.report.json_out import to_json_dict
from sealbox.audit.report.sarif import to_sarif
from sealbox.audit.report.table import render_table

__all__ = ["render_table", "to_html", "to_json_dict", "to_sarif"]
