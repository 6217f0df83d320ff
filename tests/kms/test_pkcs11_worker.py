"""The PKCS#11 worker process and the plugin-side proxy that drives it over pipes.

Framing and error mapping are checked in-process; the worker is then fed random bytes as a real
process, and the proxy runs real workers on SoftHSM2 tokens: round trips, error classes, a killed
or hung worker and its restart, shutdown without orphans, and no secret in argv or logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.errors import (
    AccessDenied,
    BackendRejected,
    BackendUnavailable,
    ConfigError,
    ConfigIssue,
    SealboxError,
)
from sealbox.kms.backends import Backend
from sealbox.kms.backends.pkcs11 import KIND, Config, Pkcs11Backend, Pkcs11Proxy, build
from sealbox.kms.backends.pkcs11 import _format as fmt
from sealbox.kms.backends.pkcs11 import _wire as wire
from sealbox.kms.backends.pkcs11._pipe import Pacer as _Pacer
from sealbox.kms.backends.pkcs11._proxy import WORKER_COMMAND
from sealbox.kms.plugin import PluginService
from tests.integration.backends import pkcs11 as fixtures
from tests.integration.backends.pkcs11 import SoftHsmToken
from tests.integration.processes import wait_until

softhsm_token = fixtures.softhsm_token

T = TypeVar("T")
SEED = bytes(range(32))


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# -- framing (no process) ------------------------------------------------------------------------


def test_frames_round_trip_whole_split_and_concatenated() -> None:
    frames = [
        (1, wire.UNWRAP, [b"\x01" * 45, b"pkcs11:token=t;object=k;id=%53", b"a.b", b""]),
        (2, wire.WRAP, [os.urandom(4096)]),
        (0xFFFFFFFF, wire.CURRENT_KEY_ID, []),
        (7, wire.OK, [b""]),
    ]
    stream = b"".join(wire.encode_frame(*frame) for frame in frames)
    whole = bytearray(stream)
    assert wire.split_frames(whole) == frames
    assert whole == b""
    trickled, seen = bytearray(), []
    for byte in stream:  # one byte at a time: a frame appears only once it is complete
        trickled.append(byte)
        seen += wire.split_frames(trickled)
    assert seen == frames
    assert trickled == b""


def test_frame_layout_is_length_id_code_fields() -> None:
    frame = wire.encode_frame(0x01020304, wire.WRAP, [b"ab"])
    assert frame == b"\x00\x00\x00\x0b" + b"\x01\x02\x03\x04" + b"\x03" + b"\x00\x00\x00\x02ab"


@pytest.mark.parametrize(
    ("stream", "problem"),
    [
        (b"\x00\x00\x00\x04abcd", "frame length 4"),
        (b"\x7f\xff\xff\xff", "frame length 2147483647"),
        (b"\x00\x00\x00\x07" + b"\x00\x00\x00\x01\x02" + b"\x00\x00", "field header crosses"),
        (b"\x00\x00\x00\x09" + b"\x00\x00\x00\x01\x02" + b"\x00\x00\x00\x09", "field crosses"),
    ],
)
def test_broken_framing_is_a_frame_error(stream: bytes, problem: str) -> None:
    with pytest.raises(wire.FrameError, match=problem):
        wire.split_frames(bytearray(stream))


def test_oversized_frames_are_refused_when_encoding() -> None:
    with pytest.raises(wire.FrameError, match="over the"):
        wire.encode_frame(1, wire.WRAP, [b"x" * wire.MAX_FRAME_BYTES])


@given(st.binary(max_size=300))
def test_split_frames_on_random_bytes_only_returns_frames_or_frame_error(data: bytes) -> None:
    buffer = bytearray(data)
    try:
        frames = wire.split_frames(buffer)
    except wire.FrameError:
        return
    consumed = len(data) - len(buffer)
    assert b"".join(wire.encode_frame(*frame) for frame in frames) == data[:consumed]


@pytest.mark.parametrize(
    "error",
    [
        BackendRejected("pkcs11 token 't': the ciphertext does not decrypt under key_id 'k'"),
        BackendUnavailable("pkcs11 token 't': token unavailable (TokenNotPresent)"),
        AccessDenied("pkcs11 token 't' key 'k': the PIN for token 't' was rejected"),
        ConfigError("/etc/pin", [ConfigIssue("", "cannot read the PIN (No such file)")]),
        ConfigError("plugin", [ConfigIssue("a.b", "x"), ConfigIssue("c", "ünïcode")]),
        SealboxError("pkcs11 token 't' returned something odd"),
    ],
    ids=["rejected", "unavailable", "access-denied", "config", "config-issues", "sealbox"],
)
def test_errors_cross_the_pipe_as_the_same_class_and_message(error: SealboxError) -> None:
    [(call_id, code, fields)] = wire.split_frames(bytearray(wire.encode_error(9, error)))
    decoded = wire.decode_error(code, fields)
    assert call_id == 9
    assert type(decoded) is type(error)
    assert str(decoded) == str(error)
    if isinstance(error, ConfigError):
        assert isinstance(decoded, ConfigError)
        assert (decoded.source, decoded.issues) == (error.source, error.issues)


def test_unexpected_errors_cross_as_their_class_name_only() -> None:
    secret = SEED.hex()
    [(_, code, fields)] = wire.split_frames(
        bytearray(wire.encode_error(1, ValueError(f"boom {secret}")))
    )
    decoded = wire.decode_error(code, fields)
    assert type(decoded) is SealboxError
    assert "unexpected ValueError in the PKCS#11 worker" in str(decoded)
    assert secret not in str(decoded)
    garbled = wire.decode_error(0x7E, [b"x", b"y"])
    assert isinstance(garbled, BackendUnavailable)
    assert "malformed answer" in str(garbled)


# -- when the proxy writes (no process) -----------------------------------------------------------


def _paced(pacer: _Pacer, times: list[float]) -> list[float | None]:
    """Per call: when the write carrying it goes out (None: at the end of its iteration)."""
    plan: list[float | None] = []
    pending: float | None = None  # a write scheduled for later, which new calls join
    for now in times:
        if pending is not None and now >= pending:
            pacer.wrote(pending)
            pending = None
        pacer.called(now)
        if pending is None:
            pending = pacer.write_at(now)
            if pending is None:
                pacer.wrote(now)
        plan.append(pending)
    return plan


def test_sequential_and_slow_calls_are_never_held() -> None:
    pacer = _Pacer(window=0.001, min_calls=2)
    one_by_one = [i * 0.0008 for i in range(200)]  # 1,250 calls/s: concurrency 1 in the bench
    assert _paced(pacer, one_by_one) == [None] * 200


def test_a_sustained_burst_is_grouped_into_windows() -> None:
    pacer = _Pacer(window=0.001, min_calls=2)
    start = 100.0
    burst = [start + i * 0.0002 for i in range(300)]  # 5,000 calls/s
    plan = _paced(pacer, burst)
    assert plan[0] is None  # the first calls of a burst go at once
    held = [at for at in plan if at is not None]
    assert len(held) > 250
    assert len(set(held)) < 70  # about one write per window, not one per call
    for now, at in zip(burst, plan, strict=True):
        if at is not None:
            assert now < at <= now + 0.001  # never more than one window
    # After a pause the first call goes straight out again.
    pacer.called(start + 5.0)
    assert pacer.write_at(start + 5.0) is None


def test_a_zero_window_turns_grouping_off() -> None:
    pacer = _Pacer(window=0.0, min_calls=2)
    assert _paced(pacer, [i * 1e-6 for i in range(100)]) == [None] * 100


# -- the worker process on random input ----------------------------------------------------------


def _feed_worker(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        list(WORKER_COMMAND), input=stdin, capture_output=True, timeout=60, check=False
    )


def _assert_clean(result: subprocess.CompletedProcess[bytes]) -> None:
    """Exit 0, 1 or 2; no traceback; stdout is nothing but well-formed error answers."""
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode in (0, wire.EXIT_NO_BACKEND, wire.EXIT_BAD_INPUT), stderr
    assert "Traceback" not in stderr
    out = bytearray(result.stdout)
    answers = wire.split_frames(out)
    assert out == b""
    for _, code, _ in answers:
        assert code in (wire.REJECTED, wire.UNAVAILABLE, wire.CONFIG_ERROR, wire.OTHER_ERROR)


def _framed_garbage() -> st.SearchStrategy[bytes]:
    field = st.binary(max_size=40)
    frame = st.builds(
        wire.encode_frame,
        st.integers(0, 2**32 - 1),
        st.sampled_from([wire.HELLO, wire.CURRENT_KEY_ID, wire.WRAP, wire.UNWRAP, 0x00, 0xFF]),
        st.lists(field, max_size=4),
    )
    hello = st.builds(
        lambda doc: wire.encode_frame(1, wire.HELLO, [doc]),
        st.one_of(
            st.binary(max_size=60),
            st.sampled_from(
                [
                    b"{}",
                    b'{"config": {}, "baseDir": "/", "logLevel": "info"}',
                    b'{"config": {"type": "pkcs11"}, "baseDir": 1, "logLevel": "info"}',
                    b'{"config": {"type": "pkcs11", "tokenLabel": "t", "pinEnv": "NO_SUCH_PIN"},'
                    b' "baseDir": "/", "logLevel": "debug"}',
                ]
            ),
        ),
    )
    return st.builds(
        lambda first, rest, tail: first + b"".join(rest) + tail,
        st.one_of(hello, frame),
        st.lists(frame, max_size=3),
        st.binary(max_size=8),
    )


@pytest.mark.integration
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), _framed_garbage()))
def test_random_bytes_on_the_workers_stdin_end_cleanly(stdin: bytes) -> None:
    _assert_clean(_feed_worker(stdin))


@pytest.mark.integration
def test_worker_exit_codes() -> None:
    assert _feed_worker(b"").returncode == 0  # closed before HELLO
    bad = _feed_worker(wire.encode_frame(1, wire.WRAP, [b"x"]))
    assert bad.returncode == wire.EXIT_BAD_INPUT
    assert b"first request is not HELLO" in bad.stderr
    hello = b'{"config": {"type": "pkcs11", "tokenLabel": "t", "pinEnv": "NO_SUCH_PIN_VAR"}, '
    hello += b'"baseDir": "/", "logLevel": "info"}'
    no_pin = _feed_worker(wire.encode_frame(5, wire.HELLO, [hello]))
    assert no_pin.returncode == wire.EXIT_NO_BACKEND
    [(call_id, code, fields)] = wire.split_frames(bytearray(no_pin.stdout))
    error = wire.decode_error(code, fields)
    assert call_id == 5
    assert isinstance(error, ConfigError)
    assert "the PIN variable NO_SUCH_PIN_VAR is empty or not set" in str(error)
    _assert_clean(no_pin)


# -- the proxy against real workers on SoftHSM2 --------------------------------------------------


def _config(token: SoftHsmToken, **overrides: Any) -> Config:
    return Config.model_validate(token.config(**overrides))


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def proxy_for(softhsm_token: SoftHsmToken) -> Iterator[Callable[..., Pkcs11Proxy]]:
    made: list[Pkcs11Proxy] = []

    def factory(**options: Any) -> Pkcs11Proxy:
        overrides = options.pop("config", {})
        config = _config(softhsm_token, **overrides)
        proxy = Pkcs11Proxy(config, base_dir=softhsm_token.root, **options).start()
        made.append(proxy)
        return proxy

    yield factory
    for proxy in made:
        proxy.close()


def _state(pid: int) -> str:
    """The process state letter from /proc (R, S, T for stopped, Z, ...), "" when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return ""
    return stat.rsplit(")", 1)[1].split()[0]


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.integration
def test_round_trip_through_the_worker(
    proxy_for: Callable[..., Pkcs11Proxy], softhsm_token: SoftHsmToken
) -> None:
    proxy = proxy_for()
    served: Backend = proxy  # the plugin's contract, checked by mypy
    assert served.kind == "pkcs11"
    assert all(inspect.iscoroutinefunction(m) for m in (proxy.current_key_id, proxy.wrap))
    assert proxy.label == f"pkcs11 token {softhsm_token.label!r} key 'sealbox-kek'"
    worker_pid = proxy.worker_pid
    assert worker_pid is not None
    assert worker_pid != os.getpid()

    async def scenario() -> None:
        key_id = await proxy.current_key_id()
        assert isinstance(key_id, str)
        assert proxy.owns(key_id)
        assert not proxy.owns("local:abc")
        wrapped = await proxy.wrap(SEED)
        assert wrapped.key_id == key_id
        assert wrapped.annotations == {}
        ciphertext = wrapped.ciphertext
        assert await proxy.unwrap(ciphertext, key_id, {}) == SEED
        many = await asyncio.gather(*(proxy.unwrap(ciphertext, key_id, {}) for _ in range(200)))
        assert many == [SEED] * 200
        # The in-process backend reads what the worker wrote, and the other way round.
        backend = build(_config(softhsm_token), base_dir=softhsm_token.root)
        try:
            assert backend.unwrap(ciphertext, key_id, {}) == SEED
            theirs = backend.wrap(SEED)
            assert await proxy.unwrap(theirs.ciphertext, theirs.key_id, {}) == SEED
        finally:
            backend.close()
        assert proxy.worker_pid == worker_pid  # one worker all along

    _run(scenario())
    with pytest.raises(RuntimeError, match="another event loop"):
        _run(proxy.current_key_id())  # one proxy, one event loop


