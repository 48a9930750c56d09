"""autograder.kernel_waits: a kernel is ready when it has answered, and gone when it has gone,
without jupyter_client's fixed waits (0.2 s of IOPub silence at the start, 0.1 s polls at the end).

The protocol is tested against scripted channels (every path: the usual one, a late IOPub
subscription, a silent IOPub, a dead kernel, a timeout); one real kernel checks the whole cycle.
"""

from __future__ import annotations

import asyncio
import tempfile
from queue import Empty

import pytest

from autograder import kernel_waits
from autograder.kernel_waits import PromptClient, PromptKernelManager


def _status(state: str, parent: str) -> dict:
    return {"msg_type": "status", "content": {"execution_state": state},
            "parent_header": {"msg_id": parent}}


def _reply(parent: str) -> dict:
    return {"msg_type": "kernel_info_reply", "content": {"protocol_version": "5.3"},
            "parent_header": {"msg_id": parent}}


class _Channel:
    """A channel whose ``get_msg`` hands out a script: a message, or Empty for a silence
    (recording the timeout it was asked for)."""

    def __init__(self, script: list):
        self.script = script
        self.timeouts: list[float | None] = []

    async def get_msg(self, timeout: float | None = None) -> dict:
        self.timeouts.append(timeout)
        if not self.script:
            raise AssertionError("the client asked for more messages than the kernel sent")
        item = self.script.pop(0)
        if item is Empty:
            raise Empty
        return item


class _Scripted(PromptClient):
    """A PromptClient on scripted channels; each kernel_info request gets the next id."""

    def __init__(self, shell: list, iopub: list, alive: bool = True):
        super().__init__()
        self._shell, self._iopub = _Channel(shell), _Channel(iopub)
        self.requests: list[str] = []
        self.handled: list[dict] = []
        self.alive = alive

    @property
    def shell_channel(self):  # type: ignore[override]
        return self._shell

    @property
    def iopub_channel(self):  # type: ignore[override]
        return self._iopub

    def kernel_info(self) -> str:  # type: ignore[override]
        self.requests.append(f"r{len(self.requests) + 1}")
        return self.requests[-1]

    def _handle_kernel_info_reply(self, msg: dict) -> None:
        self.handled.append(msg)

    async def _async_is_alive(self) -> bool:
        return self.alive


def test_ready_at_the_idle_of_its_request_without_waiting_for_silence():
    client = _Scripted(shell=[_reply("r1")],
                       iopub=[_status("busy", "r1"), _status("idle", "other"),
                              _status("idle", "r1")])
    asyncio.run(client.wait_for_ready(timeout=5))
    assert client.requests == ["r1"] and client.handled == [_reply("r1")]
    assert client._iopub.script == []  # read up to that idle, and nothing waited for after it


def test_a_late_subscription_asks_again_at_the_welcome():
    """IOPub's first message is the welcome: the request's status may have gone out before it."""
    client = _Scripted(shell=[_reply("r1"), _reply("r2")],
                       iopub=[{"msg_type": "iopub_welcome", "content": {}, "parent_header": {}},
                              _status("busy", "r2"), _status("idle", "r2")])
    asyncio.run(client.wait_for_ready(timeout=5))
    assert client.requests == ["r1", "r2"] and client.handled == [_reply("r2")]
    assert Empty not in client._iopub.script


def test_a_silent_iopub_asks_again_after_the_silence():
    client = _Scripted(shell=[_reply("r1"), Empty, _reply("r2")],
                       iopub=[Empty, _status("idle", "r2")])
    asyncio.run(client.wait_for_ready(timeout=5))
    assert client.requests == ["r1", "r2", "r3"]
    assert client.handled == [_reply("r2")]
    assert client._iopub.timeouts == [kernel_waits.IOPUB_SILENCE] * 2


def test_a_dead_kernel_and_a_timeout_are_errors():
    dead = _Scripted(shell=[Empty], iopub=[], alive=False)
    with pytest.raises(RuntimeError, match="died"):
        asyncio.run(dead.wait_for_ready(timeout=5))
    silent = _Scripted(shell=[Empty], iopub=[])
    with pytest.raises(RuntimeError, match="didn't respond"):
        asyncio.run(silent.wait_for_ready(timeout=0))


def test_shutdown_polls_quickly_then_at_the_interval_asked(monkeypatch: pytest.MonkeyPatch):
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    answers = iter([True] * 8 + [False])

    async def is_alive() -> bool:
        return next(answers)

    km = PromptKernelManager()
    monkeypatch.setattr(kernel_waits.asyncio, "sleep", sleep)
    monkeypatch.setattr(km, "_async_is_alive", is_alive)
    asyncio.run(km._async_wait(pollinterval=0.1))
    assert slept == [0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.1, 0.1]


def test_a_real_kernel_starts_answers_and_goes():
    """The whole cycle on an ipykernel: ready, a cell's result, shut down, process gone."""

    async def cycle() -> tuple[str, bool]:
        km = PromptKernelManager(kernel_name="python3")
        await km.start_kernel(cwd=tempfile.gettempdir())
        kc = km.client()
        assert isinstance(kc, PromptClient)
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            reply = await kc.execute_interactive("6 * 7", timeout=60, store_history=False,
                                                 output_hook=outputs.append)
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()
        return km.has_kernel, await km.is_alive()

    outputs: list[dict] = []
    has_kernel, alive = asyncio.run(cycle())
    assert not alive and not has_kernel
    results = [o["content"]["data"]["text/plain"] for o in outputs
               if o["msg_type"] == "execute_result"]
    assert results == ["42"]
