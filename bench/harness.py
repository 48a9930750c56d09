"""Timing machinery: one thread, interleaved rounds, medians, paired ratios.

A *pair* is our callable against PyTorch's doing the same work. Each round times a sample of
each (a few calls, so that a sample lasts ``min_sample`` seconds), alternating which goes first,
so both see the same machine: a burst of load from another process lands on both, and the
ratio of the two samples of one round cancels it. Reported: the median time per call of each,
and the median over rounds of the paired ratio ``torch_time / our_time`` (> 1: we are faster).

Times are CPU time of this process (``time.process_time``) unless ``clock="wall"``: on a shared
machine, wall time also counts the time another process held the core. Both are recorded.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CLOCKS = {"cpu": time.process_time_ns, "wall": time.perf_counter_ns}


@dataclass
class Pair:
    """Our implementation and PyTorch's (None when torch is missing) of one piece of work."""

    name: str
    ours: Callable[[], Any]
    torch: Callable[[], Any] | None
    target: float | None = None  # minimum speed ratio torch_time / our_time
    note: str = ""


@dataclass
class PairResult:
    """Medians of one pair; torch fields are None when PyTorch was not measured."""

    name: str
    ours_s: float
    torch_s: float | None
    ratio: float | None  # median over rounds of torch_time / our_time (CPU or wall clock)
    ratio_wall: float | None
    target: float | None
    rounds: int
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # spread over the rounds (same clock as ours_s): (min, max) per call, and of the paired ratio
    ours_range: tuple[float, float] | None = None
    torch_range: tuple[float, float] | None = None
    ratio_range: tuple[float, float] | None = None

    @property
    def met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.ratio >= self.target


@dataclass
class CheckResult:
    """A measurement against an absolute target (a time limit, an error bound)."""

    name: str
    value: str  # what was measured, formatted
    target: str
    met: bool | None  # None: not measured (skipped)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def one_thread(torch_module: Any = None) -> Iterator[None]:
    """numpy's BLAS (threadpoolctl) and PyTorch (set_num_threads) on one thread each."""
    from threadpoolctl import threadpool_limits

    previous = torch_module.get_num_threads() if torch_module is not None else None
    if torch_module is not None:
        torch_module.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        if torch_module is not None:
            torch_module.set_num_threads(previous)


def _page_faults() -> int:
    """Minor page faults of this process so far (first touches of memory new to the process)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _sample(fn: Callable[[], Any], calls: int) -> tuple[int, int]:
    """(cpu ns, wall ns) of ``calls`` calls of fn."""
    cpu0, wall0 = time.process_time_ns(), time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return time.process_time_ns() - cpu0, time.perf_counter_ns() - wall0


def faults_per_call(fn: Callable[[], Any], calls: int) -> float:
    """Minor page faults per call of fn, over ``calls`` calls."""
    before = _page_faults()
    for _ in range(calls):
        fn()
    return (_page_faults() - before) / calls


def calls_per_sample(fn: Callable[[], Any], min_sample: float) -> int:
    """How many calls of fn make a sample of at least ``min_sample`` seconds (after a warm-up)."""
    fn()
    calls = 1
    while True:
        cpu, wall = _sample(fn, calls)
        seconds = max(cpu, wall) / 1e9
        if seconds >= min_sample or calls >= 1 << 20:
            return calls
        calls *= 2 if seconds == 0 else max(2, min(10, int(1.5 * min_sample / seconds) + 1))


def time_one(fn: Callable[[], Any], rounds: int, min_sample: float, clock: str = "cpu") -> float:
    """Median seconds per call of fn over ``rounds`` samples."""
    calls = calls_per_sample(fn, min_sample)
    index = 0 if clock == "cpu" else 1
    samples = [_sample(fn, calls)[index] / calls / 1e9 for _ in range(rounds)]
    return statistics.median(samples)


def measure_pair(pair: Pair, rounds: int, min_sample: float, clock: str = "cpu") -> PairResult:
    """Interleaved rounds of ours and torch; medians and the median paired ratio."""
    contenders = {"ours": pair.ours}
    if pair.torch is not None:
        contenders["torch"] = pair.torch
    calls = {name: calls_per_sample(fn, min_sample) for name, fn in contenders.items()}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(rounds):
        order = list(contenders) if r % 2 == 0 else list(reversed(contenders))
        for name in order:
            c, w = _sample(contenders[name], calls[name])
            cpu[name].append(c / calls[name] / 1e9)
            wall[name].append(w / calls[name] / 1e9)
    primary = cpu if clock == "cpu" else wall
    result = PairResult(
        name=pair.name,
        ours_s=statistics.median(primary["ours"]),
        ours_range=(min(primary["ours"]), max(primary["ours"])),
        torch_s=None,
        ratio=None,
        ratio_wall=None,
        target=pair.target,
        rounds=rounds,
        note=pair.note,
        extra={"ours_wall_s": statistics.median(wall["ours"]), "calls": calls,
               "ours_page_faults": faults_per_call(pair.ours, calls["ours"])},
    )
    if "torch" in contenders:
        result.torch_s = statistics.median(primary["torch"])
        result.torch_range = (min(primary["torch"]), max(primary["torch"]))
        ratios = [t / o for t, o in zip(primary["torch"], primary["ours"], strict=True)]
        result.ratio = statistics.median(ratios)
        result.ratio_range = (min(ratios), max(ratios))
        result.ratio_wall = statistics.median(
            t / o for t, o in zip(wall["torch"], wall["ours"], strict=True)
        )
        result.extra["torch_wall_s"] = statistics.median(wall["torch"])
        result.extra["torch_page_faults"] = faults_per_call(contenders["torch"], calls["torch"])
    return result


# ------------------------------------------------------------------------------ the machine


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(torch_module: Any = None) -> dict[str, Any]:
    """What the figures depend on: CPU, cores, load, library versions, BLAS kernel."""
    import numpy as np
    from threadpoolctl import threadpool_info

    blas = [
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average": load_average(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": ", ".join(blas) or "unknown",
        "torch": getattr(torch_module, "__version__", None),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    return info
