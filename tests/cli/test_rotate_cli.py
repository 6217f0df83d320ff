"""``sealbox rotate plan|apply|status`` as a user runs them: bad input is refused cleanly, ``plan``
and ``status`` show stages, files and hashes but never a key.

Bad input (:data:`CASES`, also counted by test_bad_input.py's check that every command is
driven): each case runs the real ``sealbox`` app with one thing wrong (the config missing, a
directory, not YAML, not a valid EncryptionConfiguration; a bad flag; a rotation to another
target in progress) and must end with exit 2, exactly one ``error: ...`` line naming the flag,
file or field, no traceback, nothing on stdout, the config's key nowhere, and nothing written:
the config and its directory as they were (no state, no staged file, no backup). No cluster is
asked: the kubeconfig names a port nothing listens on, and every case is refused before it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.encryption import config_hash
from sealbox.rotate import STAGES, RotationState, staged_path, state_path

runner = CliRunner()

OLD_KEY = "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2M="  # 32 bytes of "c"
HEADER = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
CONFIG = f"""\
{HEADER}resources:
- resources: [secrets]
  providers:
  - aescbc: {{keys: [{{name: key1, secret: "{OLD_KEY}"}}]}}
  - identity: {{}}
"""
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""
# a base64 value of 32 bytes (an aescbc/aesgcm/secretbox key), wherever it appears
KEY_VALUE = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=")

NOW = datetime(2026, 12, 2, tzinfo=UTC)

Case = Callable[[Path], list[str]]


def _inputs(root: Path) -> Path:
    """The working directory's files (written once): a valid config and broken ones beside it."""
    inputs = {
        "enc.yaml": CONFIG,
        "kubeconfig.yaml": KUBECONFIG,
        "broken.yaml": "resources: [\n",
        "list.yaml": HEADER + "resources: 3\n",
        "identity.yaml": HEADER
        + "resources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n",
    }
    for name, text in inputs.items():
        if not (root / name).exists():
            (root / name).write_text(text)
    if not (root / "not-utf8.yaml").exists():
        (root / "not-utf8.yaml").write_bytes(b"\xff\xfe")
    (root / "a-dir").mkdir(exist_ok=True)
    return root


def _plan(root: Path, *args: str, config: str = "enc.yaml") -> list[str]:
    """``rotate plan`` to aesgcm unless ``args`` say otherwise."""
    _inputs(root)
    to = [] if "--to" in args else ["--to", "aesgcm"]
    return ["rotate", "plan", "--config", str(root / config), *to, *args]


def _apply(root: Path, *args: str, config: str = "enc.yaml", kubeconfig: bool = True) -> list[str]:
    """``rotate apply`` to aesgcm unless ``args`` say otherwise; a kubeconfig that exists."""
    _inputs(root)
    base = ["rotate", "apply", "--config", str(root / config)]
    if kubeconfig:
        base += ["--kubeconfig", str(root / "kubeconfig.yaml")]
    return [*base, *([] if "--to" in args else ["--to", "aesgcm"]), *args]


def _status(root: Path, *args: str, config: str = "enc.yaml") -> list[str]:
    _inputs(root)
    return ["rotate", "status", "--config", str(root / config), *args]


def _in_progress(root: Path, *args: str) -> list[str]:
    """``rotate apply --to secretbox`` while a rotation to aesgcm is recorded beside the config."""
    argv = _apply(root, "--to", "secretbox", *args)
    state = state_path(root / "enc.yaml")
    if not state.exists():
        RotationState.start("aesgcm", "p1", {}, now=NOW).save(state)
    return argv


def _corrupt_state(root: Path) -> list[str]:
    argv = _status(root)
    state_path(root / "enc.yaml").write_text("{not json")
    return argv


def _case(command: Callable[..., list[str]], *args: str, **options: str) -> Case:
    """A case running ``command`` in the working directory with ``args`` after its own."""
    return lambda root: command(root, *args, **options)