@pytest.mark.integration
def test_errors_keep_their_class_through_the_worker(
    proxy_for: Callable[..., Pkcs11Proxy], softhsm_token: SoftHsmToken
) -> None:
    proxy = proxy_for(config={"rescanInterval": "0s"})

    async def scenario() -> None:
        wrapped = await proxy.wrap(SEED)
        ct, key_id = wrapped.ciphertext, wrapped.key_id
        with pytest.raises(BackendRejected, match="does not decrypt"):
            await proxy.unwrap(ct[:-1] + bytes([ct[-1] ^ 1]), key_id, {})
        with pytest.raises(BackendRejected, match="unknown ciphertext format 0x02"):
            await proxy.unwrap(b"\x02" + ct[1:], key_id, {})
        unknown = fmt.key_id_for(softhsm_token.label, "sealbox-kek", fmt.KekId.new(1))
        with pytest.raises(BackendRejected, match="no KEK with key_id"):
            await proxy.unwrap(ct, unknown, {})
        softhsm_token.take_away()
        try:
            with pytest.raises(BackendUnavailable, match="token"):
                await proxy.unwrap(ct, key_id, {})
        finally:
            softhsm_token.bring_back()
        deadline = time.monotonic() + 10
        while True:  # the worker's backend recovers by itself, as in-process
            try:
                assert await proxy.unwrap(ct, key_id, {}) == SEED
                break
            except BackendUnavailable:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)

    _run(scenario())


