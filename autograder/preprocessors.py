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
  error's name and message (our messages are written for the learner).
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor, OverwriteCells
from traitlets import List

from autograder.preflight import free_cell_id

TRACEBACK_NOTE = (
    "(非公開テスト (hidden tests) を含むセルのため、"
    "トレースバック (traceback) は省略しています)"
)


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

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        had_hidden = self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if had_hidden and cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.outputs:
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}", TRACEBACK_NOTE]
        return cell, resources
