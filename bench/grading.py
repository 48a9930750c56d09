"""Grading throughput (issue 4, item 8): ``grade day4 --workers N`` on synthetic submissions.

A cohort of ``--students`` synthetic learners returns every Day 4 notebook; student i hands in
notebook j as the reference, partial or blank sample of ``autograder/samples/`` (variant
``(i + j) % 3``), so every student has a mix and every notebook every variant. For each worker
count the cohort is collected into a fresh temporary workspace (never the repository's
``grading/``) and ``python -m autograder grade day4 --workers N`` is timed end to end as a
subprocess: wall time, notebooks per minute, speedup over the first worker count. Every run must
give every grade cell exactly the points of ``autograder/samples/expected.json``, and so the same
grades as the other runs; anything else raises ``WrongGrades``: a fast grader that grades wrongly
is no result.

The floor is what grading one notebook costs at least: start a Jupyter kernel and run the
notebook's code cells with the test cells as nbgrader puts them back (hidden tests included),
with nbclient and nothing of nbgrader (no sandbox, gradebook, guard or limits). It is compared
with the grader's own time for the same notebook and variant (``seconds`` of the status table,
from the ``--workers 1`` run: one kernel at a time, as the floor). The floor's points (a test
cell without an error output scores its points) must match expected.json too, which shows it ran
the same test code.

    python -m bench.grading                                   40 students, --workers 1 and 2
    python -m bench.grading --students 6 --dask 1 2           and on 1 and 2 Dask workers
    python -m bench.grading --students 4 --notebooks 4_4_weight_decay --floor-sample 3
    python -m bench --only grading [--tiny]                   as rows of the bench tables
    python -m bench.grading --students 3 --sandbox-cost 3     the sandbox's cost per notebook

``--dask N ...`` (issue 13) also times ``grade day4 --scheduler ADDRESS`` on a Dask cluster of
real processes on loopback (``bench.dask_cluster``: ``dask scheduler`` and N ``dask worker``
processes with one thread each, started before the clock starts), on the same cohort and with
the same check of the points: the Dask path's cost per notebook next to local processes.

Kernels run with one BLAS thread (``ONE_THREAD``) and in quick mode (nbgrader sets
``NBGRADER_EXECUTION`` while grading; the floor sets it too).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from bench.harness import CheckResult, load_average
from bench.notebooks import ONE_THREAD, REPO

DAY = "day4"
VARIANTS = ("reference", "partial", "blank")  # the sample students of autograder/samples/
WORKERS = (1, 2)
SIZES = {  # (students, notebooks or None for all of Day 4, floor sample size)
    "full": (40, None, 18),
    "tiny": (2, ["4_4_weight_decay"], 1),
}
GRADE_TIMEOUT = 3600  # seconds for one `grade` command: a hung grader fails the benchmark
# The grader's own setting for the environment of its kernels (quick mode while grading).
FLOOR_ENV = {**ONE_THREAD, "NBGRADER_EXECUTION": "autograde"}


class WrongGrades(AssertionError):
    """A run gave points different from expected.json (or from another run)."""


Scores = dict[str, dict[str, dict[str, float]]]  # student -> notebook -> grade_id -> points


@dataclass
class Cohort:
    """Synthetic submissions: ``returned/<student>/<notebook>.ipynb`` and what each must score."""

    returned: Path
    variants: dict[str, dict[str, str]]  # student -> notebook -> variant
    expected: Scores

    @property
    def notebooks(self) -> int:
        return sum(len(nbs) for nbs in self.variants.values())


@dataclass
class GradeRun:
    """One timed ``grade`` command."""

    workers: int
    notebooks: int
    seconds: float  # wall time of the command, end to end
    notebook_seconds: dict[str, dict[str, float]]  # student -> notebook -> the grader's time
    load_before: tuple[float, float, float] | None
    load_after: tuple[float, float, float] | None
    dask: bool = False  # --scheduler on a local Dask cluster of ``workers`` workers

    @property
    def per_minute(self) -> float:
        return 60.0 * self.notebooks / self.seconds

    @property
    def command(self) -> str:
        return (f"grade {DAY} --scheduler (Dask, {self.workers} worker(s))" if self.dask
                else f"grade {DAY} --workers {self.workers}")


@dataclass
class FloorResult:
    """One notebook of one variant: the grader's time against kernel + cells with nbclient."""

    notebook: str
    variant: str
    grader_seconds: float  # median over the students who handed in this variant, --workers 1
    floor_seconds: float

    @property
    def ratio(self) -> float:
        return self.grader_seconds / self.floor_seconds


