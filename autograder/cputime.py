"""Cell timeouts judged on the kernel's CPU time, so that a grade does not depend on machine load.

A cell's timeout (``Course.timeout``) counts the CPU seconds of the kernel's process tree (the
kernel, its threads, every process it started, the sandbox's own processes: all of them descend
from the process jupyter_client started), read from ``/proc`` four times a second by a
``Watchdog`` thread while the cell runs. When the cell has used up its CPU seconds the watchdog
interrupts the kernel (SIGINT to the kernel's process group, as jupyter_client's signal mode
does; the sandboxed kernel leads its own group) and the cell ends as a timeout. On a loaded
machine a CPU-bound cell takes longer by the clock but not in CPU seconds, so it passes or fails
exactly as on a quiet one.

A cell that goes on computing after the interrupt (learner code that swallows
KeyboardInterrupt, or IPython formatting the traceback of a million-frame recursion, which
ignores it) is killed (SIGKILL to the group) once it has used ``KILL_GRACE`` more CPU seconds: the
notebook ends as "kernel died" within about ``timeout + KILL_GRACE`` CPU seconds instead of
waiting for the wall-clock backstop.

The wall clock remains a backstop only, for a cell that waits without computing (``sleep``, a
blocked read): ``WALL_FACTOR`` times the timeout, plus ``WALL_SLACK`` seconds.
Where ``/proc`` is missing (macOS) there is no watchdog and the backstop is the timeout itself.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

WALL_FACTOR = 4  # a CPU-bound cell on 2 cores at load average 6 gets about a third of a core
WALL_SLACK = 10  # seconds: kernel start-up noise, output transfer
POLL = 0.25  # seconds between two readings of /proc
KILL_GRACE = 5.0  # CPU seconds a cell may still use after the interrupt before it is killed
PROC = Path("/proc")


def available() -> bool:
    return (PROC / "self" / "stat").is_file()


def wall_backstop(timeout: int | None) -> int | None:
    """The wall-clock limit of a cell whose CPU limit is ``timeout`` seconds."""
    if timeout is None or timeout <= 0 or not available():
        return timeout
    return timeout * WALL_FACTOR + WALL_SLACK


# Read with plain ``open`` and ``os.listdir`` on string paths: three readings per cell (and four
# a second by the watchdog), where pathlib's objects cost about as much as the reading itself.


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _stat(pid: int) -> list[str] | None:
    text = _read(f"{PROC}/{pid}/stat")
    if text is None:
        return None
    return text[text.rindex(")") + 2:].split()  # after "pid (comm) "


def _children(pid: int) -> list[int]:
    found: list[int] = []
    folder = f"{PROC}/{pid}/task"
    try:
        tasks = os.listdir(folder)
    except OSError:
        return found
    for task in tasks:
        text = _read(f"{folder}/{task}/children")
        if text is not None:
            found += [int(c) for c in text.split()]
    return found


def tree(root: int) -> list[int]:
    """``root`` and its descendants, parents first."""
    order, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        order.append(pid)
        queue += _children(pid)
    return order


def cpu_seconds(root: int) -> float:
    """CPU seconds (user + system, with reaped children's) of ``root``'s process tree."""
    ticks = 0
    for pid in tree(root):
        fields = _stat(pid)
        if fields is not None:  # utime stime cutime cstime: fields 14-17 of stat
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def kernel_group(root: int) -> int | None:
    """The process group of the kernel below ``root``: the first process, parents first, that
    leads its own group and is not bubblewrap."""
    for pid in tree(root):
        comm = _read(f"{PROC}/{pid}/comm")
        if comm is None or comm.strip() == "bwrap":
            continue
        try:
            if os.getpgid(pid) == pid:
                return pid
        except OSError:
            continue
    return None


class Watchdog:
    """Interrupts the kernel of ``km`` once its process tree has used ``limit`` more CPU
    seconds than when the watchdog started (0 or no /proc: does nothing)."""

    def __init__(self, km: Any, limit: float | None):
        provisioner = getattr(km, "provisioner", None)
        self.root: int | None = getattr(provisioner, "pid", None)
        self.limit = limit or 0
        self.fired = False
        self.killed = False  # the interrupt did not stop it: the kernel was killed
        self.used = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Watchdog:
        if self.root is not None and self.limit > 0 and available():
            self._start = cpu_seconds(self.root)
            self._thread = threading.Thread(target=self._run, name="cpu-watchdog", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _signal(self, sig: signal.Signals) -> bool:
        """Send ``sig`` to the kernel's process group; False when it is gone."""
        assert self.root is not None
        group = kernel_group(self.root)
        if group is None:
            return False
        try:
            os.killpg(group, sig)
        except OSError:
            return False
        return True

    def _run(self) -> None:
        assert self.root is not None
        while not self._stop.wait(POLL):
            self.used = cpu_seconds(self.root) - self._start
            if self.used > self.limit and not self.fired:
                if not self._signal(signal.SIGINT):
                    return
                self.fired = True
            elif self.fired and self.used > self.limit + KILL_GRACE and not self.killed:
                if not self._signal(signal.SIGKILL):
                    return
                self.killed = True
