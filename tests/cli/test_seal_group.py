"""``sealbox seal`` is a group and still kubeseal's one command: arguments that do not name a
subcommand seal, and the help page teaches both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from sealbox.cli import app
from tests.cli.test_seal_cli import MANIFEST, sealing_cert

runner = CliRunner()


@pytest.fixture
def cert(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.pem"
    path.write_bytes(sealing_cert(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    return path


def test_options_first_and_file_first_both_seal(cert: Path) -> None:
    for args in (["seal", "--cert", str(cert)], ["seal", "-", "--cert", str(cert)]):
        result = runner.invoke(app, args, input=MANIFEST)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["kind"] == "SealedSecret"


def test_help_shows_the_sealing_options_and_the_subcommands() -> None:
    result = runner.invoke(app, ["seal", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage: sealbox seal [OPTIONS]" in result.output
    assert "--cert" in result.output
    assert "inventory" in result.output
    assert "Commands" in result.output
    # help asked after sealing options is the same page
    again = runner.invoke(app, ["seal", "--cert", "x.pem", "--help"], env={"COLUMNS": "120"})
    assert again.output == result.output


def test_errors_of_the_default_command_speak_as_sealbox_seal() -> None:
    result = runner.invoke(app, ["seal", "--bogus"])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: sealbox seal: No such option: --bogus (see sealbox seal --help)\n"
    )
