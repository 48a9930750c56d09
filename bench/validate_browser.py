"""*Validate* as the learner feels it: from the click on the button to the dialog, in Chromium.

    python -m bench.validate_browser [--day day4] [--repeat 3] [--runs 3]

`make lab` (the learner view, with the course's Validate configuration) serves a temporary folder
holding the day's reference samples (finished notebooks, autograder/samples/reference/) and the
day's fixtures. Debian's Chromium, driven by Playwright as the browser tests drive it
(tests/test_browser.py, whose helpers this reuses), opens every notebook in a tab of its own and
waits for its kernel, as a learner who has just run the notebook would have it. Then, round after
round, it clicks *Validate* twice in each tab in turn and measures the wall time from each click to
the dialog showing the verdict, by the page's own clock (a MutationObserver sees the dialog enter
the page; the time is taken at the next frame drawn): the notebook saved, the Validator run by the
server extension (a kernel, the guard, every cell), the answer drawn. Each click is classed by the
kernel it ran on, read from the server's log: *warm* (``autograder.validate_server`` started and
warmed it after the notebook was opened or last validated) or *cold* (started for the click: the
warm kernels, two at most, were for other notebooks); with ``--handler nbgrader`` every kernel is
nbgrader's *fresh* one. The second click of a notebook finds the kernel warmed after the first, as
a learner who fixes a cell and validates again; first clicks are mostly cold (five other notebooks
were validated since). Between two clicks the bench waits ``PAUSE_SECONDS`` (a learner reading the
answer and changing a cell); a click that comes while the next kernel is still being warmed waits
for it, which a shorter pause would measure.
Rounds go over all notebooks before the next round starts, so a burst of load spreads over the
notebooks instead of hitting one.

Printed: per notebook and kind of kernel, the time of each click, their median and min–max,
the verdict (every reference must pass), and the load average at the start and end. With
``--runs N``, N separate runs (each a fresh server and browser), each with its table, then a
summary: the median of the runs' medians and their min–max.
Needs Chromium and playwright (the browser tests' requirements); not a unit test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 3.0  # issue 17, item 5
NBGRADER_EXTENSION = "nbgrader.server_extensions.validate_assignment"
PAUSE_SECONDS = 8.0  # between two clicks: a learner reads the answer, changes a cell
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# Installed in the page just before a click: the page's own clock when #validation-message
# enters the DOM, and after the next frame is drawn. Playwright's wait_for polls with a growing
# back-off (20, 50, 100, 100, then every 500 ms), so a time taken in Python when wait_for returns
# is late by up to half a second; the page's clock is not.
_WATCH_DIALOG = """() => {
    window.__dlcDialog = null;
    const seen = () => document.querySelector('.jp-Dialog #validation-message');
    const observer = new MutationObserver(() => {
        if (!seen()) return;
        observer.disconnect();
        const inserted = performance.now();
        requestAnimationFrame(() => { window.__dlcDialog = {inserted, drawn: performance.now()}; });
    });
    observer.observe(document.body, {childList: true, subtree: true});
    return performance.now();
}"""


def _validate(page, tb) -> tuple[float, str]:  # noqa: ANN001 (playwright page, test module)
    """Click Validate; (seconds from the click to the dialog drawn, by the page's clock; the
    verdict); close the dialog."""
    button = page.locator(f"{tb.PANEL} .jp-Toolbar").get_by_role("button", name="Validate")
    button.wait_for()
    start = page.evaluate(_WATCH_DIALOG)
    button.click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(timeout=tb.RUN_SECONDS * 1000)
    page.wait_for_function("() => window.__dlcDialog !== null", timeout=10_000)
    seconds = (page.evaluate("() => window.__dlcDialog.drawn") - start) / 1000
    kind = message.get_attribute("class") or ""
    verdict = ("success" if "validation-success" in kind
               else f"FAILED: {(message.text_content() or '')[:200]}")
    page.locator(".jp-Dialog").get_by_role("button", name="Ok").click()
    page.locator(".jp-Dialog").wait_for(state="detached")
    return seconds, verdict


def _check_handler(log: Path, handler: str) -> None:
    """The server loaded the Validate extension asked for, and not the other one."""
    deadline = time.monotonic() + 30
    while "extension was successfully loaded" not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise RuntimeError("the server's log shows no extension loaded")
        time.sleep(0.2)
    text = log.read_text(errors="replace")
    ours = "autograder.validate_server | extension was successfully loaded" in text
    theirs = f"{NBGRADER_EXTENSION} | extension was successfully loaded" in text
    if (ours, theirs) != ((True, False) if handler == "dlcourse" else (False, True)):
        raise RuntimeError(f"--handler {handler}, but the server loaded: ours {ours}, "
                           f"nbgrader's {theirs}")


def _kernel_kind(log: Path, notebook: Path, handler: str) -> str:
    """What the last validation of ``notebook`` ran on, from the server's log."""
    if handler == "nbgrader":
        return "fresh"
    marks = [line for line in log.read_text(errors="replace").splitlines()
             if line.endswith(f" kernel for {notebook}") and "Validate: " in line]
    if not marks:
        raise RuntimeError(f"the server's log names no kernel for {notebook}")
    return marks[-1].split("Validate: ")[1].split()[0]  # "warm" or "cold"


