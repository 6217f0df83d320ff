"""Issue 14's acceptance: ``sealbox rotate apply`` on a live two-apiserver control plane.

Two hot-reloading kube-apiservers on one etcd load the same config file (see
:mod:`tests.rotate.plane`) while a writer keeps creating and updating Secrets through both. The
rotation runs as an operator runs it, the ``sealbox rotate apply`` command in a process of its own:

1. aescbc ``key1`` -> aesgcm, the process SIGKILLed in each of the five stages (told apart by
   its stderr) and run again each time: every rerun resumes where the last one died, the file is
   always a whole staged file, and the last run finishes the rotation.
2. aesgcm -> ``kms:<name>`` (a real ``sealbox kms serve``), first with the second apiserver
   stopped: the gate holds, names it on stderr and gives up after ``--timeout`` (exit 3, nothing
   marked done); once it runs again the rerun finishes.
3. Then: the file holds the KMS provider alone, etcd holds every Secret under KMS v2, and every
   Secret reads back through each apiserver as the writer last wrote it.

Every stage that changes the file waits for the apiservers' reload poll (once a minute), so the
module pays six such waits and no more: the kills land inside stages that wait anyway, and the
stopped apiserver loads the current file when it starts again. The tests run in order on one
module-scoped control plane: each rotation starts where the one before ended.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import yaml

from sealbox.encryption import config_hash, parse_config
from sealbox.rotate.apply import expected_file
from sealbox.rotate.files import state_path
from sealbox.rotate.plan import STAGES
from sealbox.rotate.state import RotationRecord, RotationState, load_rotation
from tests.conformance.api import api_request, etcd_values
from tests.integration.etcd_server import EtcdServer
from tests.integration.plugin_process import SEALBOX
from tests.rotate.plane import KMS_NAME, NAMESPACE, Plane, Writer, file_mode, running_plane

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

_LINE_SECONDS = 240.0  # a stage waits for both apiservers' reload poll (each once a minute)
_RUN_SECONDS = 420.0  # a whole rotation: three such waits
_SEEDED = 60  # Secrets written under aescbc key1 before the writer starts
_QPS = "20"  # slow enough that re-encryption and verify last a few seconds: a kill lands inside
_AESGCM_HEAD = b"k8s:enc:aesgcm:v1:key-"
_AESCBC_HEAD = b"k8s:enc:aescbc:v1:key1:"
_KMS_HEAD = f"k8s:enc:kms:v2:{KMS_NAME}:".encode()


@dataclass
class Scene:
    plane: Plane
    writer: Writer


@pytest.fixture(scope="module")
def scene(etcd_server: EtcdServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with running_plane(etcd_server, tmp_path_factory.mktemp("rotate-acceptance")) as plane:
        writer = Writer(plane.servers)
        writer.seed(_SEEDED)
        writer.start()
        try:
            yield Scene(plane, writer)
        finally:
            writer.stop()


class Apply:
    """One ``sealbox rotate apply`` process; its stderr lines, as they come, in ``seen``."""

    def __init__(self, plane: Plane, target: str, *extra: str) -> None:
        argv = [
            *SEALBOX,
            "rotate",
            "apply",
            "--config",
            str(plane.config),
            "--to",
            target,
            "--apiserver",
            plane.first.url,
            "--apiserver",
            plane.second.url,
            "--kubeconfig",
            str(plane.kubeconfig),
            "--qps",
            _QPS,
            *extra,
        ]
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def until(self, wanted: Callable[[str], bool], what: str) -> str:
        """The first stderr line ``wanted`` accepts (AssertionError if the process ends first)."""
        deadline = time.monotonic() + _LINE_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                code = self.process.wait()
                raise AssertionError(f"apply exited {code} before {what}:\n{self.transcript}")
            self.seen.append(line)
            if wanted(line):
                return line
        raise AssertionError(f"no {what} after {_LINE_SECONDS:g}s:\n{self.transcript}")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL
        self._drain()

    def finish(self, timeout: float = _RUN_SECONDS) -> int:
        code = self.process.wait(timeout=timeout)
        self._drain()
        return code

    def _drain(self) -> None:
        while (line := self._lines.get(timeout=30)) is not None:
            self.seen.append(line)

    @property
    def transcript(self) -> str:
        return "\n".join(self.seen[-40:])


def _starts(text: str) -> Callable[[str], bool]:
    return lambda line: line.startswith(text)


_PROGRESS = re.compile(r"stage reencrypt: (\d+)/(\d+) objects")


def _mid_reencrypt(line: str) -> bool:
    """A progress line with some objects rewritten and some still to go."""
    match = _PROGRESS.match(line)
    return match is not None and 0 < int(match.group(1)) < int(match.group(2))


_KILL_POINTS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("add", _starts("stage add: waiting until every apiserver has loaded")),  # file written
    ("promote", _starts("stage promote: waiting until every apiserver has loaded")),
    ("reencrypt", _mid_reencrypt),
    ("verify", _starts("stage verify: waiting until every apiserver has loaded")),
    ("remove", _starts("stage remove: waiting until every apiserver has loaded")),
)


def _stored(plane: Plane) -> dict[str, bytes]:
    """Every Secret's raw value in etcd, by key."""
    return etcd_values(plane.etcd, f"{plane.prefix}/secrets/", prefix=True)


