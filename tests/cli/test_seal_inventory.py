"""``sealbox seal inventory DIR``: every value of every SealedSecret in a tree, with the key that
sealed it; the exit code says whether any value's key is unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.sealing import public_key_fingerprint
from tests.cli.test_seal_cli import MANIFEST, PLAIN, sealing_cert

runner = CliRunner()


@pytest.fixture(scope="module")
def keys() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]


@pytest.fixture
def tree(tmp_path: Path, keys: list[rsa.RSAPrivateKey]) -> Path:
    """repo/ with a SealedSecret per key (upstream format), an envelope for keys 0 and 1, a
    broken file and a .git directory; keys/ with each key's cert and PEM."""
    keydir, repo = tmp_path / "keys", tmp_path / "repo"
    keydir.mkdir()
    (repo / "apps" / ".git").mkdir(parents=True)
    for index, key in enumerate(keys):
        (keydir / f"cert-{index}.pem").write_bytes(sealing_cert(key))
        (keydir / f"key-{index}.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        args = ["seal", "--cert", str(keydir / f"cert-{index}.pem"), "-o", "yaml"]
        out = repo / "apps" / f"sealed-{index}.yaml"
        assert runner.invoke(app, [*args, "--output-file", str(out)], input=MANIFEST).exit_code == 0
    args = [
        "seal",
        "--recipients",
        str(keydir / "cert-0.pem"),
        "--recipients",
        str(keydir / "cert-1.pem"),
    ]
    result = runner.invoke(
        app, [*args, "--output-file", str(repo / "envelope.json")], input=MANIFEST
    )
    assert result.exit_code == 0, result.stderr
    (repo / "broken.yaml").write_text("a: [\n")
    (repo / "apps" / ".git" / "old.yaml").write_text((repo / "apps" / "sealed-2.yaml").read_text())
    return tmp_path


def test_json_names_each_values_key(tree: Path, keys: list[rsa.RSAPrivateKey]) -> None:
    args = ["seal", "inventory", str(tree / "repo"), "-o", "json"]
    args += ["--private-key", f"{tree / 'keys/key-0.pem'},{tree / 'keys/key-1.pem'}"]
    args += ["--private-key", str(tree / "keys/key-2.pem")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    found = {(v["file"], v["item"]): (v["format"], v["keys"]) for v in report["values"]}
    key = [str(tree / f"keys/key-{i}.pem") for i in range(3)]
    assert found == {
        **{
            (f"apps/sealed-{i}.yaml", item): ("upstream", [key[i]])
            for i in range(3)
            for item in ("password", "username")
        },
        **{
            ("envelope.json", item): ("envelope", [key[0], key[1]])
            for item in ("password", "username")
        },
    }
    assert report["keys"] == {key[0]: 4, key[1]: 4, key[2]: 2}
    assert report["unreadableFiles"] == ["broken.yaml"]
    assert "broken.yaml: not valid YAML or JSON; skipped" in result.stderr
    assert PLAIN not in result.stdout + result.stderr


def test_unknown_values_and_unused_keys_in_the_table(
    tree: Path, keys: list[rsa.RSAPrivateKey]
) -> None:
    args = ["seal", "inventory", str(tree / "repo"), "--private-key", str(tree / "keys/key-0.pem")]
    args += ["--cert", str(tree / "keys/cert-1.pem")]
    result = runner.invoke(app, args, env={"COLUMNS": "250"})
    assert result.exit_code == 1  # key 2's values: nothing given opens them
    assert "unknown" in result.stdout
    assert str(tree / "keys/cert-1.pem") in result.stdout  # names the envelope's recipient
    assert "Values per key" in result.stdout
    only_envelope = runner.invoke(
        app, ["seal", "inventory", str(tree / "repo/envelope.json"), "-o", "json"]
    )
    assert only_envelope.exit_code == 0, only_envelope.stderr
    report = json.loads(only_envelope.stdout)
    assert report["keys"] == {public_key_fingerprint(k.public_key()): 2 for k in keys[:2]}
