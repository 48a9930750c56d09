"""Loading MNIST from the cache (what every notebook does first): course.data.load_mnist()."""

from __future__ import annotations

import statistics
import time

from bench.harness import CheckResult
from course.data import DataNotFoundError, load_mnist, source_info

MAX_SECONDS = 0.2


def checks(size_name: str) -> list[CheckResult]:
    repeats = 3 if size_name == "tiny" else 7
    name = "Load MNIST (cached), load_mnist() float32"
    try:
        source = source_info()
        load_mnist()  # builds the cache if it is missing; not timed
    except DataNotFoundError as exc:
        return [CheckResult(name, "skipped", f"< {MAX_SECONDS} s", None, note=str(exc))]
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        load_mnist()
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return [CheckResult(name, f"{median * 1e3:.0f} ms", f"< {MAX_SECONDS} s",
                        median < MAX_SECONDS, note=f"median of {repeats}; {source}",
                        extra={"seconds": seconds})]
