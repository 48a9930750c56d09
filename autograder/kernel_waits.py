"""jupyter_client's fixed waits around a kernel's life, replaced by waiting for the event itself.

jupyter_client 8 spends time nobody uses at both ends of a kernel:

- ``wait_for_ready`` returns only after IOPub has been quiet for 0.2 s: having had the reply to
  ``kernel_info``, it drains IOPub with ``get_msg(timeout=0.2)`` until one call times out. Every
  notebook graded pays those 0.2 s, and so does every Validate click (nbclient waits for a kernel
  to be ready also when it is handed one already running, as a warm kernel is).
- after a shutdown request, the kernel's process is polled every 0.1 s until it has gone: 0.1 s
  more per notebook, on average half of it spent after the process had exited.

``PromptClient`` is ready as soon as the reply to its ``kernel_info`` request has come on the
shell channel *and* that request's ``idle`` status on IOPub: IOPub is then known to be connected
(what the 0.2 s wait was for) and every message the request caused has arrived (nothing left to
drain; nbclient ignores messages of other requests anyway). If IOPub says nothing about the
request for 0.2 s, or its first message is the kernel's welcome (ipykernel's IOPub greets each new
subscriber: the subscription may have come after the request's status went out), the request is
sent again, as jupyter_client does after its 0.2 s.

``PromptKernelManager`` (the grading sandbox's manager and the Validate extension's) gives its
clients that wait, and polls a kernel asked to shut down after 2, 4, 8, ... ms, at most the
interval jupyter_client asked for.
"""

from __future__ import annotations

import asyncio
import time
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Type

IOPUB_SILENCE = 0.2  # s without a message of the request on IOPub: not connected yet, ask again
SHELL_WAIT = 1.0  # s for a reply on the shell channel before checking the kernel is alive
FIRST_POLL = 0.002  # s: the first look at a kernel's process after it was asked to shut down


class PromptClient(AsyncKernelClient):
    """An ``AsyncKernelClient`` whose ``wait_for_ready`` ends when the kernel has answered."""

    async def _request_idle(self, msg_id: str) -> bool:
        """Whether IOPub brings the ``idle`` status of request ``msg_id``. False: a silence of
        ``IOPUB_SILENCE`` first, or the kernel's welcome on IOPub (it subscribed just now, after
        the request's status may have gone out: asking again is quicker than waiting)."""
        while True:
            try:
                msg = await self.iopub_channel.get_msg(timeout=IOPUB_SILENCE)
            except Empty:
                return False
            if msg["msg_type"] == "iopub_welcome":
                return False
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle" \
                    and msg["parent_header"].get("msg_id") == msg_id:
                return True

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=SHELL_WAIT)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply" \
                    and await self._request_idle(reply["parent_header"].get("msg_id")):
                self._handle_kernel_info_reply(reply)
                return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    _async_wait_for_ready = wait_for_ready


class PromptKernelManager(AsyncKernelManager):
    """Polls a kernel that was asked to shut down after 2, 4, 8, ... ms, not every 0.1 s; its
    clients are ``PromptClient``s."""

    client_class = DottedObjectName("autograder.kernel_waits.PromptClient", config=True)
    client_factory = Type(PromptClient, klass=AsyncKernelClient, config=True)

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        delay = FIRST_POLL
        while await self._async_is_alive():
            await asyncio.sleep(delay)
            delay = min(2 * delay, pollinterval)