@pytest.mark.integration
def test_startup_errors_are_the_in_process_ones(
    softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    cases: list[tuple[dict[str, Any], type[SealboxError]]] = [
        ({"pinFile": str(tmp_path / "no-pin")}, ConfigError),
        ({"tokenLabel": "nope"}, BackendUnavailable),
        ({"generateIfMissing": False, "keyLabel": "none"}, BackendRejected),
    ]
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("not-the-pin\n")
    cases.append(({"pinFile": str(wrong)}, AccessDenied))  # crosses the pipe as itself
    for overrides, error in cases:
        config = _config(softhsm_token, **overrides)
        with pytest.raises(error) as in_process:
            build(config, base_dir=softhsm_token.root)
        with pytest.raises(error) as proxied:
            Pkcs11Proxy(config, base_dir=softhsm_token.root).start()
        assert str(proxied.value) == str(in_process.value)
        assert type(proxied.value) is type(in_process.value)


@pytest.mark.integration
def test_a_killed_worker_fails_calls_in_flight_and_is_restarted(
    proxy_for: Callable[..., Pkcs11Proxy],
) -> None:
    clock = _Clock()
    proxy = proxy_for(clock=clock)

    async def scenario() -> None:
        wrapped = await proxy.wrap(SEED)
        first = proxy.worker_pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)  # the call below is sent but never answered
        wait_until(lambda: _state(first) == "T", timeout=5, what="the worker to stop")
        in_flight = asyncio.ensure_future(proxy.unwrap(wrapped.ciphertext, wrapped.key_id, {}))
        await asyncio.sleep(0.2)
        assert not in_flight.done()
        os.kill(first, signal.SIGKILL)
        with pytest.raises(BackendUnavailable, match="worker process exited"):
            await in_flight
        with pytest.raises(BackendUnavailable, match="restarted at most once every 1s"):
            await proxy.current_key_id()  # the last start was "just now" by this clock
        clock.now += 1.5
        assert await proxy.unwrap(wrapped.ciphertext, wrapped.key_id, {}) == SEED
        assert proxy.worker_pid not in (None, first)
        assert not _alive(first)

    _run(scenario())