CASES: dict[str, tuple[Case, list[str]]] = {
    # the config, as plan, apply and status read it
    "rotate plan: config missing": (
        _case(_plan, config="absent.yaml"),
        ["absent.yaml", "--config", "No such file"],
    ),
    "rotate plan: config is a directory": (
        _case(_plan, config="a-dir"),
        ["a-dir", "--config", "Is a directory"],
    ),
    "rotate plan: config not UTF-8": (
        _case(_plan, config="not-utf8.yaml"),
        ["not-utf8.yaml", "--config", "not UTF-8"],
    ),
    "rotate plan: config not YAML": (
        _case(_plan, config="broken.yaml"),
        ["broken.yaml", "not valid YAML"],
    ),
    "rotate plan: not a valid EncryptionConfiguration": (
        _case(_plan, config="list.yaml"),
        ["list.yaml", "resources", "expected a list"],
    ),
    "rotate plan: encryption off": (
        _case(_plan, config="identity.yaml"),
        ["identity.yaml", "nothing to rotate", "encrypting provider first"],
    ),
    "rotate apply: config missing": (
        _case(_apply, config="absent.yaml"),
        ["absent.yaml", "--config", "No such file"],
    ),
    "rotate apply: config is a directory": (
        _case(_apply, config="a-dir"),
        ["a-dir", "--config", "Is a directory"],
    ),
    "rotate apply: config not YAML": (
        _case(_apply, config="broken.yaml"),
        ["broken.yaml", "not valid YAML"],
    ),
    "rotate apply: not a valid EncryptionConfiguration": (
        _case(_apply, config="list.yaml"),
        ["list.yaml", "resources", "expected a list"],
    ),
    "rotate status: config missing": (
        _case(_status, config="absent.yaml"),
        ["absent.yaml", "--config", "No such file"],
    ),
    "rotate status: config is a directory": (
        _case(_status, config="a-dir"),
        ["a-dir", "--config", "Is a directory"],
    ),
    "rotate status: state not JSON": (
        _corrupt_state,
        ["enc.yaml.rotation.json", "not JSON", "remove it"],
    ),
    # --to and --kms-endpoint
    "rotate plan: --to unknown": (
        _case(_plan, "--to", "aes"),
        ["--to 'aes'", "aesgcm, aescbc, secretbox or kms:<name>"],
    ),
    "rotate plan: --to identity": (
        _case(_plan, "--to", "identity"),
        ["--to identity", "plaintext"],
    ),
    "rotate plan: --to kms without a name": (
        _case(_plan, "--to", "kms:"),
        ["--to 'kms:'", "name"],
    ),
    "rotate plan: kms target without --kms-endpoint": (
        _case(_plan, "--to", "kms:vault"),
        ["--kms-endpoint is required", "no kms provider named vault", "unix:///"],
    ),
    "rotate plan: --kms-endpoint not unix://": (
        _case(_plan, "--to", "kms:vault", "--kms-endpoint", "/run/kms.sock"),
        ["--kms-endpoint '/run/kms.sock'", "only unix is supported"],
    ),
    "rotate apply: --to unknown": (
        _case(_apply, "--to", "aes"),
        ["--to 'aes'", "aesgcm, aescbc, secretbox or kms:<name>"],
    ),
    "rotate apply: kms target without --kms-endpoint": (
        _case(_apply, "--to", "kms:vault"),
        ["--kms-endpoint is required", "no kms provider named vault"],
    ),
    "rotate apply: --kms-endpoint not unix://": (
        _case(_apply, "--to", "kms:vault", "--kms-endpoint", "tcp://kms:1"),
        ["--kms-endpoint 'tcp://kms:1'", "only unix is supported"],
    ),
    "rotate apply: a rotation to another target in progress": (
        _in_progress,
        ["--to secretbox", "a rotation to aesgcm is in progress", "enc.yaml.rotation.json"],
    ),
    # apply's own flags
    "rotate apply: --concurrency 0": (
        _case(_apply, "--concurrency", "0"),
        ["--concurrency", "greater than or equal to 1"],
    ),
    "rotate apply: --concurrency 257": (
        _case(_apply, "--concurrency", "257"),
        ["--concurrency", "less than or equal to 256"],
    ),
    "rotate apply: --qps 0": (
        _case(_apply, "--qps", "0"),
        ["--qps", "greater than or equal to 0.1"],
    ),
    "rotate apply: --timeout not a duration": (
        _case(_apply, "--timeout", "soon"),
        ["--timeout", "between 10s and 24h", "'soon'"],
    ),
    "rotate apply: --timeout too short": (
        _case(_apply, "--timeout", "1s"),
        ["--timeout", "between 10s and 24h", "'1s'"],
    ),
    "rotate apply: --apiserver not a URL": (
        _case(_apply, "--apiserver", "10.0.0.11:6443"),
        ["--apiserver 10.0.0.11:6443", "https://10.0.0.11:6443"],
    ),
    "rotate apply: second --apiserver not a URL": (
        _case(_apply, "--apiserver", "https://10.0.0.11:6443", "--apiserver", "ftp://b"),
        ["--apiserver ftp://b", "apiserver URL"],
    ),
    "rotate apply: --cacert without --endpoints": (
        _case(_apply, "--cacert", "ca.crt"),
        ["--cacert without --endpoints", "drop the etcd flags"],
    ),
    "rotate apply: --cert and --key without --endpoints": (
        _case(_apply, "--cert", "client.crt", "--key", "client.key"),
        ["--cert, --key without --endpoints"],
    ),
    "rotate apply: --endpoints bad scheme": (
        _case(_apply, "--endpoints", "ftp://etcd:2379"),
        ["ftp://etcd:2379", "use http or https"],
    ),
    "rotate apply: --etcd-timeout 0": (
        _case(_apply, "--endpoints", "http://127.0.0.1:1", "--etcd-timeout", "0"),
        ["--etcd-timeout", "greater than or equal to 0.1"],
    ),
    "rotate apply: kubeconfig missing": (
        lambda root: [
            *_apply(root, kubeconfig=False),
            "--kubeconfig",
            str(root / "absent-kubeconfig"),
        ],
        ["--kubeconfig", "absent-kubeconfig", "no such file"],
    ),
    "rotate apply: --context unknown": (
        _case(_apply, "--context", "nowhere"),
        ["--context nowhere", "contexts: x"],
    ),
    # output formats
    "rotate plan: -o xml": (_case(_plan, "--to", "aesgcm", "-o", "xml"), ["--output", "'xml'"]),
    "rotate apply: -o xml": (_case(_apply, "-o", "xml"), ["--output", "'xml'"]),
    "rotate status: -o xml": (_case(_status, "-o", "xml"), ["--output", "'xml'"]),
}


