"""Control texts users can act on: SARIF shows them in code scanning, the docs list them.

* No text cites a section of an internal document (``spec §1.C``) users do not have: sources
  are public (a Kubernetes docs page, a CIS Benchmark id, a CVE, an upstream source file).
* Every ``sealbox ...`` command a text names parses with the real command line.
* ``sealbox config validate`` and SBX-406 state the same aesgcm rotation bound (upstream: every
  200,000 writes), in the control's texts and in its finding.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealbox.audit import ALL_CONTROLS, AuditOptions, run_audit
from sealbox.cli import app
from tests.test_docs import _parse, _words

AESGCM_CONFIG = Path(__file__).parent / "corpus" / "encryption" / "aesgcm-write.yaml"
_COMMAND = re.compile(r"`(sealbox [^`]+)`")
_ROTATION = re.compile(r"(?:every|before) ([\d,.]+k?) writes")
TEXTS = [
    (control.id, field, text)
    for control in ALL_CONTROLS
    for field, text in (("rationale", control.rationale), ("remediation", control.remediation))
]


@pytest.mark.parametrize(("control", "field", "text"), TEXTS, ids=[f"{c} {f}" for c, f, _ in TEXTS])
def test_no_text_cites_an_internal_spec(control: str, field: str, text: str) -> None:
    assert "§" not in text
    assert not re.search(r"\bspec [0-9§]|\(spec\b", text), text


def test_every_command_a_control_names_parses() -> None:
    commands = [cmd for _, _, text in TEXTS for cmd in _COMMAND.findall(text)]
    assert "sealbox config validate FILE" in commands  # SBX-401
    for command in commands:
        path, hidden = _parse(_words(command))
        assert path, command
        assert not hidden, command


def _bounds(text: str) -> list[str]:
    return _ROTATION.findall(text)


def test_config_validate_and_sbx_406_state_the_same_aesgcm_rotation_bound() -> None:
    result = CliRunner().invoke(app, ["config", "validate", str(AESGCM_CONFIG), "-o", "json"])
    assert result.exit_code == 0, result.output
    advice = [
        w["message"] for w in json.loads(result.stdout)["warnings"] if "rotat" in w["message"]
    ]
    control = next(c for c in ALL_CONTROLS if c.id == "SBX-406")
    report = run_audit(AuditOptions(encryption_config=AESGCM_CONFIG))
    finding = next(f.message for f in report.findings if f.control.id == "SBX-406")
    stated = {
        "config validate": _bounds(" ".join(advice)),
        "SBX-406 rationale": _bounds(control.rationale),
        "SBX-406 remediation": _bounds(control.remediation),
        "SBX-406 finding": _bounds(finding),
    }
    assert stated == {source: ["200,000"] for source in stated}