@pytest.mark.integration
def test_a_restart_that_cannot_start_its_backend_says_why_and_recovers_later(
    proxy_for: Callable[..., Pkcs11Proxy],
    softhsm_token: SoftHsmToken,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    proxy = proxy_for(clock=clock)
    hidden = softhsm_token.pin_file.with_suffix(".away")

    async def scenario() -> None:
        key_id = await proxy.current_key_id()
        first = proxy.worker_pid
        assert first is not None
        softhsm_token.pin_file.rename(hidden)  # the next worker cannot read the PIN
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: not _alive(first), timeout=5, what="the killed worker")
        await asyncio.sleep(0.1)  # the loop notices the closed pipe
        clock.now += 2
        with pytest.raises(BackendUnavailable, match="worker process exited") as info:
            await proxy.current_key_id()
        assert "failing to start its backend" in str(info.value)
        assert "cannot read the PIN" in str(info.value)  # what the failed HELLO said
        assert any("cannot read the PIN" in str(getattr(r, "error", "")) for r in caplog.records)
        hidden.rename(softhsm_token.pin_file)
        clock.now += 2
        assert await proxy.current_key_id() == key_id

    _run(scenario())


@pytest.mark.integration
def test_a_hung_worker_is_killed_after_the_call_timeout(
    proxy_for: Callable[..., Pkcs11Proxy],
) -> None:
    clock = _Clock()
    proxy = proxy_for(call_timeout=0.5, clock=clock)

    async def scenario() -> None:
        key_id = await proxy.current_key_id()
        hung = proxy.worker_pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)
        wait_until(lambda: _state(hung) == "T", timeout=5, what="the worker to stop")
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match=r"did not answer within 0\.5s"):
            await proxy.current_key_id()
        assert time.monotonic() - started < 5
        clock.now += 2
        assert await proxy.current_key_id() == key_id
        assert proxy.worker_pid != hung
        wait_until(lambda: not _alive(hung), timeout=5, what="the hung worker to be killed")

    _run(scenario())


