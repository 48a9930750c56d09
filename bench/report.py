"""The tables `python -m bench` prints, in Markdown (docs/performance.md takes them as they are)."""

from __future__ import annotations

from typing import Any

from bench.harness import CheckResult, PairResult
from bench.kernels import BN_ARRAYS_MOVED, bandwidth


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "skipped"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _met(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "-"}[met]


def _load(load: Any) -> str:
    return "unknown" if load is None else " / ".join(f"{v:.2f}" for v in load)


def header(info: dict[str, Any], clock: str, rounds: int, with_torch: bool, size: str) -> str:
    torch_text = f"PyTorch {info['torch']}" if with_torch else "PyTorch not measured (skipped)"
    coretype = info.get("OPENBLAS_CORETYPE")
    return "\n".join([
        f"dlcourse bench ({size} size), {info['date']}",
        f"- machine: {info['cpu']}, {info['cores']} cores; load average (1/5/15 min) at start "
        f"{_load(info['load_average'])}",
        f"- Python {info['python']}, numpy {info['numpy']} with {info['blas']}; {torch_text}"
        + (f"; OPENBLAS_CORETYPE={coretype}" if coretype else ""),
        f"- one thread each (threadpoolctl, torch.set_num_threads(1)); {rounds} interleaved "
        f"rounds per pair; times are medians of {'CPU' if clock == 'cpu' else 'wall'} time per "
        "call; ratio = median over rounds of PyTorch time / our time (> 1: we are faster)",
    ])


def _spread(median: float | None, spread: tuple[float, float] | None, fmt) -> str:
    """'median (min–max)' over the rounds."""
    if median is None:
        return "skipped"
    if spread is None:
        return fmt(median)
    return f"{fmt(median)} ({fmt(spread[0])}–{fmt(spread[1])})"


def _ratio(value: float) -> str:
    return f"{value:.2f}"


def pair_line(r: PairResult) -> str:
    ratio = "" if r.ratio is None else f"  ratio {_spread(r.ratio, r.ratio_range, _ratio)}"
    return (f"  {r.name}: ours {_spread(r.ours_s, r.ours_range, _time)}, "
            f"PyTorch {_spread(r.torch_s, r.torch_range, _time)}{ratio}")


def check_line(c: CheckResult) -> str:
    return f"  {c.name}: {c.value} (target {c.target}: {_met(c.met)})"


def tables(
    pairs: list[PairResult],
    checks: list[CheckResult],
    bandwidths: dict[str, float],
    info: dict[str, Any],
    with_torch: bool,
) -> str:
    lines = []
    if pairs:
        lines += [
            "Per contender: median over the rounds (min–max over the rounds).",
            "",
            "| contender | ours | PyTorch | ratio | ratio (wall) | target | met |",
            "|---|---:|---:|---:|---:|---:|:-:|",
        ]
        for r in pairs:
            ratio = "-" if r.ratio is None else _spread(r.ratio, r.ratio_range, _ratio)
            ratio_wall = "-" if r.ratio_wall is None else f"{r.ratio_wall:.2f}"
            target = "-" if r.target is None else f">= {r.target}"
            lines.append(f"| {r.name} | {_spread(r.ours_s, r.ours_range, _time)} | "
                         f"{_spread(r.torch_s, r.torch_range, _time)} | {ratio} | "
                         f"{ratio_wall} | {target} | {_met(r.met)} |")
        if not with_torch:
            lines.append("")
            lines.append("PyTorch is not installed (or --no-torch): no ratios; "
                         "`pip install torch==2.13.0` for the comparison.")
    if bandwidths:
        lines += ["", "Batch normalisation, effective bandwidth (5 arrays moved: forward x, out; "
                  "backward dout, x, dx) against a numpy copy of the same array, and minor page "
                  "faults per forward+backward:", "",
                  "| shape | ours | PyTorch | numpy copy | page faults ours / PyTorch |",
                  "|---|---:|---:|---:|---:|"]
        for r in pairs:
            if not r.name.startswith("BatchNorm"):
                continue
            shape_text = r.name[r.name.index("(") : r.name.index(")") + 1]
            shape = tuple(int(v) for v in shape_text.strip("()").split(","))
            ours = bandwidth(r.ours_s, shape, BN_ARRAYS_MOVED)
            theirs = "-" if r.torch_s is None else f"{bandwidth(r.torch_s, shape):.1f} GB/s"
            copy = bandwidths.get(str(shape))
            copy_text = "-" if copy is None else f"{copy:.1f} GB/s"
            torch_faults = r.extra.get("torch_page_faults")
            faults = (f"{r.extra['ours_page_faults']:.0f} / "
                      + ("-" if torch_faults is None else f"{torch_faults:.0f}"))
            lines.append(f"| {shape_text} | {ours:.1f} GB/s | {theirs} | {copy_text} | {faults} |")
    if checks:
        lines += ["", "| check | measured | target | met | note |", "|---|---|---|:-:|---|"]
        for c in checks:
            lines.append(f"| {c.name} | {c.value} | {c.target} | {_met(c.met)} | {c.note} |")
    lines += ["", f"Load average (1/5/15 min) at the end: {_load(info.get('load_average_end'))}"]
    return "\n".join(lines)
