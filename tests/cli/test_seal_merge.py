"""``sealbox seal --merge-into``: items added and replaced in place, every other ciphertext kept
byte for byte, the file's format, mode and scope kept."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.sealing import Scope, decode_value, label_for
from sealbox.sealing.hybrid import unseal  # the package's `unseal` name is also a module's
from tests.cli.test_seal_cli import sealing_cert

runner = CliRunner()


def _secret(items: dict[str, str], annotations: str = "") -> str:
    lines = "".join(f"  {k}: {v}\n" for k, v in items.items())
    return (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\n"
        f"  labels: {{tier: one}}\n{annotations}stringData:\n{lines}"
    )


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def cert(tmp_path: Path, key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "cluster.pem"
    path.write_bytes(sealing_cert(key))
    return path


def _sealed_file(tmp_path: Path, cert: Path, name: str, *args: str) -> Path:
    path = tmp_path / name
    result = runner.invoke(
        app,
        ["seal", "--cert", str(cert), "--output-file", str(path), *args],
        input=_secret({"a": "one", "b": "two", "c": "three"}),
    )
    assert result.exit_code == 0, result.stderr
    path.chmod(0o644)
    return path


def _ciphertexts(text: str) -> dict[str, str]:
    """Each item's ciphertext as written in the file (JSON or YAML), by item name."""
    return dict(re.findall(r'^\s*"?([abcd])"?: "?([A-Za-z0-9+/=]{100,})"?,?$', text, re.M))


def _opened(key: rsa.RSAPrivateKey, sealed: dict[str, Any], scope: Scope) -> dict[str, bytes]:
    label = label_for(scope, "prod", "db")
    return {
        item: unseal([key], decode_value(text, item), label)
        for item, text in sealed["spec"]["encryptedData"].items()
    }


@pytest.mark.parametrize("name", ["sealed.yaml", "sealed.json"])
def test_untouched_items_stay_byte_identical(
    tmp_path: Path, cert: Path, key: rsa.RSAPrivateKey, name: str
) -> None:
    path = _sealed_file(tmp_path, cert, name, "-o", "yaml" if name.endswith("yaml") else "json")
    before = path.read_text()
    update = _secret({"b": "TWO", "d": "four"}).replace("tier: one", "tier: two")
    result = runner.invoke(
        app, ["seal", "--cert", str(cert), "--merge-into", str(path)], input=update
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    after = path.read_text()
    old, new = _ciphertexts(before), _ciphertexts(after)
    assert set(new) == {"a", "b", "c", "d"}
    assert new["a"] == old["a"]  # the exact text, byte for byte
    assert new["c"] == old["c"]
    assert new["b"] != old["b"]
    assert after.startswith("{") == name.endswith(".json")  # the file's own format
    assert path.stat().st_mode & 0o777 == 0o644  # a file in Git keeps its mode
    sealed = yaml.safe_load(after)
    assert _opened(key, sealed, Scope.STRICT) == {
        "a": b"one",
        "b": b"TWO",
        "c": b"three",
        "d": b"four",
    }
    assert sealed["spec"]["template"]["metadata"]["labels"] == {"tier": "two"}
    assert list(sealed["spec"]["encryptedData"]) == ["a", "b", "c", "d"]


def test_the_file_scope_is_used_and_a_different_one_refused(
    tmp_path: Path, cert: Path, key: rsa.RSAPrivateKey
) -> None:
    path = _sealed_file(tmp_path, cert, "sealed.json", "--scope", "namespace-wide")
    args = ["seal", "--cert", str(cert), "--merge-into", str(path)]
    result = runner.invoke(app, args, input=_secret({"d": "four"}))
    assert result.exit_code == 0, result.stderr
    sealed = json.loads(path.read_text())
    assert _opened(key, sealed, Scope.NAMESPACE_WIDE)["d"] == b"four"
    before = path.read_bytes()
    refused = runner.invoke(app, [*args, "--scope", "strict"], input=_secret({"d": "x"}))
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"error: stdin: would be sealed strict, but --merge-into {path} is namespace-wide; "
        "pass --scope namespace-wide (one SealedSecret has one scope)\n"
    )
    assert path.read_bytes() == before


def test_the_file_name_and_namespace_are_used(
    tmp_path: Path, cert: Path, key: rsa.RSAPrivateKey
) -> None:
    path = _sealed_file(tmp_path, cert, "sealed.yaml")
    other = (
        _secret({"e": "five"}).replace("name: db", "name: other").replace("  namespace: prod\n", "")
    )
    result = runner.invoke(
        app, ["seal", "--cert", str(cert), "--merge-into", str(path)], input=other
    )
    assert result.exit_code == 0, result.stderr
    sealed = yaml.safe_load(path.read_text())
    assert sealed["metadata"]["name"] == "db"
    assert _opened(key, sealed, Scope.STRICT)["e"] == b"five"