_SLOW_TO_START_WORKER = """
import os, sys, time
from sealbox.kms.backends.pkcs11 import _wire as wire
buffer = bytearray()
while data := os.read(0, 65536):
    buffer += data
    for call_id, code, fields in wire.split_frames(buffer):
        if code == wire.HELLO:
            time.sleep(float(sys.argv[1]))  # a new interpreter, a library and a login: slow
        answer = [] if code == wire.HELLO else [b"pkcs11:fake"]
        os.write(1, wire.encode_frame(call_id, wire.OK, answer))
"""


def test_a_call_behind_a_slow_restart_gets_its_own_time(tmp_path: Path) -> None:
    """The call timeout runs from when the worker could start on a call, not from when it was
    queued behind a restarting worker's HELLO (which has the startup timeout)."""
    clock = _Clock()
    config = Config.model_validate({"type": "pkcs11", "tokenLabel": "t", "pinEnv": "PIN"})
    command = (sys.executable, "-c", _SLOW_TO_START_WORKER, "0")
    proxy = Pkcs11Proxy(config, base_dir=tmp_path, command=command, call_timeout=0.5, clock=clock)
    proxy.start()
    try:

        async def scenario() -> None:
            assert await proxy.current_key_id() == "pkcs11:fake"
            first = proxy.worker_pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            wait_until(lambda: not _alive(first), timeout=5, what="the worker to die")
            proxy._command = (*command[:-1], "1.0")  # the next worker takes 1 s to start
            clock.now += 2  # past the restart pacing
            with contextlib.suppress(BackendUnavailable):  # the loss of the first worker
                await proxy.current_key_id()
            started = time.monotonic()
            assert await proxy.current_key_id() == "pkcs11:fake"
            assert time.monotonic() - started >= 0.9  # it waited for the HELLO, then answered

        _run(scenario())
    finally:
        proxy.close()


@pytest.mark.integration
def test_closing_stops_the_worker(proxy_for: Callable[..., Pkcs11Proxy]) -> None:
    proxy = proxy_for()
    pid = proxy.worker_pid
    assert pid is not None

    async def scenario() -> None:
        await proxy.current_key_id()
        proxy.close()  # on the loop, as PluginService.close does
        assert not _alive(pid)
        with pytest.raises(BackendUnavailable, match="closed"):
            await proxy.current_key_id()

    _run(scenario())
    proxy.close()  # idempotent