def _browser_helpers():  # noqa: ANN202 (modules)
    """tests/test_browser.py's server and page helpers and tests/chromium.py."""
    sys.path.insert(0, str(REPO / "tests"))
    import chromium
    import test_browser

    return chromium, test_browser


def _one_run(args: argparse.Namespace, chromium, tb, references: list[Path]) -> dict:  # noqa: ANN001
    """One separate run: a fresh `make lab` and Chromium, ``args.repeat`` rounds of clicks.
    {"times": {(stem, kind): [seconds]}, "verdicts": {stem: {verdict}}, "load": (start, end)}."""
    with tempfile.TemporaryDirectory(prefix="dlcourse-validate-browser-") as tmp:
        root = Path(tmp) / "learner"
        shutil.copytree(REPO / "solutions" / args.day / "fixtures", root / "fixtures")
        for nb in references:
            shutil.copy(nb, root / nb.name)
        env = {**tb._jupyter_env(Path(tmp) / "home"), **ONE_THREAD}
        env.pop("DLCOURSE_QUICK", None)
        variables = {"LEARNER_ROOT": str(root)}
        if args.handler == "nbgrader":  # the learner view's folder, nbgrader's extension back
            config = Path(tmp) / "learner-config"
            shutil.copytree(REPO / "deploy" / "lab" / "learner", config)
            settings = json.loads((config / "jupyter_server_config.json").read_text())
            settings["ServerApp"]["jpserver_extensions"].update(
                {"autograder.validate_server": False, NBGRADER_EXTENSION: True})
            (config / "jupyter_server_config.json").write_text(json.dumps(settings))
            variables["LEARNER_CONFIG"] = str(config)
        lab = tb._start_lab("lab", variables, env, Path(tmp) / "lab.log")
        times: dict[tuple[str, str], list[float]] = {}
        verdicts: dict[str, set[str]] = {nb.stem: set() for nb in references}
        load_start = os.getloadavg()[0]
        try:
            lab.wait_ready()
            _check_handler(lab.log, args.handler)
            with chromium.chromium() as browser:
                pages = {}
                for nb in references:
                    pages[nb.stem] = tb._new_tab(browser, lab, nb.name)
                    tb._wait_kernel_ready(pages[nb.stem], lab, nb.name)
                for round_ in range(args.repeat):
                    for stem, page in pages.items():
                        page.bring_to_front()
                        for _ in range(2):  # a first click, and a second after a pause
                            seconds, verdict = _validate(page, tb)
                            kind = _kernel_kind(lab.log, root / f"{stem}.ipynb", args.handler)
                            times.setdefault((stem, kind), []).append(seconds)
                            verdicts[stem].add(verdict)
                            # what the server does after answering (the next kernel) is part
                            # of the learner's pause before clicking again, not of this wait
                            time.sleep(PAUSE_SECONDS)
                    print(f"round {round_ + 1} of {args.repeat} done, load average "
                          f"{os.getloadavg()[0]:.1f}", flush=True)
        finally:
            lab.terminate()
            lab.wait_stopped()
        return {"times": times, "verdicts": verdicts, "load": (load_start, os.getloadavg()[0])}


