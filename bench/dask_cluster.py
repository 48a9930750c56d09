"""A Dask cluster of real processes on loopback: ``dask scheduler`` and ``dask worker`` started
from this interpreter's environment, for ``bench.grading`` and ``tests/test_autograder_dask.py``.

Each process runs in a session of its own, so that stopping it also stops what it started (the
grading kernels of a worker). Workers grade one notebook at a time (``--nthreads 1``) and run
without a nanny: a SIGKILL ends the worker for good, as a lost machine would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DASK = Path(sys.executable).parent / "dask"
START_TIMEOUT = 60  # seconds for the scheduler to listen and a worker to register


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class LocalDaskCluster:
    """``dask scheduler`` on a free loopback port, and workers added by ``add_worker``."""

    def __init__(self, log_dir: Path | None = None):
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="dlc-dask-logs-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None
               ) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (the process keeps it)
        environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                       **(env or {})}
        try:
            return subprocess.Popen([str(DASK), *args], stdout=log, stderr=subprocess.STDOUT,
                                    env=environment, start_new_session=True)
        finally:
            log.close()

    def start_scheduler(self) -> None:
        self.scheduler = self._start("scheduler", [
            "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
            "--dashboard-address", "127.0.0.1:0"])
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited: {self.log('scheduler')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"dask scheduler not listening after {START_TIMEOUT} s")

    def add_worker(self, name: str, env: dict[str, str] | None = None,
                   wait: bool = True) -> subprocess.Popen:
        """A worker process ``name`` (``env``: e.g. its course checkout); ``wait``: until the
        scheduler has it."""
        self.workers[name] = self._start(name, [
            "worker", self.address, "--name", name, "--nthreads", "1", "--no-nanny",
            "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "60",
            "--local-directory", str(self.log_dir / f"{name}-space")], env)
        if wait:
            self.wait_for_workers({name})
        return self.workers[name]

    def wait_for_workers(self, names: set[str]) -> None:
        from distributed import Client

        deadline = time.monotonic() + START_TIMEOUT
        with Client(self.address, timeout=START_TIMEOUT, set_as_default=False) as client:
            while time.monotonic() < deadline:
                present = {w["name"] for w in client.scheduler_info(n_workers=-1)["workers"]
                           .values()}
                if names <= present:
                    return
                for name in names:
                    if self.workers[name].poll() is not None:
                        raise RuntimeError(f"dask worker {name} exited: {self.log(name)}")
                time.sleep(0.2)
        raise RuntimeError(f"workers {sorted(names)} not registered after {START_TIMEOUT} s")

    def grading(self, name: str) -> bool:
        """Whether worker ``name`` is in the middle of a notebook (its grading kernel runs)."""
        return bool(_children(self.workers[name].pid))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process ``name`` ("scheduler" or a worker) alone."""
        process = self.scheduler if name == "scheduler" else self.workers[name]
        assert process is not None
        process.send_signal(sig)
        process.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop every process this cluster started, and what they started."""
        for process in [*self.workers.values(), self.scheduler]:
            if process is None:
                continue
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)
        self.workers.clear()
        self.scheduler = None

    def __enter__(self) -> LocalDaskCluster:
        self.start_scheduler()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
