"""Before grading: read a student's submitted notebooks, match them to the assignment, repair what
nbgrader would otherwise choke on, and say what was done.

nbgrader grades a notebook by its file name and its cells by their ``grade_id``; a learner's
notebook can lose or garble either. For each submitted file:

- it must be JSON (text that is not UTF-8 is read with replacement characters, flagged) and a
  notebook nbformat accepts (missing cell fields are filled in, flagged); otherwise the notebook
  scores 0 with status "invalid notebook" and the reason;
- a file is recognised by content (``similarity``: the share of a notebook's cell ids, of its
  grade_ids or of its locked cells' sources that it carries). A file whose name is not a notebook
  of the assignment is matched to an assignment notebook that was not submitted under its own
  name: "renamed"; without a match it is reported as an extra notebook and not graded;
- a submission for the wrong assignment: a file named as notebook X that is recognisably another
  notebook (of this assignment, already submitted, or of another day: ``others``), or that carries
  grade_ids of which none is X's, scores 0 for X with status "wrong assignment" and the reason
  (unless it is a renamed copy of another notebook not submitted, which is graded as that one);
  a notebook of another day dropped in beside the assignment's files turns every missing
  assignment notebook into "wrong assignment" too;
- a cell id used by several cells is kept by the cell with nbgrader metadata (else the first);
  the others get fresh ids (nbformat would pick random ones, silently);
- cells that lost their nbgrader metadata get it back from the released notebook (matched by cell
  id, or by the source of a locked cell); a ``grade_id`` unknown to the assignment is put back from
  the released cell with the same cell id, or removed; a ``grade_id`` that occurs twice keeps only
  its first cell (the copies become plain cells), instead of aborting the grading;
- a cell whose nbgrader flags or points were edited (``"grade": false`` on a test cell) gets the
  released metadata back (nbgrader would abort the whole notebook: "Inconsistent checksums");
- a file nested deeper than ``MAX_DEPTH`` is not a notebook (JSON readers would recurse);
- a cell with a grade_id whose type was changed (a test or setup cell turned markdown or raw, a
  solution turned markdown) gets its released type back, as nbgrader's ``OverwriteCells`` would do
  silently: flagged here, and a solution's code is then scanned and run like any other;
- released cells moved or shuffled are put back in the released order (``restore_order``): a
  solution dragged below its test is run before it again; the learner's own cells move with the
  released cell they followed;
- an assignment notebook with no file at all is "missing".

The submitted files are never changed: the repaired notebook is what the grader copies into its
sandbox.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

from autograder.tamper_scan import scan

STATUS_OK = "ok"
STATUS_INVALID = "invalid notebook"
STATUS_MISSING = "missing"
STATUS_WRONG = "wrong assignment"
MAX_DEPTH = 64  # JSON nesting of a submitted notebook (a real one: under 10)
MATCH_SHARE = 0.5  # share of a notebook's marks (``similarity``) a file must carry to be it


@dataclass
class Prepared:
    """One assignment notebook of one student, ready to grade (``nb``) or not (``status``)."""

    notebook: str  # the assignment notebook's name (stem)
    nb: NotebookNode | None = None
    status: str = STATUS_OK
    reason: str = ""
    flags: list[str] = field(default_factory=list)
    file: Path | None = None  # the submitted file it comes from


@dataclass
class Submission:
    """Everything found in one student's submission folder."""

    notebooks: list[Prepared]
    extra: list[str] = field(default_factory=list)  # files not graded, with the reason


def _meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _grade_ids(nb: NotebookNode) -> list[str]:
    return [_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("grade_id")]


def free_cell_id(taken: set[str], wanted: str) -> str:
    """``wanted`` made a valid nbformat cell id (``[a-zA-Z0-9-_]{1,64}``) not in ``taken``."""
    base = re.sub(r"[^a-zA-Z0-9_-]", "-", wanted)[:60]
    candidate, n = base, 1
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _unique_cell_ids(raw: dict) -> list[str]:
    """Give every cell id used more than once to one cell only: the one with nbgrader metadata,
    else the first; the others get fresh ids. Flags."""
    cells = [c for c in raw.get("cells", [])
             if isinstance(c, dict) and isinstance(c.get("id"), str)]
    counts = Counter(c["id"] for c in cells)
    taken = set(counts)
    flags = []
    for cell_id in sorted(k for k, n in counts.items() if n > 1):
        same = [c for c in cells if c["id"] == cell_id]
        keeper = next((c for c in same if isinstance(c.get("metadata"), dict)
                       and c["metadata"].get("nbgrader")), same[0])
        for cell in same:
            if cell is not keeper:
                cell["id"] = free_cell_id(taken, cell_id)
                taken.add(cell["id"])
                flags.append(f"repaired: duplicate cell id {cell_id!r}: the other cell renamed "
                             f"{cell['id']!r}")
    return flags


