"""The benchmark suite runs end to end on tiny sizes without PyTorch (`python -m bench --tiny`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import harness
from bench.__main__ import main


def test_tiny_bench_without_torch_prints_every_group_and_says_torch_was_skipped(tmp_path, capsys):
    out_json = tmp_path / "bench.json"
    out_md = tmp_path / "bench.md"
    assert main(["--tiny", "--no-torch", "--json", str(out_json), "--markdown", str(out_md)]) == 0
    printed = capsys.readouterr().out
    for name in ("MLP training step", "BatchNorm fwd+bwd", "Conv2D fwd+bwd", "MaxPool2D",
                 "Directional gradient check", "Load MNIST"):
        assert name in printed
    assert "PyTorch not measured (skipped)" in printed
    results = json.loads(out_json.read_text())
    assert all(p["torch_s"] is None and p["ours_s"] > 0 for p in results["pairs"])
    assert "| contender | ours | PyTorch |" in out_md.read_text()


def test_tiny_directional_check_meets_its_target_on_a_correct_net(capsys):
    main(["--tiny", "--no-torch", "--only", "gradcheck"])
    rows = [line for line in capsys.readouterr().out.splitlines()
            if line.startswith("| Directional")]
    assert rows and all("| yes |" in row for row in rows)


def test_paired_ratio_is_the_median_of_per_round_ratios():
    def slow():
        sum(range(2000))

    def fast():
        sum(range(200))

    pair = harness.Pair("test", ours=fast, torch=slow, target=1.0)
    result = harness.measure_pair(pair, rounds=5, min_sample=0.002)
    assert result.ratio > 1.0 and result.met
    assert result.torch_s > result.ours_s


def test_one_thread_limits_numpy_blas_and_restores_it():
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    with harness.one_thread():
        inside = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        np.ones((4, 4)) @ np.ones((4, 4))
    after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert all(n == 1 for n in inside)
    assert after == before


@pytest.mark.parametrize("seconds, shape, arrays, expected", [(1.0, (1000, 250), 2, 0.002)])
def test_bandwidth_counts_float32_bytes(seconds, shape, arrays, expected):
    from bench.kernels import bandwidth

    assert bandwidth(seconds, shape, arrays) == pytest.approx(expected)
