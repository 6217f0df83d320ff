"""Area 4: the EncryptionConfiguration check, on the corpus and on edge cases.

The corpus comparison is exact (a missed finding and an extra one both fail). Key secrets in the
corpus are base64 of ``s3cr3t-marker-...`` strings: neither form may appear in any finding.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.audit.checks import encryption
from sealbox.audit.model import Finding, Severity

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
AREA = CORPUS / "encryption"
KMS_V2 = (
    "      - kms:\n          apiVersion: v2\n          name: k\n"
    "          endpoint: unix:///var/run/k.sock\n"
)
AESCBC_KEY = base64.b64encode(b"s3cr3t-marker-inline-aescbc-32by").decode()


def _rows(findings: list[Finding]) -> list[tuple[str, str, int, str | None]]:
    return sorted(
        (
            f.control.id,
            Path(f.location.path).resolve().relative_to(CORPUS).as_posix(),
            f.location.line,
            None if f.obj is None else str(f.obj),
        )
        for f in findings
    )


def _corpus_findings() -> list[Finding]:
    findings: list[Finding] = []
    for path in sorted(AREA.glob("*.yaml")):
        found, problems = encryption.check(path)
        assert problems == [], path
        findings += found
    return findings


def test_corpus_matches_the_expected_file_exactly() -> None:
    expected = yaml.safe_load((HERE / "expected" / "encryption.yaml").read_text())
    wanted = sorted((e["id"], e["file"], e["line"], e["object"]) for e in expected)
    assert _rows(_corpus_findings()) == wanted


def test_every_control_has_a_positive_and_a_negative_corpus_file() -> None:
    by_file: dict[str, set[str]] = {}
    for path in sorted(AREA.glob("*.yaml")):
        by_file[path.name] = {f.control.id for f in encryption.check(path)[0]}
    for control in encryption.CONTROLS:
        assert any(control.id in ids for ids in by_file.values()), control.id
        assert any(control.id not in ids for ids in by_file.values()), control.id
    assert by_file["kms-v2-first.yaml"] == set()


def _secret_texts() -> list[str]:
    """Every key secret of the corpus, base64 and decoded."""
    texts = []
    for path in AREA.glob("*.yaml"):
        for value in re.findall(r"secret: *([A-Za-z0-9+/=]{16,})", path.read_text()):
            texts += [value, base64.b64decode(value).decode("latin-1")]
    assert any("s3cr3t-marker" in text for text in texts)
    return [*texts, "s3cr3t-marker"]


def test_no_key_secret_appears_in_any_finding() -> None:
    dumped = [f"{f.message} {f.details}" for f in _corpus_findings()]
    for text in _secret_texts():
        assert not any(text in line for line in dumped), text


def test_rejected_key_message_hides_the_key_length() -> None:
    findings, _ = encryption.check(AREA / "rejected-keys.yaml")
    short = next(f for f in findings if f.details["field"].endswith(".secret"))
    assert "expected one of [16 24 32]" in short.message
    assert "got" not in short.message


def test_identity_first_is_critical_and_names_the_rule() -> None:
    (finding,) = encryption.check(AREA / "identity-first.yaml")[0]
    assert finding.severity is Severity.CRITICAL
    assert "resources[0].providers[0]" in finding.message
    assert finding.details["rule"] == "secrets"


def test_shadowing_names_the_unused_entry(tmp_path: Path) -> None:
    (finding,) = encryption.check(AREA / "wildcard-core-identity.yaml")[0]
    assert finding.details["shadowed"] == "resources[1]"
    assert "'*.'" in finding.message


def test_kms_v2_after_identity_in_another_entry_is_shadowing(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        "  - resources: [secrets]\n    providers:\n      - identity: {}\n"
        "  - resources: ['*.*']\n    providers:\n" + KMS_V2
    )
    ids = [f.control.id for f in encryption.check(path)[0]]
    assert ids == ["SBX-404"]


def test_aescbc_only_for_reading_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        "  - resources: [secrets]\n    providers:\n"
        + KMS_V2
        + f"      - aescbc: {{keys: [{{name: old, secret: {AESCBC_KEY}}}]}}\n"
    )
    assert encryption.check(path) == ([], [])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"   \n# only a comment\n", "empty"),
        (b"resources: [\n  - x\n", "malformed YAML"),
        (b"a: 1\n---\nb: 2\n", "malformed YAML"),
        (b"\x00\x01binary", "binary"),
        (b"\xff\xfe bad", "not UTF-8"),
    ],
)
def test_unusable_files_are_input_problems(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "enc.yaml"
    path.write_bytes(content)
    findings, problems = encryption.check(path)
    assert findings == []
    assert len(problems) == 1
    assert expected in problems[0].message


def test_missing_file_is_an_input_problem(tmp_path: Path) -> None:
    findings, problems = encryption.check(tmp_path / "absent.yaml")
    assert findings == []
    assert "cannot read" in problems[0].message


def test_not_a_mapping_is_rejected_by_the_apiserver(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text("- just\n- a list\n")
    findings, problems = encryption.check(path)
    assert problems == []
    assert [f.control.id for f in findings] == ["SBX-401"]
    assert findings[0].location.line == 1


def test_controls_are_complete() -> None:
    ids = [c.id for c in encryption.CONTROLS]
    assert ids == sorted(set(ids))
    for control in encryption.CONTROLS:
        assert control.id.startswith("SBX-4")
        assert control.area == "encryption"
        assert control.title
        assert control.rationale
        assert control.remediation


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(["resources", "providers", "aescbc", "kms", "identity", "keys", "name"])


def _config_like() -> st.SearchStrategy[Any]:
    provider = st.dictionaries(_keys, _json, max_size=2)
    entry = st.fixed_dictionaries(
        {"resources": st.lists(st.text(max_size=8), max_size=3)},
        optional={"providers": st.lists(provider, max_size=3)},
    )
    return st.fixed_dictionaries(
        {"apiVersion": st.just("apiserver.config.k8s.io/v1")},
        optional={"kind": st.just("EncryptionConfiguration"), "resources": st.lists(entry)},
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.one_of(_json, _config_like()))
def test_fuzz_never_raises(tmp_path: Path, document: Any) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document))
    findings, problems = encryption.check(path)
    assert all(isinstance(f, Finding) for f in findings)
    assert findings or problems or isinstance(document, dict)