@dataclass
class GradingBench:
    students: int
    notebooks: int
    runs: list[GradeRun]
    floor: list[FloorResult] = field(default_factory=list)
    kernel_start_seconds: float | None = None  # start + ready + shutdown, median


def _nbgrader(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def day_notebooks(repo: Path = REPO) -> list[str]:
    """Stems of the released Day 4 notebooks."""
    return sorted(p.stem for p in (repo / "assignments" / DAY).glob("*.ipynb"))


def make_cohort(out: Path, students: int, notebooks: list[str] | None = None,
                repo: Path = REPO) -> Cohort:
    """Write ``students`` synthetic submissions of Day 4 under ``out/returned``.

    Student i (``student000``, ...) hands in notebook j of ``notebooks`` (default: all of Day 4)
    as the sample ``VARIANTS[(i + j) % 3]``.
    """
    samples = repo / "autograder" / "samples"
    expected_all = json.loads((samples / "expected.json").read_text())
    names = notebooks or day_notebooks(repo)
    returned = out / "returned"
    variants: dict[str, dict[str, str]] = {}
    expected: Scores = {}
    for i in range(students):
        student = f"student{i:03d}"
        folder = returned / student
        folder.mkdir(parents=True)
        variants[student], expected[student] = {}, {}
        for j, name in enumerate(names):
            variant = VARIANTS[(i + j) % len(VARIANTS)]
            shutil.copyfile(samples / variant / DAY / f"{name}.ipynb", folder / f"{name}.ipynb")
            variants[student][name] = variant
            expected[student][name] = expected_all[variant][f"{DAY}/{name}"]
    return Cohort(returned, variants, expected)


def _autograder(repo: Path, workspace: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **ONE_THREAD}
    for key in ("DLCOURSE_WORKSPACE", "DLCOURSE_DB_URL", "DLCOURSE_QUICK"):
        env.pop(key, None)  # the workspace is given; quick mode is the grader's own business
    command = [sys.executable, "-m", "autograder", "--repo", str(repo),
               "--workspace", str(workspace), *args]
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True,
                          timeout=GRADE_TIMEOUT)


def _failed(what: str, done: subprocess.CompletedProcess) -> RuntimeError:
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
    return RuntimeError(f"{what} exited with {done.returncode}:\n{tail}")


def read_scores(workspace: Path, cohort: Cohort) -> Scores:
    """Points per autograded cell of every submitted notebook, from the workspace's gradebook."""
    from nbgrader.api import Gradebook

    from autograder.config import COURSE_ID

    scores: Scores = {}
    with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}", COURSE_ID) as gb:
        for student, notebooks in cohort.variants.items():
            scores[student] = {}
            for name in notebooks:
                row = gb.find_submission_notebook(name, DAY, student)
                # the test cells (a written answer, a markdown cell, is graded by a person;
                # unanswered, nbgrader gives it 0 automatically)
                scores[student][name] = {g.name: float(g.score) for g in row.grades
                                         if g.cell.cell_type == "code"}
    return scores


def grade_mismatches(got: Scores, expected: Scores) -> list[str]:
    """One line per notebook whose points differ from expected ("student/notebook: ...")."""
    problems = []
    for student, notebooks in expected.items():
        for name, cells in notebooks.items():
            actual = got.get(student, {}).get(name, {})
            if actual != cells:
                wrong = {k: (actual.get(k), v) for k, v in cells.items() if actual.get(k) != v}
                problems.append(f"{student}/{name}: got/expected {wrong or actual}")
    return problems