def _tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under ``root`` with its mode and content: what "nothing written" compares."""
    return {
        str(p.relative_to(root)): (p.stat().st_mode, None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_clear_error(name: str, tmp_path: Path) -> None:
    build, named = CASES[name]
    argv = build(tmp_path)
    before = _tree(tmp_path)
    result = runner.invoke(app, argv, catch_exceptions=False)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in named:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert OLD_KEY not in result.stderr
    assert _tree(tmp_path) == before  # no state, no staged file, no backup, config untouched


def test_every_case_names_a_rotate_command(tmp_path: Path) -> None:
    commands = {" ".join(build(tmp_path)[:2]) for build, _ in CASES.values()}
    assert commands == {"rotate plan", "rotate apply", "rotate status"}


# Good input: plan and status show stages, files and hashes, never a key


def _run(argv: list[str]) -> str:
    result = runner.invoke(app, argv, env={"COLUMNS": "400"}, catch_exceptions=False)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    return result.stdout


def _keys_in(path: Path) -> set[str]:
    """Every key value (``secret:``) a staged EncryptionConfiguration holds."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for field, value in node.items():
                if field == "secret" and isinstance(value, str):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(path.read_text()))
    return found


def test_plan_shows_the_five_stages_files_and_hashes_never_a_key(tmp_path: Path) -> None:
    config = _inputs(tmp_path) / "enc.yaml"
    before = _tree(tmp_path)
    text = _run(["rotate", "plan", "--config", str(config), "--to", "aesgcm"])
    for number, stage in enumerate(STAGES, 1):
        assert re.search(rf"│ {number} │ {stage} ", text), (stage, text)
    for stage in ("add", "promote", "remove"):
        assert str(staged_path(config, stage)) in text
    assert len(re.findall(r"sha256:[0-9a-f]{12}\b", text)) == 3  # one per staged file
    assert "aescbc key key1 -> aesgcm key key-" in text
    assert OLD_KEY not in text
    assert not KEY_VALUE.search(text), text

    document = json.loads(
        _run(["rotate", "plan", "-c", str(config), "--to", "aesgcm", "-o", "json"])
    )
    assert document["target"] == "aesgcm"
    assert document["entries"] == ["resources[0]"]
    assert document["resources"] == ["secrets"]
    stages = document["stages"]
    assert [stage["name"] for stage in stages] == list(STAGES)
    for stage in stages:
        if stage["name"] in ("reencrypt", "verify"):
            assert stage["file"] is None
            assert stage["hash"] is None
        else:
            assert stage["file"] == str(staged_path(config, stage["name"]))
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", stage["hash"])
            assert KEY_VALUE.search(stage["summary"]) is None
    assert len({stage["hash"] for stage in stages if stage["hash"]}) == 3
    assert not KEY_VALUE.search(json.dumps(document))
    assert _tree(tmp_path) == before  # plan writes nothing


