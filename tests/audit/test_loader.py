"""The manifest loader: lines, streams, lists, JSON, and bad input that never stops a scan."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbox.audit.loader import is_values_file, load_paths, load_text

STREAM = """\
apiVersion: v1
kind: Secret
metadata:
  name: first
  namespace: team-a
---
# a comment-only document is skipped
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: listed}
- apiVersion: v1
  kind: ServiceAccount
  metadata:
    name: sa
---
key: [unclosed
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
      - name: app
        env:
        - name: MODE
          value: fast
"""


def test_stream_keeps_every_document_and_its_line() -> None:
    result = load_text(STREAM, "deploy/all.yaml")
    found = [(m.kind, m.name, m.namespace, m.location.line) for m in result.manifests]
    assert found == [
        ("Secret", "first", "team-a", 1),
        ("ConfigMap", "listed", None, 12),
        ("ServiceAccount", "sa", None, 15),
        ("Deployment", "api", None, 22),
    ]
    # The broken document is reported at its own line, and the one after it is still read.
    assert [(p.location.line, p.message.split(":")[0]) for p in result.problems] == [
        (20, "malformed YAML")
    ]


def test_nested_mappings_know_their_line() -> None:
    deployment = load_text(STREAM, "all.yaml").manifests[-1]
    container = deployment.body["spec"]["template"]["spec"]["containers"][0]
    assert str(deployment.at(container)) == "all.yaml:30"
    assert str(deployment.at(container["env"][0])) == "all.yaml:32"
    assert deployment.at("not a mapping") == deployment.location


def test_json_files_and_json_lists(tmp_path: Path) -> None:
    document = {
        "apiVersion": "v1",
        "kind": "SecretList",
        "items": [
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a", "namespace": "x"}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b", "namespace": "x"}},
        ],
    }
    (tmp_path / "list.json").write_text(json.dumps(document, indent=2))
    (tmp_path / "tabs.json").write_text(
        '{\n\t"apiVersion": "v1",\n\t"kind": "ConfigMap",\n\t"metadata": {"name": "t"}\n}'
    )
    (tmp_path / "broken.json").write_text('{"apiVersion": "v1",\n "kind": ')
    result = load_paths([str(tmp_path)])
    assert sorted(m.name for m in result.manifests) == ["a", "b", "t"]
    lines = {m.name: m.location.line for m in result.manifests}
    assert lines["a"] == 5
    assert lines["b"] == 13
    assert [p.location.path.endswith("broken.json") for p in result.problems] == [True]
    assert "malformed JSON" in result.problems[0].message


def test_directories_are_walked_and_bad_files_reported(tmp_path: Path) -> None:
    (tmp_path / "apps" / "nested").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hidden.yaml").write_text("apiVersion: v1\nkind: Secret\n")
    (tmp_path / "apps" / "nested" / "ok.yml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n"
    )
    (tmp_path / "apps" / "binary.yaml").write_bytes(b"\x00\x01\x02kind: Secret")
    (tmp_path / "apps" / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (tmp_path / "apps" / "huge.yaml").write_text("a: " + "x" * 2000 + "\n")
    (tmp_path / "apps" / "notes.txt").write_text("not scanned")
    (tmp_path / "apps" / "scalar.yaml").write_text("just a string\n")
    (tmp_path / "apps" / "crd.yaml").write_text(
        "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w}\n---\n"
        "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w2}\n"
    )
    result = load_paths([str(tmp_path)], max_bytes=1000)
    assert [m.name for m in result.manifests] == ["ok"]
    messages = sorted(f"{Path(p.location.path).name}: {p.message}" for p in result.problems)
    assert messages == [
        "binary.yaml: skipped: binary file (NUL bytes)",
        "huge.yaml: skipped: 2004 bytes is over the 1000-byte limit",
        "latin1.yaml: skipped: not UTF-8 text (invalid byte at offset 9)",
        "scalar.yaml: not a Kubernetes object (a YAML str)",
    ]
    # a kind no control reads was read fine: listed as not audited, not as a problem
    [widget] = result.not_audited
    assert (widget.kind, widget.objects) == ("Widget", 2)
    assert (Path(widget.location.path).name, widget.location.line) == ("crd.yaml", 1)


def test_a_directory_that_cannot_be_listed_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root lists any directory whatever its mode, so the refusal is simulated."""
    (tmp_path / "locked").mkdir()
    (tmp_path / "ok.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n")
    scandir = os.scandir

    def refuse(path: Any) -> Any:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    result = load_paths([str(tmp_path)])
    assert [m.name for m in result.manifests] == ["ok"]
    assert [str(p) for p in result.problems] == [
        f"{tmp_path / 'locked'}: cannot read directory: Permission denied"
    ]
    assert result.directories == 1


def test_stdin_and_missing_paths() -> None:
    stdin = io.StringIO("apiVersion: v1\nkind: Secret\nmetadata: {name: piped}\n")
    result = load_paths(["-", "/nonexistent/dir"], stdin=stdin)
    assert [(m.name, m.location.path) for m in result.manifests] == [("piped", "<stdin>")]
    assert [p.message for p in result.problems] == ["no such file or directory"]


def test_helm_values_files_are_kept_as_values() -> None:
    assert is_values_file("chart/values.yaml")
    assert is_values_file("values-prod.yml")
    assert is_values_file("env/prod.values.yaml")
    assert not is_values_file("chart/templates/deployment.yaml")
    assert not is_values_file("myvalues.yaml")
    result = load_text("db:\n  password: hunter2\n", "chart/values.yaml")
    assert not result.problems
    assert not result.manifests
    assert result.values[0].body["db"]["password"] == "hunter2"
    assert result.values[0].body["db"].line == 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_manifests_or_problems_never_an_exception(text: str) -> None:
    result = load_text(text, "fuzz.yaml")
    for manifest in result.manifests:
        assert isinstance(manifest.kind, str)
        assert manifest.kind
    for problem in result.problems:
        assert problem.location.path == "fuzz.yaml"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_on_disk_are_handled(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "fuzz.yaml")
        path.write_bytes(data)
        result = load_paths([str(path)])
    assert result.files == 1


def test_a_kustomization_without_kind_is_a_kustomization_not_a_problem(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("namespace: shop\nresources: [app.yaml]\n")
    (tmp_path / "settings.yaml").write_text("namespace: shop\n")  # any other kind-less file
    result = load_paths([str(tmp_path)])
    assert [(m.kind, m.api_version) for m in result.manifests] == [
        ("Kustomization", "kustomize.config.k8s.io/v1beta1")
    ]
    assert [Path(p.location.path).name for p in result.problems] == ["settings.yaml"]
    assert result.not_audited == []
