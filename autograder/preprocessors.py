"""Two small extensions of nbgrader 0.9.6 preprocessors (configured in ``autograder.config``).

- ``RestoreMissingCells``: nbgrader's ``OverwriteCells`` with a fix for re-inserting deleted test
  cells. Upstream anchors a missing test cell after the *previous source cell* of the release, but
  looks that cell up only among grade and solution cells; when the previous cell is a read-only
  cell (prose, setup; locked, with a grade_id) the lookup raises ``KeyError`` and the whole
  submission fails to grade. Here the anchor is the nearest earlier source cell that is present
  in the submission (any cell with a grade_id), else the top of the notebook.
- ``ClearHiddenTestsAndTracebacks``: nbgrader's ``ClearHiddenTests`` for feedback. Stripping the
  hidden region from the cell source is not enough: IPython's traceback of a failed hidden assert
  prints the hidden lines again. In a cell that had hidden tests the traceback is cut to the
  error's name and message (our messages are written for the learner). Learner text never
  breaks it: a "### BEGIN HIDDEN TESTS" without its end (or nested) in a learner's cell hides the
  rest of that cell instead of failing the whole feedback. And no output shows hidden tests: an
  output quoting a line of a hidden region (a learner cell that printed ``In`` / ``_ih``, where
  the executed test cells are) or a hidden-test marker is replaced by a note.
  A failure raised by the hidden part of a test cell (the test cell's line in its traceback lies
  in a hidden region) shows a generic message instead of its own: the quantity that failed and
  that it is a hidden test, never the message's numbers (a hidden reference value in the
  feedback could be read and hard-coded). A hint written literally in the cell is kept. A
  failure of the visible part keeps its full message.
"""

from __future__ import annotations

import re

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor, OverwriteCells
from traitlets import Bool, List

from autograder.checks import UPSTREAM_PREFIX, failed_quantity
from autograder.preflight import free_cell_id

OUTPUT_NOTE = (
    "(非公開テスト (hidden tests) の内容を含むため、この出力は省略しています)\n"
)
MIN_HIDDEN_LINE = 8  # characters: a shorter hidden line ("pass", ")") proves nothing in an output
TRACEBACK_NOTE = (
    "(非公開テスト (hidden tests) を含むセルのため、"
    "トレースバック (traceback) は省略しています)"
)