def summary_rows(runs: list[dict]) -> list[tuple[str, str, list[float], float, float, float]]:
    """Over separate runs: (notebook, kernel, each run's median, their median, min, max), for
    every (notebook, kernel) that every run measured."""
    keys = set.intersection(*(set(run["times"]) for run in runs)) if runs else set()
    rows = []
    for stem, kind in sorted(keys):
        medians = [statistics.median(run["times"][stem, kind]) for run in runs]
        rows.append((stem, kind, medians, statistics.median(medians), min(medians), max(medians)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.validate_browser", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--day", default="day4")
    parser.add_argument("--repeat", type=int, default=3, help="rounds over every notebook")
    parser.add_argument("--runs", type=int, default=1,
                        help="separate runs (each a fresh server and browser); with more than "
                             "one, a summary over the runs' medians follows their tables")
    parser.add_argument("--handler", choices=("dlcourse", "nbgrader"), default="dlcourse",
                        help="the Validate server extension: the course's "
                             "(autograder.validate_server, the default of make lab) or "
                             "nbgrader's own, for a before/after")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.runs < 1:
        parser.error("--repeat and --runs must be at least 1")
    chromium, tb = _browser_helpers()
    if (reason := tb._skip_reason()) is not None:
        print(f"not measured: {reason}")
        return 2
    references = sorted((REPO / "autograder" / "samples" / "reference" / args.day).glob("*.ipynb"))
    if not references:
        parser.error(f"no reference samples for {args.day}")

    handler = "autograder.validate_server" if args.handler == "dlcourse" else NBGRADER_EXTENSION
    runs, failed = [], False
    for number in range(1, args.runs + 1):
        run = _one_run(args, chromium, tb, references)
        runs.append(run)
        load_start, load_end = run["load"]
        print(f"\nrun {number} of {args.runs}: {args.day}, {handler}: click on Validate to the "
              f"dialog drawn (the page's clock), {args.repeat} round(s) of two clicks per "
              f"notebook, load average (1 min) {load_start:.1f} at the start, {load_end:.1f} "
              "at the end; kernel: what the click found (warm: started and warmed in advance; "
              "cold: started for the click; fresh: nbgrader's own)\n")
        print("| notebook | kernel | clicks | seconds per click | median (min–max) | verdict | "
              f"median under {TARGET_SECONDS:g} s |")
        print("|---|---|---:|---|---:|---|:-:|")
        for (stem, kind), values in sorted(run["times"].items()):
            verdict = ", ".join(sorted(run["verdicts"][stem]))
            failed |= verdict != "success"
            median = statistics.median(values)
            print(f"| {stem} | {kind} | {len(values)} | {', '.join(f'{v:.2f}' for v in values)} "
                  f"| {median:.2f} s ({min(values):.2f}–{max(values):.2f}) | {verdict} | "
                  f"{'yes' if median < TARGET_SECONDS else 'no'} |", flush=True)
    if args.runs > 1:
        loads = ", ".join(f"{a:.1f} → {b:.1f}" for a, b in (run["load"] for run in runs))
        print(f"\n{args.runs} separate runs; load average (1 min) at the start → end of each "
              f"run: {loads}\n")
        print("| notebook | kernel | median per run | median (min–max) | "
              f"under {TARGET_SECONDS:g} s by the median | by every run |")
        print("|---|---|---|---:|:-:|:-:|")
        for stem, kind, medians, median, low, high in summary_rows(runs):
            print(f"| {stem} | {kind} | {', '.join(f'{m:.2f}' for m in medians)} | "
                  f"{median:.2f} s ({low:.2f}–{high:.2f}) | "
                  f"{'yes' if median < TARGET_SECONDS else 'no'} | "
                  f"{'yes' if high < TARGET_SECONDS else 'no'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
