"""Bad input on every audit command: one ``error:`` line, exit 2, no traceback, nothing written.

Each case runs ``sealbox audit scan`` (also as the implicit ``sealbox audit PATH``),
``sealbox audit who-can-read`` or ``sealbox audit controls`` as a user would (in process, through
the real ``sealbox`` app) with one thing wrong: a missing path, a file that cannot be read (a path
through a regular file: root reads any file whatever its mode), a directory where a file is
expected, malformed YAML or JSON in a file named by a flag or in an ignore file, inputs with
nothing to audit, an existing ``--output-file``, a bad ``NAMESPACE/NAME``, a bad choice. Every
one must end the same way:

1. exit code 2 (a usage or input error), raised as such (not a crash);
2. stderr is exactly one line, ``error: ...``, naming the path or flag at fault and what would
   be valid;
3. no traceback, and nothing on stdout;
4. nothing written: the working directory as it was (no report, no temp file);

and nothing secret is printed (the planted values of the manifests and the config's key).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealbox.cli import app
from tests.audit.markers import marker_needles

runner = CliRunner()
MARKER = re.compile(r"s3cr3t-marker-bad-input-[a-z0-9]+")
PASSWORD = "s3cr3t-marker-bad-input-db"
KEY = base64.b64encode(b"s3cr3t-marker-bad-input-aesgcmk").decode()
SECRET = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: shop}}
stringData:
  password: {PASSWORD}
"""
RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-db, namespace: shop}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ci-reads, namespace: shop}
subjects: [{kind: User, name: ci-bot}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-db}
"""
CONFIG = f"""\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aesgcm: {{keys: [{{name: k1, secret: "{KEY}"}}]}}
"""
POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"
EVENT = (
    '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1",'
    '"stage":"ResponseComplete","verb":"get","user":{"username":"alice"},'
    '"objectRef":{"resource":"secrets","namespace":"shop","name":"db"},'
    '"responseStatus":{"code":200}}\n'
)


@dataclass(frozen=True)
class Files:
    """A working directory with one good input of each kind, and bad ones beside them."""

    root: Path

    def path(self, name: str) -> str:
        return str(self.root / name)


@pytest.fixture
def files(tmp_path: Path) -> Files:
    root = tmp_path / "work"
    (root / "repo").mkdir(parents=True)
    (root / "repo" / "secret.yaml").write_text(SECRET)
    (root / "repo" / "rbac.yaml").write_text(RBAC)
    (root / "config.yaml").write_text(CONFIG)
    (root / "policy.yaml").write_text(POLICY)
    (root / "audit.log").write_text(EVENT)
    (root / "a-dir").mkdir()
    (root / "empty-dir").mkdir()
    (root / "existing.json").write_text("keep me")
    (root / "broken.yaml").write_text("kind: [\n")
    (root / "two-docs.yaml").write_text(CONFIG + "---\n" + CONFIG)
    (root / "empty.yaml").write_text("")
    (root / "not-utf8.yaml").write_bytes(b"\xff\xfe")
    (root / "binary.yaml").write_bytes(b"\x00\x01")
    (root / "not-json.log").write_text("this is not json\n")
    (root / "empty.log").write_text("")
    (root / "ignore-broken.yaml").write_text("ignore: [\n")
    (root / "ignore-no-reason.yaml").write_text("ignore:\n- id: SBX-201\n")
    (root / "ignore-list.yaml").write_text("- id: SBX-201\n")
    return Files(root)


def _tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in root.rglob("*")
    }


Case = Callable[[Files], list[str]]
"""The argv after ``sealbox audit`` for one bad input, and what the error line must name."""

SCAN_CASES: dict[str, tuple[Case, list[str]]] = {
    "no input at all": (lambda f: [], ["nothing to audit", "manifest paths", "--audit-log"]),
    "path missing": (
        lambda f: [f.path("absent")],
        ["no such file or directory", "absent", "directories", "- for stdin"],
    ),
    "path through a regular file": (
        lambda f: [f.path("config.yaml/x")],
        ["config.yaml/x", "a parent of it is a file", "- for stdin"],
    ),
    "stdin twice": (lambda f: ["-", "-"], ["stdin (-) can be given only once"]),
    "empty directory": (
        lambda f: [f.path("empty-dir")],
        ["nothing to audit", "empty-dir", "walked 1 directory", ".yaml, .yml, .json", "0 files"],
    ),
    "empty stdin": (lambda f: ["-"], ["nothing to audit", "stdin (-)", "apiVersion and kind"]),
    "only a malformed file": (
        lambda f: [f.path("broken.yaml")],
        ["nothing to audit", "broken.yaml:1: malformed YAML", "--encryption-config"],
    ),
    "encryption config missing": (
        lambda f: ["repo", "--encryption-config", f.path("absent.yaml")],
        ["--encryption-config", "absent.yaml: no such file", "EncryptionConfiguration"],
    ),
    "encryption config is a directory": (
        lambda f: ["repo", "--encryption-config", f.path("a-dir")],
        ["--encryption-config", "a-dir: is a directory", "kind: EncryptionConfiguration"],
    ),
    "encryption config through a regular file": (
        lambda f: ["repo", "--encryption-config", f.path("policy.yaml/x")],
        ["--encryption-config", "policy.yaml/x: cannot read", "EncryptionConfiguration"],
    ),
    "encryption config malformed": (
        lambda f: ["repo", "--encryption-config", f.path("broken.yaml")],
        ["--encryption-config", "broken.yaml:2: malformed YAML", "expected a kube-apiserver"],
    ),
    "encryption config with two documents": (
        lambda f: ["repo", "--encryption-config", f.path("two-docs.yaml")],
        [
            "--encryption-config",
            "two-docs.yaml:7",
            "found another document",
            "EncryptionConfiguration",
        ],
    ),
    "encryption config empty": (
        lambda f: ["repo", "--encryption-config", f.path("empty.yaml")],
        ["--encryption-config", "empty.yaml", "is empty", "expected a kube-apiserver"],
    ),
    "encryption config not UTF-8": (
        lambda f: ["repo", "--encryption-config", f.path("not-utf8.yaml")],
        ["--encryption-config", "not-utf8.yaml", "not UTF-8", "EncryptionConfiguration"],
    ),
    "encryption config binary": (
        lambda f: ["repo", "--encryption-config", f.path("binary.yaml")],
        ["--encryption-config", "binary.yaml", "binary file", "EncryptionConfiguration"],
    ),
    "audit policy missing": (
        lambda f: ["repo", "--audit-policy", f.path("absent.yaml")],
        ["--audit-policy", "absent.yaml: no such file", "audit.k8s.io/v1", "Policy"],
    ),
    "audit policy is a directory": (
        lambda f: ["repo", "--audit-policy", f.path("a-dir")],
        ["--audit-policy", "a-dir: is a directory", "kind: Policy"],
    ),
    "audit policy malformed": (
        lambda f: ["repo", "--audit-policy", f.path("broken.yaml")],
        ["--audit-policy", "broken.yaml:2: malformed YAML in the audit policy", "kind: Policy"],
    ),
    "audit log missing": (
        lambda f: ["repo", "--audit-log", f.path("absent.log")],
        ["--audit-log", "absent.log: no such file", "one JSON object per line"],
    ),
    "audit log is a directory": (
        lambda f: ["repo", "--audit-log", f.path("a-dir")],
        ["--audit-log", "a-dir: is a directory", "Event objects"],
    ),
    "audit log through a regular file": (
        lambda f: ["repo", "--audit-log", f.path("audit.log/x")],
        ["--audit-log", "audit.log/x: cannot read", "a parent of it is a file"],
    ),
    "audit log not JSON": (
        lambda f: ["repo", "--audit-log", f.path("not-json.log")],
        ["--audit-log", "not-json.log:1: not JSON", "one JSON object per line"],
    ),
    "audit log empty": (
        lambda f: ["repo", "--audit-log", f.path("empty.log")],
        ["--audit-log", "empty.log: no audit event in 0 lines", "Event objects"],
    ),
    "ignore file missing": (
        lambda f: ["repo", "--ignore-file", f.path("absent.yaml")],
        ["--ignore-file", "absent.yaml: no such file", "'ignore:' list"],
    ),
    "ignore file is a directory": (
        lambda f: ["repo", "--ignore-file", f.path("a-dir")],
        ["--ignore-file", "a-dir: is a directory", "suppressions file"],
    ),
    "ignore file malformed YAML": (
        lambda f: ["repo", "--ignore-file", f.path("ignore-broken.yaml")],
        ["--ignore-file", "ignore-broken.yaml:2: malformed YAML", "'ignore:' list"],
    ),
    "ignore file without a list": (
        lambda f: ["repo", "--ignore-file", f.path("ignore-list.yaml")],
        ["--ignore-file", "ignore-list.yaml", "expected a mapping with an 'ignore:' list"],
    ),
    "ignore entry without a reason": (
        lambda f: ["repo", "--ignore-file", f.path("ignore-no-reason.yaml")],
        ["--ignore-file", "ignore-no-reason.yaml:2: ignore[0].reason", "must say why"],
    ),
    "output file exists": (
        lambda f: ["repo", "-o", "json", "--output-file", f.path("existing.json")],
        ["--output-file", "existing.json: already exists", "--force"],
    ),
    "output file is a directory": (
        lambda f: ["repo", "-o", "html", "--output-file", f.path("a-dir")],
        ["--output-file", "a-dir: is a directory", "give a file name"],
    ),
    "output file in a missing directory": (
        lambda f: ["repo", "--output-file", f.path("nowhere/report.txt")],
        ["--output-file", "nowhere/report.txt", "does not exist"],
    ),
    "unknown output format": (
        lambda f: ["repo", "-o", "xml"],
        ["--output", "'xml' is not one of", "'yaml'", "'sarif'"],
    ),
    "unknown fail-on severity": (
        lambda f: ["repo", "--fail-on", "severe"],
        ["--fail-on", "'severe' is not one of", "'critical'", "'never'"],
    ),
    "max file size below one byte": (
        lambda f: ["repo", "--max-file-size", "0"],
        ["--max-file-size", "greater than or equal to 1"],
    ),
    "kubeconfig missing": (
        lambda f: ["--kubeconfig", f.path("absent.kubeconfig")],
        ["--kubeconfig", "absent.kubeconfig", "no such file"],
    ),
    "kubeconfig not a kubeconfig": (
        lambda f: ["repo", "--kubeconfig", f.path("policy.yaml")],
        ["--kubeconfig", "policy.yaml", "a Policy, not a kubeconfig", "kind: Config"],
    ),
    "etcd flags without endpoints": (
        lambda f: ["--kubeconfig", f.path("absent.kubeconfig"), "--etcd-cert", f.path("a-dir")],
        ["--etcd-cert", "only used with --etcd-endpoints"],
    ),
    "allow-subject without a kind": (
        lambda f: ["repo", "--allow-subject", "alice"],
        ["--allow-subject 'alice'", "KIND:NAME", "ServiceAccount"],
    ),
}

OTHER_CASES: dict[str, tuple[Case, list[str]]] = {
    "who-can-read: no slash": (
        lambda f: ["who-can-read", "shop-db", "repo"],
        ["SECRET 'shop-db'", "expected NAMESPACE/NAME", "team-a/db-password"],
    ),
    "who-can-read: two slashes": (
        lambda f: ["who-can-read", "shop/db/x", "repo"],
        ["SECRET 'shop/db/x'", "expected NAMESPACE/NAME"],
    ),
    "who-can-read: no namespace": (
        lambda f: ["who-can-read", "/db", "repo"],
        ["SECRET '/db'", "expected NAMESPACE/NAME"],
    ),
    "who-can-read: path missing": (
        lambda f: ["who-can-read", "shop/db", f.path("absent")],
        ["no such file or directory", "absent", "- for stdin"],
    ),
    "who-can-read: path through a regular file": (
        lambda f: ["who-can-read", "shop/db", f.path("config.yaml/x")],
        ["config.yaml/x", "a parent of it is a file"],
    ),
    "who-can-read: empty directory": (
        lambda f: ["who-can-read", "shop/db", f.path("empty-dir")],
        ["nothing to audit", "no Kubernetes object", "empty-dir", "Roles, ClusterRoles"],
    ),
    "who-can-read: empty stdin": (
        lambda f: ["who-can-read", "shop/db", "-"],
        ["nothing to audit", "stdin (-)", "bindings"],
    ),
    "who-can-read: output file exists": (
        lambda f: ["who-can-read", "shop/db", "repo", "--output-file", f.path("existing.json")],
        ["--output-file", "existing.json: already exists", "--force"],
    ),
    "who-can-read: unknown output format": (
        lambda f: ["who-can-read", "shop/db", "repo", "-o", "sarif"],
        ["--output", "'sarif' is not one of", "'table', 'json', 'yaml'"],
    ),
    "who-can-read: no paths": (
        lambda f: ["who-can-read", "shop/db"],
        ["Missing argument 'paths'"],
    ),
    "controls: unknown output format": (
        lambda f: ["controls", "-o", "html"],
        ["--output", "'html' is not one of", "'table', 'json', 'yaml'"],
    ),
    "controls: output file exists": (
        lambda f: ["controls", "-o", "yaml", "--output-file", f.path("existing.json")],
        ["--output-file", "existing.json: already exists", "--force"],
    ),
    "controls: output file is a directory": (
        lambda f: ["controls", "--output-file", f.path("a-dir")],
        ["--output-file", "a-dir: is a directory"],
    ),
    "controls: unexpected argument": (
        lambda f: ["controls", "extra"],
        ["unexpected extra argument", "(extra)"],
    ),
    "audit: unknown command option": (
        lambda f: ["who-can-read", "shop/db", "repo", "--fail-on", "high"],
        ["No such option: --fail-on"],
    ),
}

CASES: dict[str, tuple[list[str], Case, list[str]]] = {
    **{f"scan: {name}": (["scan"], case, named) for name, (case, named) in SCAN_CASES.items()},
    **{
        f"implicit scan: {name}": ([], case, named)
        for name, (case, named) in SCAN_CASES.items()
        if name != "no input at all"  # bare `sealbox audit` prints the group's help
    },
    **{name: ([], case, named) for name, (case, named) in OTHER_CASES.items()},
}


def _needles(files: Files) -> set[str]:
    """Every planted secret: the Secret's value and the config's key, plain and base64."""
    return marker_needles(files.root / "repo", MARKER) | {PASSWORD, KEY}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_error_line_exit_2_and_writes_nothing(files: Files, name: str) -> None:
    prefix, make_argv, named = CASES[name]
    before = _tree(files.root)
    cwd = os.getcwd()
    os.chdir(files.root)  # anything written to a relative path would show in the tree
    try:
        result = runner.invoke(app, ["audit", *prefix, *make_argv(files)], input="")
    finally:
        os.chdir(cwd)
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit), result.exception  # handled, not a crash
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in named:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert _tree(files.root) == before
    printed = result.stdout + result.stderr
    assert not [needle for needle in _needles(files) if needle in printed]


def test_the_cases_plant_secrets_to_look_for(files: Files) -> None:
    """The no-secret assertion above would pass on nothing if no needle were found."""
    assert PASSWORD in _needles(files)
    assert base64.b64encode(PASSWORD.encode()).decode() in _needles(files)


def test_an_unreadable_file_is_named(files: Files) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads a file whatever its mode (the cases above go through a file)")
    config = files.root / "config.yaml"
    config.chmod(0)
    try:
        result = runner.invoke(
            app, ["audit", files.path("repo"), "--encryption-config", str(config)]
        )
    finally:
        config.chmod(0o600)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --encryption-config {config}: cannot read")


def test_the_good_inputs_of_the_fixture_pass(files: Files) -> None:
    """Each bad case differs from a working command by the one thing it breaks."""
    result = runner.invoke(
        app,
        [
            "audit",
            files.path("repo"),
            "--encryption-config",
            files.path("config.yaml"),
            "--audit-policy",
            files.path("policy.yaml"),
            "--audit-log",
            files.path("audit.log"),
            "--fail-on",
            "never",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "error:" not in result.output