HIDDEN_FAILURE = (
    "非公開テスト (hidden tests) で不合格でした{what}。"
    "非公開テストの参照値や詳しい結果は表示しません。"
    "公開テストは通っていても、別の形状・値の入力では正しく動いていないようです。"
)
HIDDEN_HINT = "ヒント: {hint}"
# Where a traceback puts the test cell's line: the guard's test cells, or a plain IPython cell.
_CELL_LINE = re.compile(r"<dlcourse test cell \d+>:(\d+)|Cell In\[\d+\], line (\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failing_line(traceback: list[str]) -> int | None:
    """The line of the test cell (its outermost frame) at which an error output's traceback
    says the cell failed; None without a frame of the cell (a tamper report, a timeout)."""
    for entry in traceback or []:
        found = _CELL_LINE.search(_ANSI.sub("", str(entry)))
        if found:
            return int(found.group(1) or found.group(2))
    return None


def hidden_failure_message(evalue: str, source: str) -> str:
    """The feedback's message for a failure of a hidden test: which quantity failed (as its
    check named it), the first line of a "fix the earlier test first" message, and the hint
    if the cell's source has it literally; no numbers of the check's message."""
    quantity = failed_quantity(evalue.rpartition("(このセルのテストの結果: ")[2] or evalue)
    message = HIDDEN_FAILURE.format(what=f": {quantity}" if quantity else "")
    headline = evalue.strip().partition("\n")[0]
    if headline.startswith(UPSTREAM_PREFIX.split("{", 1)[0]) and ": " in headline:
        message = headline.partition(": ")[0] + "。" + message
    hint = evalue.rpartition("ヒント: ")[2].strip() if "ヒント: " in evalue else ""
    if hint and "\n" not in hint and hint in source:
        message += "\n" + HIDDEN_HINT.format(hint=hint)
    return message


class RestoreMissingCells(OverwriteCells):
    """``OverwriteCells`` putting a deleted test cell back after the nearest surviving cell."""

    def add_missing_grade_cells(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_ids = [cell.name for cell in source_nb.source_cells]
        source_by_id = {cell.name: cell for cell in source_nb.source_cells}
        solution_ids = {cell.name for cell in source_nb.solution_cells}

        def position(grade_id: str) -> int | None:
            for index, cell in enumerate(nb.cells):
                if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
                    return index
            return None

        # Source order, so a run of deleted cells is restored in order, each after the previous.
        for grade_cell in sorted(source_nb.grade_cells, key=lambda c: source_ids.index(c.name)):
            if position(grade_cell.name) is not None:
                continue
            self.log.warning("Missing grade cell %s, adding it back", grade_cell.name)
            restored = self.missing_cell_transform(
                source_by_id[grade_cell.name],
                grade_cell.max_score,
                is_solution=grade_cell.name in solution_ids,
            )
            # nbformat 4.5 wants a cell id; upstream leaves it out (a warning per restored cell).
            restored["id"] = free_cell_id({c.get("id") for c in nb.cells},
                                          f"restored-{grade_cell.name}")
            earlier = source_ids[: source_ids.index(grade_cell.name)]
            anchors = [p for p in (position(name) for name in reversed(earlier)) if p is not None]
            nb.cells.insert(anchors[0] + 1 if anchors else 0, restored)
        return nb, resources


class ClearHiddenTestsAndTracebacks(ClearHiddenTests):
    """``ClearHiddenTests`` that also cuts tracebacks, which would quote the hidden lines."""

    # Configurable like nbconvert's own (HTMLExporter configures it for every preprocessor): an
    # unconfigurable copy of the trait makes traitlets warn once per feedback page.
    display_data_priority = List(
        NbGraderPreprocessor.class_traits()["display_data_priority"].default()
    ).tag(config=True)
    # A learner's cell with the marker text is hidden from where it starts, not an error that
    # fails the whole page (upstream raises for a hidden region outside a grade cell).
    enforce_metadata = Bool(False).tag(config=True)

    def _regions(self, source: str) -> list[tuple[str, str]]:
        """Each line of ``source`` with its kind: "marker" (a hidden region's begin or end),
        "hidden" (inside a region; an unclosed one runs to the end) or "visible"."""
        lines, inside = [], False
        for line in source.split("\n"):
            if self.begin_test_delimeter in line:
                inside, kind = True, "marker"
            elif self.end_test_delimeter in line:
                inside, kind = False, "marker"
            else:
                kind = "hidden" if inside else "visible"
            lines.append((line, kind))
        return lines

    def _hidden_lines(self, source: str) -> list[str]:
        """The lines of ``source``'s hidden regions, without their markers."""
        return [line for line, kind in self._regions(source) if kind == "hidden"]

    def _hidden_line_numbers(self, source: str) -> set[int]:
        """1-based numbers of the lines ``_remove_hidden_test_region`` takes out (markers
        included)."""
        return {number for number, (_, kind) in enumerate(self._regions(source), start=1)
                if kind != "visible"}

    def _remove_hidden_test_region(self, cell: NotebookNode) -> bool:
        removed = self.begin_test_delimeter in cell.source
        if removed:
            cell.source = "\n".join(line for line, kind in self._regions(cell.source)
                                    if kind == "visible")
        return removed

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict
                   ) -> tuple[NotebookNode, ResourcesDict]:
        self._secrets = {self.begin_test_delimeter, self.end_test_delimeter}
        for cell in nb.cells:
            self._secrets |= {line.strip() for line in self._hidden_lines(cell.source)
                              if len(line.strip()) >= MIN_HIDDEN_LINE}
        return super().preprocess(nb, resources)

    def _quotes_hidden(self, output: NotebookNode) -> bool:
        parts = [str(output.get("text", "")), str(output.get("evalue", "")),
                 *map(str, output.get("traceback", []) or [])]
        parts += [v if isinstance(v, str) else str(v)
                  for v in (output.get("data") or {}).values()]
        text = "\n".join(parts)
        return any(secret in text for secret in self._secrets)

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        had_hidden = self.begin_test_delimeter in cell.source
        source = cell.source
        hidden = self._hidden_line_numbers(source)
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if had_hidden and cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.outputs:
                if output.output_type == "error":
                    if failing_line(output.get("traceback", [])) in hidden:
                        output.evalue = hidden_failure_message(str(output.evalue), source)
                    output.traceback = [f"{output.ename}: {output.evalue}", TRACEBACK_NOTE]
        if cell.cell_type == "code":
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=OUTPUT_NOTE)
                            if self._quotes_hidden(output) else output
                            for output in cell.get("outputs", [])]
        return cell, resources