def _heads(plane: Plane, *heads: bytes) -> dict[bytes, int]:
    """How many stored Secret values start with each of ``heads`` (the rest under ``b""``)."""
    counts = dict.fromkeys((*heads, b""), 0)
    for value in _stored(plane).values():
        counts[next((head for head in heads if value.startswith(head)), b"")] += 1
    return counts


def _assert_killed_whole(plane: Plane, stage: str, run: Apply) -> RotationState:
    """After a kill in ``stage``: the state records exactly the stages before it, and the file
    is whole, valid, still 0600 and the one that stage runs on."""
    state = RotationState.load(state_path(plane.config))
    assert state is not None, run.transcript
    assert state.done == list(STAGES[: STAGES.index(stage)]), run.transcript
    current = plane.config.read_bytes()
    assert current == expected_file(plane.config, state, stage)
    parse_config(current.decode(), str(plane.config), reload=True)
    assert file_mode(plane.config) == 0o600
    return state


def _all_read(plane: Plane, names: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    """Each Secret read by name through each apiserver (a GET reads etcd, not the watch cache,
    so each value is decrypted with the keys that apiserver holds now): url -> name -> data."""

    def read(pair: tuple[int, str]) -> tuple[int, str, dict[str, str]]:
        server = plane.servers[pair[0]]
        path = f"/api/v1/namespaces/{NAMESPACE}/secrets/{pair[1]}"
        status, answer = api_request(server, "GET", path)
        assert status == 200, f"{pair[1]} through {server.url}: HTTP {status}"
        return pair[0], pair[1], dict(answer.get("data") or {})

    found: dict[str, dict[str, dict[str, str]]] = {url: {} for url in plane.urls}
    with ThreadPoolExecutor(8) as pool:
        for index, name, data in pool.map(read, [(i, n) for i in (0, 1) for n in names]):
            found[plane.urls[index]][name] = data
    return found


def _providers(plane: Plane) -> list[dict[str, object]]:
    document = yaml.safe_load(plane.config.read_text())
    (entry,) = document["resources"]
    assert entry["resources"] == ["secrets"]
    providers = entry["providers"]
    assert isinstance(providers, list)
    return providers


def _assert_finished(plane: Plane, target: str) -> None:
    """Only the record of the finished rotation is left beside the config (no staged file, so
    no key), and running the same rotation again is a no-op that says so."""
    record = load_rotation(state_path(plane.config))
    assert isinstance(record, RotationRecord), record
    assert record.covers(target, config_hash(plane.config.read_bytes()))
    assert sorted(path.name for path in plane.config.parent.glob("*.rotation-*")) == []
    assert file_mode(plane.config) == 0o600
    again = Apply(plane, target, *_kms_flags(plane, target))
    assert again.finish(timeout=60) == 0, again.transcript
    assert any(line.startswith(f"rotation to {target} already complete") for line in again.seen)
    assert not any(line.startswith("stage ") for line in again.seen), again.transcript


def _kms_flags(plane: Plane, target: str) -> tuple[str, ...]:
    return ("--kms-endpoint", plane.plugin.endpoint) if target.startswith("kms:") else ()


def test_aescbc_to_aesgcm_killed_in_every_stage_resumes_and_finishes(scene: Scene) -> None:
    plane, writer = scene.plane, scene.writer
    original = plane.config.read_text()
    before = writer.total
    runs: list[Apply] = []
    for stage, trigger in _KILL_POINTS:
        run = Apply(plane, "aesgcm")
        runs.append(run)
        if stage != "add":  # the last run died in the stage before this one
            done = ", ".join(STAGES[: STAGES.index(stage) - 1]) or "none"
            run.until(_starts(f"resuming the rotation to aesgcm: done so far: {done}"), "resume")
        run.until(trigger, f"the {stage} stage under way")
        run.kill()
        _assert_killed_whole(plane, stage, run)
        if stage == "reencrypt":  # killed half-way: both keys in use, the old one readable
            counts = _heads(plane, _AESCBC_HEAD, _AESGCM_HEAD)
            assert counts[_AESCBC_HEAD] > 0, counts
            assert counts[_AESGCM_HEAD] > 0, counts
            assert counts[b""] == 0, counts

    last = Apply(plane, "aesgcm")
    assert last.finish() == 0, last.transcript
    assert "resuming the rotation to aesgcm: done so far: add, promote, reencrypt, verify" in (
        last.seen
    )
    assert last.seen[-1].startswith("rotation to aesgcm complete"), last.transcript
    _assert_finished(plane, "aesgcm")

    # while the file was waited for, the gate said which apiserver lagged, by URL
    waited = [line for run in runs for line in run.seen if "still runs sha256:" in line]
    assert any(url in line for line in waited for url in plane.urls), waited

    (provider,) = _providers(plane)
    (key,) = provider["aesgcm"]["keys"]  # type: ignore[index]
    assert key["name"].startswith("key-")
    text = plane.config.read_text()
    assert "aescbc" not in text
    assert "key1" not in text
    old_secret = yaml.safe_load(original)["resources"][0]["providers"][0]["aescbc"]["keys"][0]
    assert old_secret["secret"] not in text
    head = f"k8s:enc:aesgcm:v1:{key['name']}:".encode()
    assert _heads(plane, head) == {head: len(_stored(plane)), b"": 0}
    assert writer.total - before > 100, writer.writes
    assert all(writer.writes), writer.writes
    _all_read(plane, sorted(writer.last))
    assert writer.errors == []


def test_the_gate_names_a_stopped_apiserver_then_aesgcm_to_kms_v2_finishes(
    scene: Scene,
) -> None:
    plane, writer = scene.plane, scene.writer
    assert not isinstance(load_rotation(state_path(plane.config)), RotationState), (
        "the aesgcm rotation did not finish"
    )
    assert list(_providers(plane)[0]) == ["aesgcm"], "the aesgcm rotation did not finish"
    target = f"kms:{KMS_NAME}"
    kms = _kms_flags(plane, target)
    before = writer.total

    plane.second.process.stop()
    try:
        blocked = Apply(plane, target, *kms, "--timeout", "10s")
        code = blocked.finish(timeout=180)
    finally:
        plane.restart_second()  # it loads the file as apply left it: the add stage's
    assert code == 3, blocked.transcript
    said = f"stage add: {plane.second.url}: unreachable"
    assert any(line.startswith(said) for line in blocked.seen), blocked.transcript
    error = [line for line in blocked.seen if line.startswith("error:")]
    assert len(error) == 1, blocked.transcript
    assert plane.second.url in error[0], blocked.transcript
    _assert_killed_whole(plane, "add", blocked)
    assert [next(iter(p)) for p in _providers(plane)] == ["aesgcm", "kms"]

    run = Apply(plane, target, *kms)
    assert run.finish() == 0, run.transcript
    assert f"resuming the rotation to {target}: done so far: none" in run.seen
    assert run.seen[-1].startswith(f"rotation to {target} complete"), run.transcript
    _assert_finished(plane, target)

    (provider,) = _providers(plane)
    assert provider == {
        "kms": {
            "apiVersion": "v2",
            "name": KMS_NAME,
            "endpoint": plane.plugin.endpoint,
            "timeout": "3s",
        }
    }
    assert "aesgcm" not in plane.config.read_text()
    assert writer.total - before > 100, writer.writes
    assert all(writer.writes), writer.writes


def test_every_secret_is_under_kms_v2_and_reads_back_as_last_written(scene: Scene) -> None:
    plane, writer = scene.plane, scene.writer
    writer.stop()
    assert writer.errors == []
    names = sorted(writer.last)
    assert len(names) > _SEEDED

    stored = _stored(plane)
    assert sorted(stored) == [f"{plane.prefix}/secrets/{NAMESPACE}/{name}" for name in names]
    assert _heads(plane, _KMS_HEAD) == {_KMS_HEAD: len(names), b"": 0}

    read = _all_read(plane, names)
    for url in plane.urls:
        lost = [name for name in names if read[url][name] != writer.last[name]]
        assert lost == [], f"{len(lost)} Secrets through {url} differ from the last write"
