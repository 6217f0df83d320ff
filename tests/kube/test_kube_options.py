"""``--kubeconfig``/``--context`` on a command: the flags, KUBECONFIG, and a client that works."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml
from lightkube.resources.core_v1 import Namespace
from typer.testing import CliRunner

from sealbox.cli.kube_options import KubeOptions, open_kube, with_kube_options
from sealbox.errors import KubeConfigError
from tests.integration.kube_apiserver import KubeApiserver


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @with_kube_options
    def namespaces(*, prefix: str = "", kube: KubeOptions) -> None:
        """Print the namespaces whose name starts with --prefix."""
        with open_kube(kube) as client:
            for item in client.list(Namespace):
                if item.metadata and (item.metadata.name or "").startswith(prefix):
                    typer.echo(item.metadata.name)

    return app


def test_help_lists_the_shared_flags() -> None:
    result = CliRunner().invoke(_app(), ["--help"])
    assert result.exit_code == 0
    assert "--kubeconfig" in result.output
    assert "--context" in result.output
    assert "--prefix" in result.output


def test_the_flags_pick_file_and_context(kube_apiserver: KubeApiserver, tmp_path: Path) -> None:
    document = kube_apiserver.kubeconfig_document("admin", context="other")
    document["contexts"].append({"name": "real", "context": document["contexts"][0]["context"]})
    document["contexts"][0]["context"] = {"cluster": "missing", "user": "admin"}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    args = ["--kubeconfig", str(path), "--context", "real", "--prefix", "default"]
    result = CliRunner().invoke(_app(), args, env={"KUBECONFIG": None})
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["default"]


def test_kubeconfig_comes_from_the_environment(kube_apiserver: KubeApiserver) -> None:
    env = {"KUBECONFIG": str(kube_apiserver.kubeconfig)}
    result = CliRunner().invoke(_app(), ["--prefix", "kube-system"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["kube-system"]


def test_an_unknown_context_is_a_config_error(kube_apiserver: KubeApiserver) -> None:
    args = ["--kubeconfig", str(kube_apiserver.kubeconfig), "--context", "prod"]
    result = CliRunner().invoke(_app(), args)
    assert isinstance(result.exception, KubeConfigError)
    assert "--context prod: no such context" in str(result.exception)


def test_a_command_without_the_parameter_is_refused() -> None:
    def bare() -> None:
        """Nothing."""

    with pytest.raises(TypeError, match="no parameter `kube: KubeOptions`"):
        with_kube_options(bare)
