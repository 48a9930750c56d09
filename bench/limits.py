"""What the machine can do at best on one core: GEMM peak and memory bandwidth (numpy).

The floors of the analysis in docs/performance.md: a training step cannot run faster than its
matrix products at the GEMM peak, nor a memory-bound layer faster than its bytes at the copy
bandwidth.
"""

from __future__ import annotations

import numpy as np

from bench.harness import CheckResult, time_one

GEMM_SIZE = {"full": 1024, "tiny": 64}
COPY_MB = {"full": 64, "tiny": 1}


def gemm_gflops(n: int, dtype: type, rounds: int, min_sample: float) -> float:
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    out = np.empty((n, n), dtype)
    seconds = time_one(lambda: np.matmul(a, b, out=out), rounds, min_sample)
    return 2 * n**3 / seconds / 1e9


def copy_gb_s(megabytes: int, rounds: int, min_sample: float) -> float:
    x = np.ones(megabytes * 2**20 // 4, np.float32)
    out = np.empty_like(x)
    seconds = time_one(lambda: np.copyto(out, x), rounds, min_sample)
    return 2 * x.nbytes / seconds / 1e9  # one read and one write


def mlp_step_flops(n_in: int, hidden: list[int], classes: int, batch: int) -> int:
    """Multiply-adds x 2 of the matrix products of a training step (no dx for the input)."""
    sizes = [n_in, *hidden, classes]
    flops = 0
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        products = 2 if i == 0 else 3  # forward, dW (and dx except for the first layer)
        flops += products * 2 * batch * fan_in * fan_out
    return flops


def checks(size_name: str, rounds: int = 5, min_sample: float = 0.05) -> list[CheckResult]:
    n, mb = GEMM_SIZE[size_name], COPY_MB[size_name]
    results = []
    for dtype in (np.float32, np.float64):
        gflops = gemm_gflops(n, dtype, rounds, min_sample)
        results.append(CheckResult(
            f"GEMM peak, numpy matmul {n}x{n} {np.dtype(dtype).name}", f"{gflops:.0f} GFLOP/s",
            "-", None, note="one core", extra={"gflops": gflops}))
    bandwidth = copy_gb_s(mb, rounds, min_sample)
    results.append(CheckResult(
        f"Memory bandwidth, numpy copy of {mb} MB", f"{bandwidth:.1f} GB/s", "-", None,
        note="bytes read + written per second", extra={"gb_s": bandwidth}))
    return results