def grade_cohort(cohort: Cohort, workers: int, repo: Path = REPO,
                 keep: Path | None = None, dask: bool = False, sandbox: str | None = None,
                 figures: bool = True) -> tuple[GradeRun, Scores]:
    """Collect ``cohort`` into a fresh workspace and time ``grade day4 --workers N`` (``dask``:
    ``grade day4 --scheduler`` on a local Dask cluster of N workers, started beforehand;
    ``sandbox``: the ``--sandbox`` mode; ``figures`` False: ``--no-figures``).

    Raises ``WrongGrades`` when a cell's points differ from expected.json. ``keep``: use this
    (new) folder as the workspace and leave it behind.
    """
    workspace = keep or Path(tempfile.mkdtemp(prefix="dlc-bench-grading-"))
    cluster = None
    try:
        done = _autograder(repo, workspace, "collect", DAY, str(cohort.returned))
        if done.returncode != 0:
            raise _failed("collect", done)
        how = ["--workers", str(workers)]
        if dask:
            from bench.dask_cluster import LocalDaskCluster

            cluster = LocalDaskCluster(workspace / "dask")
            cluster.start_scheduler()
            for i in range(workers):
                cluster.add_worker(f"w{i + 1}", {"DLCOURSE_COURSE_ROOT": str(repo)}, wait=False)
            cluster.wait_for_workers({f"w{i + 1}" for i in range(workers)})
            how = ["--scheduler", cluster.address]
        load_before = load_average()
        start = time.perf_counter()
        mode = [*(("--sandbox", sandbox) if sandbox else ()),
                *(() if figures else ("--no-figures",))]
        done = _autograder(repo, workspace, *mode, "grade", DAY, *how)
        seconds = time.perf_counter() - start
        load_after = load_average()
        if done.returncode != 0:
            raise _failed(f"grade {DAY} {' '.join(how)}", done)
        graded = re.search(r"graded (\d+) of (\d+) notebooks", done.stdout)
        total = len(cohort.variants) * len(day_notebooks(repo))
        if graded is None or graded.groups() != (str(total), str(total)):
            raise _failed(f"grade {DAY} --workers {workers} (not every notebook graded)", done)
        scores = read_scores(workspace, cohort)
        problems = grade_mismatches(scores, cohort.expected)
        if problems:
            raise WrongGrades(f"--workers {workers}: {len(problems)} notebook(s) off "
                              "expected.json:\n  " + "\n  ".join(problems[:20]))
        from autograder.gradebook import read_status

        status = read_status(f"sqlite:///{workspace / 'gradebook.db'}", DAY)
        per_notebook = {
            student: {name: float(status[student][name].seconds or 0.0) for name in notebooks}
            for student, notebooks in cohort.variants.items()
        }
        run = GradeRun(workers, cohort.notebooks, seconds, per_notebook, load_before, load_after,
                       dask)
        return run, scores
    finally:
        if cluster is not None:
            cluster.stop()
        if keep is None:
            shutil.rmtree(workspace, ignore_errors=True)


# -- the floor: a kernel and the same cells, without nbgrader ---------------------------------


