"""The benchmark suite runs end to end on tiny sizes without PyTorch (`python -m bench --tiny`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import harness, repeat, report
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
    # the spread over the rounds brackets each median
    assert result.ours_range[0] <= result.ours_s <= result.ours_range[1]
    assert result.torch_range[0] <= result.torch_s <= result.torch_range[1]
    assert result.ratio_range[0] <= result.ratio <= result.ratio_range[1]
    line = report.pair_line(result)
    assert f"ratio {result.ratio:.2f} ({result.ratio_range[0]:.2f}–" in line


def _run(load, pairs):
    return {"machine": {"load_average": [load, 0, 0], "load_average_end": [load + 1, 0, 0]},
            "pairs": [{"name": n, "ours_s": o, "ratio": r, "target": 1.2} for n, o, r in pairs]}


def test_repeat_summary_gives_each_run_the_median_and_the_spread_across_runs():
    runs = [_run(1.0, [("BN", 1e-3, 1.3), ("MLP", 2e-3, 1.0)]),
            _run(2.0, [("BN", 2e-3, 1.1), ("MLP", 3e-3, 1.6)]),
            _run(3.0, [("BN", 3e-3, 1.25), ("MLP", 4e-3, 1.4)])]
    table = repeat.summary(runs)
    rows = {line.split(" | ")[0][2:]: line for line in table.splitlines() if line.startswith("| ")}
    assert "| 1.30, 1.10, 1.25 | 1.25 (1.10–1.30) | 2.00 ms (1.00 ms–3.00 ms) | >= 1.2 | yes " \
        "| **no** |" in rows["BN"]
    assert "| 1.40 (1.00–1.60) |" in rows["MLP"]
    assert "1.0 → 2.0, 2.0 → 3.0, 3.0 → 4.0" in table


def test_repeat_runs_get_their_own_json_and_no_repeat():
    argv = ["--repeat", "3", "--only", "batchnorm", "--json", "a.json", "--markdown=b.md",
            "--rounds", "5"]
    assert repeat.strip_repeat(argv) == ["--only", "batchnorm", "--rounds", "5"]


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


# -- grading throughput (bench/grading.py) ---------------------------------------------------


def test_synthetic_cohort_gives_each_student_a_mix_of_sample_variants(tmp_path):
    from bench import grading

    cohort = grading.make_cohort(tmp_path, students=3)
    expected = json.loads((grading.REPO / "autograder/samples/expected.json").read_text())
    names = grading.day_notebooks()
    assert len(names) == 6 and cohort.notebooks == 18
    for student, notebooks in cohort.variants.items():
        assert set(notebooks) == set(names)
        assert set(notebooks.values()) == set(grading.VARIANTS)  # a mix within each student
        for name, variant in notebooks.items():
            sample = grading.REPO / "autograder/samples" / variant / "day4" / f"{name}.ipynb"
            returned = cohort.returned / student / f"{name}.ipynb"
            assert returned.read_bytes() == sample.read_bytes()
            assert cohort.expected[student][name] == expected[variant][f"day4/{name}"]
    # every notebook is handed in as every variant by someone
    for name in names:
        assert {cohort.variants[s][name] for s in cohort.variants} == set(grading.VARIANTS)


def test_floor_notebook_runs_the_source_test_cells_with_hidden_tests(tmp_path):
    import nbformat

    from bench import grading

    blank = nbformat.read(grading.REPO / "autograder/samples/blank/day4/4_4_weight_decay.ipynb",
                          as_version=4)
    source = nbformat.read(grading.REPO / "solutions/day4/4_4_weight_decay.ipynb", as_version=4)
    floor = grading.floor_notebook(blank, source)
    tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
             if c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")}
    got = {c.metadata["nbgrader"]["grade_id"]: c.source for c in floor.cells
           if c.metadata.get("nbgrader", {}).get("grade_id") in tests}
    assert got == tests and any("BEGIN HIDDEN TESTS" in s for s in got.values())
    solutions = [c.source for c in floor.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert solutions == [c.source for c in blank.cells
                         if c.metadata.get("nbgrader", {}).get("solution")]  # learner's own


def test_grade_mismatches_names_each_wrong_cell():
    from bench.grading import grade_mismatches

    expected = {"s1": {"nb": {"a": 2.0, "b": 0.0}}, "s2": {"nb": {"a": 2.0, "b": 2.0}}}
    got = {"s1": {"nb": {"a": 2.0, "b": 0.0}}, "s2": {"nb": {"a": 2.0, "b": 0.0}}}
    assert grade_mismatches(expected, expected) == []
    assert grade_mismatches(got, expected) == ["s2/nb: got/expected {'b': (0.0, 2.0)}"]
    assert grade_mismatches({}, expected) != []  # a notebook with no grades at all is wrong


@pytest.mark.slow
def test_tiny_grading_bench_grades_alike_with_one_and_two_workers_and_times_the_floor():
    from bench import grading

    notebook = "4_1_batch_normalization_layer"  # the quickest Day 4 notebook to grade
    bench = grading.run_bench(2, [notebook], workers=(1, 2), floor_size=1,
                              say=lambda *a, **k: None)  # raises WrongGrades on any wrong cell
    assert [r.workers for r in bench.runs] == [1, 2]
    for run in bench.runs:
        assert run.notebooks == 2 and run.seconds > 0 and run.per_minute > 0
        # the grader's own time per notebook is part of the command's wall time
        times = [s for nbs in run.notebook_seconds.values() for s in nbs.values()]
        assert len(times) == 2 and all(0 < s < run.seconds for s in times)
    (floor,) = bench.floor
    assert floor.notebook == notebook and floor.variant == "reference"
    assert 0 < bench.kernel_start_seconds < floor.floor_seconds
    assert floor.ratio > 0
    table = grading.markdown(bench)
    assert "`grade day4 --workers 2`" in table and f"| {notebook} | reference |" in table


def _hub_row(threads: int, k: int, median_s: float, load: float = 1.0) -> dict[str, float]:
    return {"threads": threads, "k": k, "median_s": median_s, "max_s": median_s, "cpu_s": 0.0,
            "load_start": load, "load_end": load}


def test_hub_load_learners_per_core_is_the_largest_k_within_the_acceptable_wait():
    from bench.hub_load import learners_per_core

    rows = [_hub_row(1, 1, 10.0), _hub_row(1, 2, 10.5), _hub_row(1, 4, 19.9), _hub_row(1, 8, 41.0)]
    assert learners_per_core(rows, cores=2, acceptable=2.0) == 2.0  # K = 4 waits 1.99x
    assert learners_per_core(rows, cores=2, acceptable=1.5) == 1.0  # only K = 2 within 1.5x
    assert learners_per_core(rows, cores=1, acceptable=5.0) == 8.0


def test_hub_load_summary_takes_medians_and_spreads_over_the_runs():
    from bench.hub_load import summary

    runs = [[_hub_row(1, 1, a), _hub_row(1, 2, b, load=load)]
            for a, b, load in ((10.0, 12.0, 1.0), (11.0, 30.0, 3.0), (9.0, 18.0, 2.0))]
    lines = summary(runs, cores=2, acceptable=2.0)
    assert "| 1 | 2 | 18.0 s (12.0–30.0) | 2.00 (1.20–2.73) | 1.0 to 3.0 |" in lines
    # within 2x in runs 1 and 3 (1.20, 2.00), not in run 2 (2.73): 1, 0.5, 1 learners per core
    assert lines[-1].endswith("per run: 1, 0.5, 1 (median 1)")


def test_validate_browser_summary_is_over_the_runs_medians_and_keeps_only_common_rows():
    from bench.validate_browser import summary_rows

    runs = [{"times": {("4_1", "warm"): [1.0, 2.0, 9.0], ("4_1", "cold"): [5.0]}},
            {"times": {("4_1", "warm"): [3.0]}},
            {"times": {("4_1", "warm"): [2.5, 2.5]}}]
    assert summary_rows(runs) == [("4_1", "warm", [2.0, 3.0, 2.5], 2.5, 2.0, 3.0)]



def test_checkpoint_bench_times_both_modes_of_the_guard_in_separate_processes(capsys):
    """``bench.checkpoint``: one run, a fresh process, both kinds of snapshot find nothing
    changed (else it exits non-zero) and the summary names both times and their ratio."""
    from bench import checkpoint

    assert checkpoint.main(["--runs", "1", "--calls", "100"]) == 0
    out = capsys.readouterr().out
    assert "run 1:" in out and "µs per checkpoint with version tags" in out
    assert "1 separate runs: with version tags" in out and "ratio" in out
    with pytest.raises(SystemExit):
        checkpoint.main(["--calls", "10"])
