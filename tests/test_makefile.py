"""The two commands of the quick start, read from the Makefile as make would run them (``make -n``,
nothing is executed): ``make run`` installs only what the demo needs, ``make test`` everything,
and neither fails at once while another apt holds the dpkg lock."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _plan(target: str) -> str:
    """What ``make TARGET`` would run from nothing (-B: as if nothing were installed yet)."""
    result = subprocess.run(
        ["make", "-nB", "--no-print-directory", target],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_make_run_installs_no_test_tools() -> None:
    plan = _plan("run")
    assert "etcd-server" in plan
    for only_for_tests in ("chromium", "softhsm2", "[dev]"):
        assert only_for_tests not in plan


def test_make_test_installs_the_servers_the_tests_start() -> None:
    plan = _plan("test")
    for package in ("etcd-server", "softhsm2", "chromium", "[dev]"):
        assert package in plan


@pytest.mark.parametrize("target", ["run", "test"])
def test_apt_waits_for_the_dpkg_lock(target: str) -> None:
    plan = _plan(target)
    assert "apt-get" in plan
    assert all("DPkg::Lock::Timeout=" in line for line in plan.splitlines() if "apt-get" in line)


@pytest.mark.parametrize("target", ["run", "test"])
def test_each_step_logs_to_a_file_and_prints_one_line(target: str) -> None:
    plan = _plan(target)
    installs = [line for line in plan.splitlines() if "pip install" in line]
    assert installs
    assert all(".venv/logs/" in line for line in installs)