def floor_notebook(submitted: nbformat.NotebookNode,
                   source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The submission with each test cell's source replaced by the source notebook's (hidden
    tests included, as nbgrader's OverwriteCells puts them back before executing)."""
    tests = {_nbgrader(c)["grade_id"]: c.source for c in source.cells
             if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")}
    nb = nbformat.from_dict(json.loads(json.dumps(submitted)))
    for cell in nb.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in tests:
            cell.source = tests[grade_id]
    return nb


def floor_points(nb: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of an executed notebook: full points for a test cell with no error."""
    return {
        _nbgrader(c)["grade_id"]: 0.0 if any(o.output_type == "error" for o in c.outputs)
        else float(_nbgrader(c)["points"])
        for c in nb.cells
        if c.cell_type == "code" and _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")
    }


def run_floor(nb: nbformat.NotebookNode, repo: Path = REPO,
              timeout: int = 600) -> tuple[float, nbformat.NotebookNode]:
    """(wall seconds, executed notebook): kernel start, every code cell, kernel shutdown.

    The kernel runs in a temporary folder holding the Day 4 fixtures, as the grader's does.
    """
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="dlc-bench-floor-") as folder:
        (Path(folder) / "fixtures").symlink_to(repo / "assignments" / DAY / "fixtures")
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": folder}})
        start = time.perf_counter()
        client.execute(env={**os.environ, **FLOOR_ENV})
        return time.perf_counter() - start, nb


def kernel_start_seconds(rounds: int = 3) -> float:
    """Median wall seconds to start a python3 kernel, wait until it answers, and shut it down."""
    from jupyter_client import KernelManager

    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        manager = KernelManager(kernel_name="python3")
        manager.start_kernel(env={**os.environ, **FLOOR_ENV})
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
        finally:
            client.stop_channels()
            manager.shutdown_kernel()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def floor_sample(cohort: Cohort, size: int) -> list[tuple[str, str, str]]:
    """Up to ``size`` (student, notebook, variant): each notebook in turn, each variant in turn,
    the first student who handed it in that way."""
    first: dict[tuple[str, str], str] = {}
    for student, notebooks in cohort.variants.items():
        for name, variant in notebooks.items():
            first.setdefault((name, variant), student)
    order = sorted(first, key=lambda key: (VARIANTS.index(key[1]), key[0]))
    return [(first[key], *key) for key in order][:size]


def measure_floor(cohort: Cohort, run: GradeRun, size: int,
                  repo: Path = REPO) -> list[FloorResult]:
    """The floor of ``size`` sampled notebooks against the grader's time in ``run``."""
    results = []
    for student, name, variant in floor_sample(cohort, size):
        submitted = nbformat.read(cohort.returned / student / f"{name}.ipynb", as_version=4)
        source = nbformat.read(repo / "solutions" / DAY / f"{name}.ipynb", as_version=4)
        seconds, executed = run_floor(floor_notebook(submitted, source), repo)
        points = floor_points(executed)
        if points != cohort.expected[student][name]:
            raise WrongGrades(f"floor {name} ({variant}): points {points}, expected "
                              f"{cohort.expected[student][name]}: not the grader's test code")
        graders = [run.notebook_seconds[s][name] for s, nbs in cohort.variants.items()
                   if nbs.get(name) == variant]
        results.append(FloorResult(name, variant, statistics.median(graders), seconds))
    return results


def run_bench(students: int, notebooks: list[str] | None = None,
              workers: tuple[int, ...] = WORKERS, floor_size: int = 18, repo: Path = REPO,
              say: Callable[..., None] = print,
              dask_workers: tuple[int, ...] = (), figures: bool = True) -> GradingBench:
    """Everything: the cohort, one timed run per worker count (local processes, then Dask
    workers), the floor (``figures`` False: graded with ``--no-figures``)."""
    with tempfile.TemporaryDirectory(prefix="dlc-bench-cohort-") as scratch:
        cohort = make_cohort(Path(scratch), students, notebooks, repo)
        say(f"{students} students x {cohort.notebooks // students} notebook(s) of {DAY}: "
            f"{cohort.notebooks} notebooks", flush=True)
        runs: list[GradeRun] = []
        scores_by_run: list[Scores] = []
        for n, dask in [*[(n, False) for n in workers], *[(n, True) for n in dask_workers]]:
            run, scores = grade_cohort(cohort, n, repo, dask=dask, figures=figures)
            runs.append(run)
            scores_by_run.append(scores)
            say(f"  {run.command}: {run.seconds:.1f} s, {run.per_minute:.1f} notebooks/min "
                f"(load {_load(run.load_before)} → {_load(run.load_after)})", flush=True)
        if any(s != scores_by_run[0] for s in scores_by_run):
            raise WrongGrades("the worker counts gave different grades")
        bench = GradingBench(students, cohort.notebooks, runs)
        if floor_size > 0:
            bench.kernel_start_seconds = kernel_start_seconds()
            say(f"  kernel start + ready + shutdown: {bench.kernel_start_seconds:.2f} s",
                flush=True)
            bench.floor = measure_floor(cohort, runs[0], floor_size, repo)
            for f in bench.floor:
                say(f"  floor {f.notebook} ({f.variant}): grader {f.grader_seconds:.2f} s, "
                    f"floor {f.floor_seconds:.2f} s, ratio {f.ratio:.2f}", flush=True)
    return bench


def sandbox_cost(students: int, notebooks: list[str] | None, rounds: int, repo: Path = REPO,
                 say: Callable[..., None] = print) -> dict:
    """``grade --workers 1`` of one cohort with ``--sandbox off`` and ``--sandbox require``,
    ``rounds`` times each, alternating (off first in even rounds): per run its wall time and the
    median of the grader's per-notebook seconds; the cost is the ratio of the medians over all
    runs of each mode."""
    found: dict = {"students": students, "rounds": rounds, "runs": []}
    with tempfile.TemporaryDirectory(prefix="dlc-bench-cohort-") as scratch:
        cohort = make_cohort(Path(scratch), students, notebooks, repo)
        found["notebooks"] = cohort.notebooks
        for r in range(rounds):
            for mode in ("off", "require") if r % 2 == 0 else ("require", "off"):
                run, _ = grade_cohort(cohort, 1, repo, sandbox=mode)
                seconds = [v for per in run.notebook_seconds.values() for v in per.values()]
                found["runs"].append({"sandbox": mode, "wall": run.seconds,
                                      "per_notebook": seconds,
                                      "median": statistics.median(seconds),
                                      "load": [run.load_before, run.load_after]})
                say(f"  round {r + 1} --sandbox {mode}: {run.seconds:.1f} s, per notebook "
                    f"median {statistics.median(seconds):.2f} s, load "
                    f"{_load(run.load_before)} -> {_load(run.load_after)}", flush=True)
    for mode in ("off", "require"):
        every = [v for run in found["runs"] if run["sandbox"] == mode
                 for v in run["per_notebook"]]
        found[mode] = {"median": statistics.median(every), "min": min(every), "max": max(every),
                       "run_medians": [run["median"] for run in found["runs"]
                                       if run["sandbox"] == mode]}
    found["ratio"] = found["require"]["median"] / found["off"]["median"]
    return found


# -- tables ----------------------------------------------------------------------------------


def _load(load: tuple[float, float, float] | None) -> str:
    return "unknown" if load is None else " / ".join(f"{v:.2f}" for v in load)


def _total(run: GradeRun) -> float:
    return sum(s for nbs in run.notebook_seconds.values() for s in nbs.values())


def _change(value: float, base: float) -> str:
    return f"{100.0 * (value / base - 1.0):+.1f} %"


def markdown(bench: GradingBench) -> str:
    """The throughput table and the floor table, in Markdown."""
    base = bench.runs[0]
    lines = [
        f"{bench.students} students, {bench.notebooks} notebooks of {DAY}; every run gave every "
        "grade cell the points of expected.json.",
        "",
        "| command | wall | notebooks/min | speedup | sum of per-notebook times | "
        "load (1/5/15 min) before → after |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for run in bench.runs:
        total = sum(s for nbs in run.notebook_seconds.values() for s in nbs.values())
        lines.append(f"| `{run.command}` | {run.seconds:.1f} s | "
                     f"{run.per_minute:.1f} | {base.seconds / run.seconds:.2f} | {total:.1f} s | "
                     f"{_load(run.load_before)} → {_load(run.load_after)} |")
    local = {run.workers: run for run in bench.runs if not run.dask}
    pairs = [(run, local[run.workers]) for run in bench.runs if run.dask and run.workers in local]
    if pairs:
        lines += ["", "The Dask path against local processes with as many workers (wall time, and "
                  "the sum of the grader's per-notebook times):", ""]
        for dask, run in pairs:
            lines.append(f"- {run.workers} worker(s): wall {_change(dask.seconds, run.seconds)}, "
                         f"per-notebook time {_change(_total(dask), _total(run))}")
    if bench.floor:
        lines += [
            "",
            f"Per notebook, `--workers {base.workers}` (median over the students who handed in "
            "that variant) against the floor (kernel start, the same cells with the hidden tests, "
            "kernel shutdown; nbclient, no nbgrader); kernel start + ready + shutdown alone: "
            f"{bench.kernel_start_seconds:.2f} s.",
            "",
            "| notebook | variant | grader | floor | grader / floor |",
            "|---|---|---:|---:|---:|",
        ]
        for f in bench.floor:
            lines.append(f"| {f.notebook} | {f.variant} | {f.grader_seconds:.2f} s | "
                         f"{f.floor_seconds:.2f} s | {f.ratio:.2f} |")
        grader = sum(f.grader_seconds for f in bench.floor)
        floor = sum(f.floor_seconds for f in bench.floor)
        lines.append(f"| all {len(bench.floor)} | | {grader:.1f} s | {floor:.1f} s | "
                     f"{grader / floor:.2f} |")
    return "\n".join(lines)


def checks(size_name: str) -> Iterator[CheckResult]:
    """Rows for ``python -m bench --only grading`` (tiny: 2 students, one notebook)."""
    students, notebooks, floor_size = SIZES[size_name]
    bench = run_bench(students, notebooks, floor_size=floor_size,
                      say=lambda *a, **k: None)
    base = bench.runs[0]
    for run in bench.runs:
        yield CheckResult(
            f"Grading {bench.notebooks} notebooks of {DAY}, --workers {run.workers}",
            f"{run.seconds:.1f} s ({run.per_minute:.1f} notebooks/min)", "-", None,
            note=f"speedup {base.seconds / run.seconds:.2f}; grades as expected.json",
            extra=asdict(run))
    if bench.floor:
        grader = sum(f.grader_seconds for f in bench.floor)
        floor = sum(f.floor_seconds for f in bench.floor)
        yield CheckResult(
            f"Grader time per notebook / floor ({len(bench.floor)} notebooks)",
            f"{grader / floor:.2f}", "-", None,
            note=f"grader {grader:.1f} s, floor {floor:.1f} s; kernel start "
                 f"{bench.kernel_start_seconds:.2f} s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=SIZES["full"][0],
                        help="synthetic students (default %(default)s)")
    parser.add_argument("--notebooks", nargs="+", metavar="STEM",
                        help="hand in only these Day 4 notebooks (default: all six)")
    parser.add_argument("--workers", type=int, nargs="+", default=list(WORKERS),
                        help="worker counts to time, the first is the baseline (default 1 2)")
    parser.add_argument("--dask", type=int, nargs="*", default=[], metavar="N",
                        help="also time grade --scheduler on a local Dask cluster of N workers, "
                        "for each N (e.g. --dask 1 2)")
    parser.add_argument("--floor-sample", type=int, default=SIZES["full"][2],
                        help="notebooks to run for the floor, 0: none (default %(default)s: "
                        "every notebook x variant)")
    parser.add_argument("--sandbox-cost", type=int, metavar="ROUNDS", default=0,
                        help="instead: grade the cohort with --workers 1, --sandbox off and "
                        "require alternately, ROUNDS times each; print the cost per notebook")
    parser.add_argument("--no-figures", action="store_false", dest="figures",
                        help="grade with --no-figures (figures built, not rendered)")
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--markdown", help="write the tables to this Markdown file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    unknown = set(args.notebooks or []) - set(day_notebooks())
    if unknown:
        print(f"error: not notebooks of {DAY}: {sorted(unknown)}", file=sys.stderr)
        return 2
    print(f"dlcourse grading bench, {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} "
          f"cores, load average {_load(load_average())}", flush=True)
    if args.sandbox_cost:
        cost = sandbox_cost(args.students, args.notebooks, args.sandbox_cost)
        print(f"per notebook, median: --sandbox off {cost['off']['median']:.2f} s "
              f"(runs {cost['off']['run_medians']}), require {cost['require']['median']:.2f} s "
              f"(runs {cost['require']['run_medians']}): ratio {cost['ratio']:.3f}")
        print(f"Load average at the end: {_load(load_average())}")
        if args.json:
            Path(args.json).write_text(json.dumps(cost, indent=2) + "\n")
        return 0
    bench = run_bench(args.students, args.notebooks, tuple(args.workers), args.floor_sample,
                      dask_workers=tuple(args.dask), figures=args.figures)
    tables = markdown(bench)
    print()
    print(tables)
    print(f"\nLoad average at the end: {_load(load_average())}")
    if args.markdown:
        Path(args.markdown).write_text(tables + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(bench), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