def _depth(value: object) -> int:
    """How deeply ``value`` (parsed JSON) nests lists and objects (without recursing)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                items = item.values() if isinstance(item, dict) else item
                todo += [(v, depth + 1) for v in items]
    return deepest


def read_notebook(path: Path) -> tuple[NotebookNode | None, str, list[str]]:
    """(notebook or None, reason when None, flags) for a submitted file."""
    flags: list[str] = []
    try:
        data = path.read_bytes()
    except OSError as error:  # this notebook is not graded; the others of the run are
        return None, f"unreadable file: {error.strerror or error}", flags
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        flags.append("not UTF-8: undecodable bytes replaced")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"not JSON: {error.msg} (line {error.lineno})", flags
    except RecursionError:
        return None, "not JSON this grader reads: nested too deeply", flags
    if _depth(raw) > MAX_DEPTH:  # deeper than any notebook: nbformat and copies would recurse
        return None, f"not a notebook: JSON nested deeper than {MAX_DEPTH} levels", flags
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", []), list):
        return None, "not a notebook (no list of cells)", flags
    flags += _unique_cell_ids(raw)
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as error:  # nbformat's own errors are many
        return None, f"not a notebook nbformat can read: {error}", flags
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError:
        if not _repair_structure(nb):
            return None, "not a valid notebook (nbformat schema)", flags
        flags.append("notebook structure repaired")
    return nb, "", flags


def _repair_structure(nb: NotebookNode) -> bool:
    """Fill in what nbformat requires of each cell; True when the notebook is then valid."""
    cells = []
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        source = cell.get("source", "")
        cell["source"] = "".join(source) if isinstance(source, list) else str(source)
        cell.setdefault("metadata", {})
        if not isinstance(cell["metadata"], dict):
            cell["metadata"] = {}
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        cells.append(nbformat.from_dict(cell))
    nb.cells = cells
    nb.setdefault("metadata", {})
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError:
        return False
    return True


def _cell_ids(nb: NotebookNode) -> set[str]:
    return {c.get("id") for c in nb.cells if c.get("id")}


def _locked_sources(nb: NotebookNode) -> set[str]:
    return {c.source.strip() for c in nb.cells
            if _meta(c).get("locked") and not _meta(c).get("solution") and c.source.strip()}


def similarity(nb: NotebookNode, reference: NotebookNode) -> float:
    """How much of ``reference`` the file ``nb`` carries: the largest share of its cell ids, of
    its grade_ids, or of its locked cells' sources found in ``nb`` (0 to 1). Each survives what
    the others may lose: stripped metadata keeps the ids, a copy into a new notebook the sources."""
    sources = {c.source.strip() for c in nb.cells if c.source.strip()}
    pairs = [(_cell_ids(reference), _cell_ids(nb)),
             (set(_grade_ids(reference)), set(_grade_ids(nb))),
             (_locked_sources(reference), sources)]
    return max((len(ref & got) / len(ref) for ref, got in pairs if ref), default=0.0)


def _match(nb: NotebookNode, notebooks: dict[str, NotebookNode], among: set[str]) -> str | None:
    """The notebook of ``among`` that ``nb`` is a copy of (the most similar one), if any."""
    best, best_share = None, 0.0
    for name in sorted(among):
        share = similarity(nb, notebooks[name])
        if share > best_share:
            best, best_share = name, share
    return best if best_share >= MATCH_SHARE else None


def _foreign(nb: NotebookNode, name: str, released: dict[str, NotebookNode],
             others: dict[str, NotebookNode]) -> str | None:
    """Why the file submitted as ``name`` is another notebook, or None if it may be ``name``
    (also when it is unrecognisable without grade_ids: a learner's own copy, graded as it is)."""
    if similarity(nb, released[name]) >= MATCH_SHARE:
        return None
    same_day = _match(nb, released, set(released) - {name})
    if same_day is not None:
        return f"it is {same_day}, not {name}"
    elsewhere = _match(nb, others, set(others))
    if elsewhere is not None:
        return f"it is {elsewhere}, not {name}"
    grade_ids = set(_grade_ids(nb))
    if grade_ids and not grade_ids & set(_grade_ids(released[name])):
        shown = ", ".join(sorted(grade_ids)[:3]) + (", ..." if len(grade_ids) > 3 else "")
        return f"none of its grade_ids ({shown}) is one of {name}"
    return None


def _edited(meta: dict, released: dict) -> bool:
    """A cell's nbgrader flags or points differ from the released cell's: nbgrader's
    ``OverwriteCells`` would abort the whole notebook ("Inconsistent checksums")."""
    if any(bool(meta.get(k)) != bool(released.get(k)) for k in ("grade", "solution", "locked")):
        return True
    try:
        return float(meta.get("points", 0) or 0) != float(released.get("points", 0) or 0)
    except (TypeError, ValueError):
        return True


def repair_cells(nb: NotebookNode, released: NotebookNode) -> list[str]:
    """Put back nbgrader metadata and grade_ids from ``released``; drop duplicates. Flags."""
    flags: list[str] = []
    known = {_meta(c)["grade_id"]: c for c in released.cells if _meta(c).get("grade_id")}
    by_cell_id = {c.get("id"): c for c in released.cells if c.get("id") and _meta(c)}
    locked_by_source = {c.source: c for c in released.cells
                        if _meta(c).get("locked") and not _meta(c).get("solution")}
    present = set(_grade_ids(nb)) & set(known)

    def adopt(cell: NotebookNode, source_cell: NotebookNode, why: str) -> None:
        grade_id = _meta(source_cell)["grade_id"]
        cell.metadata["nbgrader"] = json.loads(json.dumps(_meta(source_cell)))
        present.add(grade_id)
        flags.append(f"{why}: {grade_id}")

    seen: set[str] = set()
    for cell in nb.cells:
        meta = _meta(cell)
        grade_id = meta.get("grade_id")
        twin = by_cell_id.get(cell.get("id"))
        if grade_id is None:
            twin = twin or (locked_by_source.get(cell.source) if cell.source.strip() else None)
            if twin is not None and _meta(twin)["grade_id"] not in present:
                adopt(cell, twin, "nbgrader metadata restored")
        elif grade_id not in known:
            if twin is not None and _meta(twin)["grade_id"] not in present:
                adopt(cell, twin, f"grade_id {grade_id!r} restored to")
            else:
                del cell.metadata["nbgrader"]
                flags.append(f"unknown grade_id {grade_id!r}: nbgrader metadata removed")
        elif grade_id not in seen and _edited(meta, _meta(known[grade_id])):
            adopt(cell, known[grade_id], "nbgrader metadata edited (grade, solution, locked or "
                                         "points), restored")
        grade_id = _meta(cell).get("grade_id")
        if grade_id is not None and grade_id in seen:
            del cell.metadata["nbgrader"]
            flags.append(f"duplicate grade_id {grade_id!r}: the copy is graded as a plain cell")
        elif grade_id is not None:
            seen.add(grade_id)
            flags += _restore_type(cell, known[grade_id])
    return flags


def _restore_type(cell: NotebookNode, released: NotebookNode) -> list[str]:
    """The released cell type for ``cell`` (code cells get empty outputs). Flags."""
    was, wanted = cell.cell_type, released.cell_type
    if was == wanted:
        return []
    cell.cell_type = wanted
    if wanted == "code":  # nbformat's schema: outputs and a count, no attachments
        cell.outputs, cell.execution_count = [], None
        cell.pop("attachments", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return [f"repaired: cell type: {_meta(cell)['grade_id']} {was} -> {wanted}"]


def _increasing(ranks: list[int]) -> set[int]:
    """Positions of one longest increasing run (not necessarily contiguous) of ``ranks``."""
    best: list[list[int]] = []
    for i, rank in enumerate(ranks):
        chains = [best[j] for j in range(i) if ranks[j] < rank]
        best.append([*max(chains, key=len, default=[]), i])
    return set(max(best, key=len, default=[]))


def restore_order(nb: NotebookNode, released: NotebookNode) -> list[str]:
    """Put the cells with a released grade_id back in the released order; each of the learner's
    own cells moves with the released cell before it (those above the first stay on top). Flags:
    the cells that were out of place (outside one longest run already in order)."""
    rank = {grade_id: i for i, grade_id in enumerate(_grade_ids(released))}
    groups: list[tuple[int, str | None, list[NotebookNode]]] = [(-1, None, [])]
    for cell in nb.cells:
        grade_id = _meta(cell).get("grade_id")
        if grade_id in rank:
            groups.append((rank[grade_id], grade_id, [cell]))
        else:
            groups[-1][2].append(cell)
    ranks = [r for r, _, _ in groups[1:]]
    if ranks == sorted(ranks):
        return []
    kept = _increasing(ranks)
    moved = [grade_id for i, (_, grade_id, _) in enumerate(groups[1:]) if i not in kept]
    nb.cells = [cell for _, _, cells in sorted(groups, key=lambda g: g[0]) for cell in cells]
    return [f"repaired: reordered: {', '.join(moved)} put back in the released order"]


def prepare(folder: Path, released: dict[str, NotebookNode],
            others: dict[str, NotebookNode] | None = None) -> Submission:
    """Read, match and repair every ``*.ipynb`` in ``folder`` against the ``released`` ones;
    ``others``: the notebooks of other assignments ("<day>/<name>"), to name a wrong one."""
    others = others or {}
    read: dict[Path, tuple[NotebookNode | None, str, list[str]]] = {
        path: read_notebook(path) for path in sorted(folder.glob("*.ipynb"))
    }
    chosen: dict[str, Prepared] = {}
    misnamed: dict[Path, str] = {}  # a file named as an assignment notebook it is not -> why
    extra: list[str] = []
    foreign: list[str] = []  # "<file> is <day>/<name>" for notebooks of other assignments
    for path, (nb, reason, flags) in read.items():
        if path.stem not in released:
            continue
        why = _foreign(nb, path.stem, released, others) if nb is not None else None
        if why is not None:
            misnamed[path] = why
            continue
        status = STATUS_OK if nb is not None else STATUS_INVALID
        chosen[path.stem] = Prepared(path.stem, nb, status, reason, list(flags), path)
    # Files under other names, then the misnamed ones: a file named X that holds Y is graded as
    # Y when Y has no file of its own, and X is then missing.
    for path in [*(p for p in read if p.stem not in released), *misnamed]:
        nb, reason, flags = read[path]
        free = set(released) - set(chosen)
        name = _match(nb, released, free) if nb is not None else None
        if name is not None:
            chosen[name] = Prepared(name, nb, STATUS_OK, "", [*flags, f"renamed: submitted as "
                                                              f"{path.name}"], path)
        elif path in misnamed and path.stem not in chosen:
            chosen[path.stem] = Prepared(path.stem, None, STATUS_WRONG,
                                         f"{path.name}: {misnamed[path]}", list(flags), path)
        elif path in misnamed:
            extra.append(f"{path.name}: not graded ({STATUS_WRONG}: {misnamed[path]})")
        elif nb is not None and (elsewhere := _match(nb, others, set(others))) is not None:
            foreign.append(f"{path.name} is {elsewhere}")
            extra.append(f"{path.name}: not graded ({STATUS_WRONG}: it is {elsewhere})")
        else:
            copy = _match(nb, released, set(released)) if nb is not None else None
            why = reason or (f"another copy of {copy}" if copy
                             else "not a notebook of this assignment")
            extra.append(f"{path.name}: not graded ({why})")
    notebooks = []
    for name in sorted(released):
        prepared = chosen.get(name)
        if prepared is None and foreign:
            prepared = Prepared(name, None, STATUS_WRONG,
                                f"no {name}.ipynb; " + "; ".join(foreign))
        elif prepared is None:
            prepared = Prepared(name, None, STATUS_MISSING, f"no {name}.ipynb in the submission")
        if prepared.nb is not None:
            prepared.flags += repair_cells(prepared.nb, released[name])
            prepared.flags += restore_order(prepared.nb, released[name])
            prepared.flags += [f"tamper suspected (code): {finding}"
                               for finding in scan(prepared.nb, released[name])]
        notebooks.append(prepared)
    return Submission(notebooks, extra)


def released_notebooks(folder: Path) -> dict[str, NotebookNode]:
    """The released notebooks of one day, by name."""
    return {p.stem: nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))}
