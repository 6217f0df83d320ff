"""The Containerfile's shape, read as text: no container runtime is needed to check it.

Multi-stage; the final stage starts from a slim Python >= 3.11, installs no build tools, copies
the venv from the builder (which installs the wheel with constraints.txt), runs as a numeric
non-root user (the one the manifests run as), and its entrypoint is ``sealbox``. The image name it
documents is the one the manifests run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest

from tests.deploy.manifests import IMAGE, REPO, VERSION, WORKLOADS, workload

CONTAINERFILE = REPO / "Containerfile"
BUILD_TOOLS = re.compile(
    r"\b(gcc|g\+\+|clang|cc|make|build-essential|[\w.+-]+-dev|python3-dev|cargo|rustc)\b"
)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for word, args in self.instructions if word == keyword]


def _instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in CONTAINERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    assert not pending, "the Containerfile ends inside a continued line"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined]


def _stages() -> tuple[dict[str, str], list[Stage]]:
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for word, args in _instructions():
        if word == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif not stages and word == "ARG":
            key, _, value = args.partition("=")
            arguments[key] = value
        elif stages:
            stages[-1].instructions.append((word, args))
    return arguments, stages


def _base(arguments: dict[str, str], stage: Stage) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: arguments[m.group(1)], stage.base)


def test_multi_stage_from_a_slim_python() -> None:
    arguments, stages = _stages()
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert builder.name == "builder"
    assert final.name is None
    for stage in stages:
        base = _base(arguments, stage)
        match = re.fullmatch(r"(?:[\w.-]+/)*python:(\d+)\.(\d+)-slim(?:-\w+)?", base)
        assert match, f"{base}: expected a slim Python image"
        assert (int(match.group(1)), int(match.group(2))) >= (3, 11)
    # The venv's scripts name its interpreter by path: both stages must have the same Python.
    assert _base(arguments, builder) == _base(arguments, final)


def test_builder_installs_the_wheel_with_constraints() -> None:
    _, stages = _stages()
    run = " ".join(stages[0].all("RUN"))
    assert "pip wheel" in run
    assert "-c constraints.txt" in run
    assert re.search(r"pip install [^&]*/wheels/sealbox-\*\.whl", run)
    assert "--only-binary=:all:" in run  # no compiler needed, none may sneak in


def test_final_stage_has_no_build_tools() -> None:
    _, stages = _stages()
    final = stages[-1]
    text = " ".join(args for _, args in final.instructions)
    assert not BUILD_TOOLS.findall(text.replace("RUNTIME_PACKAGES", ""))
    assert final.all("COPY") == ["--from=builder /opt/sealbox /opt/sealbox"]
    assert not [a for a in final.all("COPY") + final.all("ADD") if "--from" not in a]


def test_final_user_is_numeric_and_the_manifests_user() -> None:
    _, stages = _stages()
    (user,) = stages[-1].all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert gid.isdigit()
    assert int(uid) > 0
    for name in WORKLOADS:
        security = workload(name).pod["securityContext"]
        assert (security["runAsUser"], security["runAsGroup"]) == (int(uid), int(gid)), name


def test_entrypoint_is_sealbox() -> None:
    _, stages = _stages()
    (entrypoint,) = stages[-1].all("ENTRYPOINT")
    assert json.loads(entrypoint) == ["sealbox"]


@pytest.mark.parametrize("name", WORKLOADS)
def test_manifests_run_the_documented_image(name: str) -> None:
    documented = f"{IMAGE}:{VERSION}"
    header = CONTAINERFILE.read_text().splitlines()[0]
    assert header.endswith(documented)
    for container in [*workload(name).pod["containers"], *workload(name).pod["initContainers"]]:
        if name != "daemonset/pkcs11":
            assert container["image"] == documented
        else:  # the variant with a PKCS#11 module, built as the Containerfile says
            assert container["image"] == f"{IMAGE}-pkcs11:{VERSION}"
            assert f"-t {IMAGE}-pkcs11:{VERSION}" in CONTAINERFILE.read_text()


def test_ignore_files_send_only_the_sources() -> None:
    containerignore = (REPO / ".containerignore").read_text()
    assert (REPO / ".dockerignore").read_text() == containerignore
    assert containerignore.splitlines()[1] == "*"