def test_status_without_a_rotation_says_so(tmp_path: Path) -> None:
    config = _inputs(tmp_path) / "enc.yaml"
    text = _run(["rotate", "status", "--config", str(config)])
    short = config_hash(config.read_bytes())[: len("sha256:") + 12]
    assert text.startswith(f"no rotation in progress for {config} ({short})"), text
    document = json.loads(_run(["rotate", "status", "-c", str(config), "-o", "json"]))
    assert document["inProgress"] is False
    assert (document["target"], document["next"], document["stages"]) == (None, None, [])
    assert document["currentHash"] == config_hash(config.read_bytes())


def test_an_interrupted_apply_shows_in_status_and_no_output_holds_a_key(tmp_path: Path) -> None:
    """apply draws the keys once and keeps them in the staged files (0600) before it asks the
    cluster; with no apiserver reachable it stops there (exit 3), the config untouched. status
    then shows those files and their hashes; no output of apply, plan or status holds a key."""
    config = _inputs(tmp_path) / "enc.yaml"
    kubeconfig = str(tmp_path / "kubeconfig.yaml")
    result = runner.invoke(
        app,
        ["rotate", "apply", "-c", str(config), "--to", "aesgcm", "--kubeconfig", kubeconfig],
        catch_exceptions=False,
    )
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert config.read_text() == CONFIG
    files = {stage: staged_path(config, stage) for stage in ("add", "promote", "remove")}
    keys = {OLD_KEY}.union(*(_keys_in(path) for path in files.values()))
    assert len(keys) == 2  # the old key and the one new key the staged files share
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in files.values())

    outputs = [result.stdout + result.stderr]
    document = json.loads(_run(["rotate", "status", "-c", str(config), "-o", "json"]))
    assert (document["inProgress"], document["target"], document["next"]) == (
        True,
        "aesgcm",
        "add",
    )
    expected = {stage["name"]: stage for stage in document["stages"]}
    assert list(expected) == list(STAGES)
    for stage, path in files.items():
        assert expected[stage]["file"] == str(path)
        assert expected[stage]["present"] is True
        assert expected[stage]["expectedHash"] == config_hash(path.read_bytes())
    # reencrypt and verify write no file: they run under the promoted one
    assert expected["verify"]["expectedHash"] == config_hash(files["promote"].read_bytes())
    outputs.append(json.dumps(document))
    table = _run(["rotate", "status", "-c", str(config)])
    assert f"rotation of {config} to aesgcm: next stage add" in table
    for path in files.values():
        assert str(path) in table
        assert config_hash(path.read_bytes())[: len("sha256:") + 12] in table
    outputs.append(table)
    outputs.append(_run(["rotate", "plan", "-c", str(config), "--to", "aesgcm"]))
    for output in outputs:
        assert not any(key in output for key in keys), output