_PLUGIN_THAT_DIES = """
import asyncio, json, sys, time
from pathlib import Path
from sealbox.kms.backends.pkcs11 import Config, Pkcs11Proxy
config = Config.model_validate(json.loads(sys.argv[1]))
proxy = Pkcs11Proxy(config, base_dir=Path(sys.argv[2])).start()
async def main():
    await proxy.current_key_id()
    print(proxy.worker_pid, flush=True)
    await asyncio.sleep(120)
asyncio.run(main())
"""


@pytest.mark.integration
def test_no_orphan_when_the_plugin_process_is_killed(softhsm_token: SoftHsmToken) -> None:
    import json

    plugin = subprocess.Popen(
        [sys.executable, "-c", _PLUGIN_THAT_DIES, json.dumps(softhsm_token.config()), "/"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert plugin.stdout is not None
        worker = int(plugin.stdout.readline())
        assert _alive(worker)
        plugin.kill()  # no cleanup at all: the kernel closes the worker's stdin
        plugin.wait(10)
        wait_until(lambda: not _alive(worker), timeout=10, what="the orphaned worker to exit")
    finally:
        with contextlib.suppress(ProcessLookupError):
            plugin.kill()
        plugin.wait(10)
        if plugin.stdout is not None:
            plugin.stdout.close()


@pytest.mark.integration
def test_no_pin_or_seed_in_argv_or_logs(
    proxy_for: Callable[..., Pkcs11Proxy],
    softhsm_token: SoftHsmToken,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="sealbox")  # the worker logs at the plugin's level
    proxy = proxy_for(config={"rescanInterval": "0s"})
    pid = proxy.worker_pid
    assert pid is not None
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert [arg.decode() for arg in argv if arg] == list(WORKER_COMMAND)

    async def scenario() -> None:
        wrapped = await proxy.wrap(SEED)
        with pytest.raises(BackendRejected):
            await proxy.unwrap(wrapped.ciphertext[:-1], wrapped.key_id, {})
        softhsm_token.rotate()
        await proxy.current_key_id()  # the worker logs "current KEK changed"

    _run(scenario())
    proxy.close()
    out, err = capfd.readouterr()
    texts = [out, err, repr(proxy), *(record.getMessage() for record in caplog.records)]
    joined = "\n".join(texts)
    assert "current KEK changed" in err  # the worker's own log lines were captured
    for secret in (softhsm_token.pin, softhsm_token.so_pin, SEED.hex()):
        assert secret not in joined
    environ = Path(f"/proc/{os.getpid()}/environ").read_bytes()
    assert softhsm_token.pin.encode() not in environ  # the PIN came from pinFile, not from us


@pytest.mark.integration
def test_the_server_builds_the_proxy_and_everyone_else_the_backend(
    softhsm_token: SoftHsmToken,
) -> None:
    config = _config(softhsm_token)
    served = KIND.configure(softhsm_token.config()).serve(softhsm_token.root)
    in_process = build(config, base_dir=softhsm_token.root)
    try:
        assert isinstance(served, Pkcs11Proxy)
        assert isinstance(in_process, Pkcs11Backend)
        assert not inspect.iscoroutinefunction(in_process.wrap)
    finally:
        served.close()
        in_process.close()


@pytest.mark.integration
def test_the_service_awaits_the_proxy_on_its_loop(
    proxy_for: Callable[..., Pkcs11Proxy],
) -> None:
    import threading

    proxy = proxy_for()

    async def scenario() -> None:
        service = PluginService(proxy, probe_interval=60)
        before = set(threading.enumerate())
        await service.start()
        assert service.health.snapshot.healthy
        wrapped = await service.encrypt(SEED, "u")
        assert await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u") == SEED
        assert set(threading.enumerate()) == before  # no thread was started for it
        pid = proxy.worker_pid
        assert pid is not None
        await service.close()
        assert not _alive(pid)

    _run(scenario())


def test_worker_module_documents_its_wire_format() -> None:
    doc = textwrap.dedent(wire.__doc__ or "")
    for name in (
        "HELLO",
        "CURRENT_KEY_ID",
        "WRAP",
        "UNWRAP",
        "BackendRejected",
        "AccessDenied",
        "ConfigError",
    ):
        assert name in doc
