"""Notebook checks fail with kind Japanese messages: quantity, error, threshold, hint."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from autograder.checks import (
    UPSTREAM_PREFIX,
    CheckFailure,
    check_close,
    check_gradient,
    check_shape,
    check_true,
    check_value,
    depends_on,
    load_fixture,
    render_failure,
    upstream_first,
)

REPO = Path(__file__).resolve().parents[1]


def test_check_close_passes_equal_arrays_and_names_the_worst_element_otherwise():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    check_close("out", x.copy(), x)
    y = x.copy()
    y[2, 1] += 1e-3
    with pytest.raises(CheckFailure) as caught:
        check_close("out", y, x, hint="平均を引きましたか?")
    message = str(caught.value)
    assert "out" in message and "(2, 1)" in message and "rtol=1e-06" in message
    assert message.splitlines()[-1] == "ヒント: 平均を引きましたか?"


def test_check_close_reports_shape_mismatch_and_nan():
    with pytest.raises(CheckFailure, match="形状"):
        check_close("out", np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(CheckFailure, match="nan"):
        check_close("out", np.array([np.nan, 1.0]), np.array([0.0, 1.0]))


def test_check_close_says_when_nothing_was_returned():
    with pytest.raises(CheckFailure, match="None"):
        check_close("dx", None, np.zeros(3))


def test_check_gradient_reports_relative_error_and_threshold():
    g = np.array([1.0, 2.0, 3.0])
    assert check_gradient("dW", g, g + 1e-12, threshold=1e-7) < 1e-7
    with pytest.raises(CheckFailure) as caught:
        check_gradient("dgamma", 2 * g, g, threshold=1e-8, hint="axis=0 で和をとります")
    first = str(caught.value).splitlines()[0]
    assert first == "勾配チェック失敗 (gradient check): dgamma の相対誤差 3.3e-01 > 閾値 1e-08"


def test_check_value_does_not_reveal_the_expected_answer():
    with pytest.raises(CheckFailure) as caught:
        check_value("BN だけが学習できたスケール", {0.1}, {0.01, 0.001})
    assert "0.01" not in str(caught.value)


def test_check_shape_and_check_true():
    check_shape("out", np.zeros((2, 3)), (2, 3))
    with pytest.raises(CheckFailure):
        check_shape("out", np.zeros((2, 3)), (3, 2))
    check_true(True, "never shown")
    with pytest.raises(CheckFailure, match="期待"):
        check_true(False, "期待した値ではありません")


def test_load_fixture_reads_npz_beside_the_notebook_and_explains_a_missing_one(tmp_path):
    (tmp_path / "fixtures").mkdir()
    np.savez(tmp_path / "fixtures" / "demo.npz", a=np.arange(3))
    assert load_fixture("demo", tmp_path)["a"].tolist() == [0, 1, 2]
    with pytest.raises(FileNotFoundError, match="fixture"):
        load_fixture("missing", tmp_path)


# --- ratios: how far over its tolerance a failure is (the typical-bug tests need a margin) -----


def test_failures_record_how_many_times_their_tolerance_they_are():
    with pytest.raises(CheckFailure) as caught:
        check_close("x", np.array([1.0, 2.0]), np.array([1.0, 2.1]), rtol=1e-3, atol=0.0)
    assert caught.value.ratio == pytest.approx(0.1 / (2.1e-3))
    with pytest.raises(CheckFailure) as caught:
        check_gradient("dW", np.array([1.0, 1.0]), np.array([1.0, 1.1]), threshold=1e-7)
    assert caught.value.ratio > 1e5
    with pytest.raises(CheckFailure) as caught:
        check_value("n", 3, 4)
    assert caught.value.ratio == float("inf")
    with pytest.raises(CheckFailure) as caught:
        check_true(False, "条件が成り立ちません")
    assert caught.value.ratio is None


# --- upstream first -----------------------------------------------------------------------------


def test_upstream_first_blames_the_failing_earlier_test_with_its_own_message_and_hint():
    def verify_forward():
        check_close("forward(x)", np.array([2.0]), np.array([1.0]), hint="forward のヒント")

    with pytest.raises(CheckFailure) as caught:
        with upstream_first(test_ok=lambda: None, test_forward=verify_forward):
            check_close("backward", np.array([5.0]), np.array([1.0]), hint="backward のヒント")
    message = str(caught.value)
    assert message.startswith(UPSTREAM_PREFIX.format(test="test_forward"))
    assert "forward のヒント" in message and "backward のヒント" not in message
    assert caught.value.upstream == "test_forward" and caught.value.ratio > 1


def test_upstream_first_keeps_the_cells_own_failure_when_the_earlier_tests_pass():
    with pytest.raises(CheckFailure) as caught:
        with upstream_first(test_forward=lambda: None):
            check_close("backward", np.array([5.0]), np.array([1.0]), hint="backward のヒント")
    assert "backward のヒント" in str(caught.value) and caught.value.upstream is None


def test_upstream_first_names_a_crash_of_the_earlier_function():
    def stub():
        raise NotImplementedError

    with pytest.raises(CheckFailure) as caught:
        with upstream_first(test_forward=stub):
            raise ValueError("shapes (3,) and (4,) not aligned")
    message = str(caught.value)
    assert "先に test_forward を直してください" in message and "NotImplementedError" in message
    assert "ヒント: test_forward のセルを実行し" in message
    assert "ValueError: shapes (3,) and (4,) not aligned" in message


def test_upstream_first_runs_nothing_when_the_block_passes():
    calls = []
    with upstream_first(test_forward=lambda: calls.append(1)):
        check_close("x", 1.0, 1.0)
    assert calls == []


# --- the short box: what the learner sees in a notebook -------------------------------------------


def test_plain_python_rendering_has_the_callers_line_and_no_checks_frames():
    with pytest.raises(CheckFailure) as caught:
        check_close("x", 2.0, 1.0, hint="ヒントです")
    lines = render_failure(caught.value)
    text = "\n".join(lines)
    assert "autograder/checks.py" not in text and "_fail" not in text
    assert "tests/test_checks.py" in text  # the caller's frame
    assert lines[-1].startswith("CheckFailure: ") or "ヒント: ヒントです" in lines[-1]


def _run_in_a_kernel(tmp_path: Path, sources: list[str]):
    """Execute cells in a real IPython kernel (as JupyterLab, Validate and Autograde do)."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    NotebookClient(nb, allow_errors=True, kernel_name="python3", timeout=120,
                   resources={"metadata": {"path": str(REPO)}}).execute()
    return nb


def test_in_a_kernel_a_failure_is_the_learners_line_and_the_message_without_our_frames(tmp_path):
    nb = _run_in_a_kernel(tmp_path, [
        "import numpy as np\nfrom autograder.checks import check_close, upstream_first",
        "def scale(x):\n    return 2.5 * x",
        "x = np.arange(3.0)\ncheck_close('scale(x)', scale(x), 2 * x, hint='2 倍してください。')",
        "with upstream_first(test_scale=lambda: check_close('scale(x)', scale(x), 2 * x,\n"
        "                                                  hint='2 倍してください。')):\n"
        "    check_close('total', scale(x).sum(), 6.0, hint='和のヒント')",
    ])
    for cell, first in ((nb.cells[2], "参照値と一致しません"),
                        (nb.cells[3], "先に test_scale を直してください")):
        (error,) = [o for o in cell.outputs if o.output_type == "error"]
        text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))
        assert error.ename == "CheckFailure" and error.evalue.startswith(first)
        assert "autograder/checks.py" not in text and "contextlib" not in text, text
        assert "_fail" not in text and "def check_close" not in text, text
        assert "interactiveshell" not in text, text
        assert "----> " in text and "Cell In[" in text  # the learner's own line
        assert "ヒント: 2 倍してください。" in text
        assert len(text.splitlines()) < 16, text

    # the feedback page renders the same stored traceback
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "先に test_scale を直してください" in html and "autograder/checks.py" not in html


def test_a_scalar_mismatch_shows_no_empty_index():
    with pytest.raises(CheckFailure) as caught:
        check_close("loss", 2.0, 1.0)
    assert "()" not in str(caught.value) and "値 2、参照値 1" in str(caught.value)


def _run_as_cell(source: str, namespace: dict, name: str) -> None:
    exec(compile(source, f"<cell {name}>", "exec"), namespace)  # noqa: S102 (a test "cell")


def test_depends_on_blames_the_earlier_test_for_a_failing_check_later_in_the_same_cell():
    namespace = {"check_close": check_close, "depends_on": depends_on, "np": np,
                 "forward_ok": [False]}
    cell = (
        "def verify_forward():\n"
        "    check_close('forward', 1.0 if forward_ok[0] else 2.0, 1.0, hint='forward のヒント')\n"
        "depends_on(test_forward=verify_forward)\n"
        "check_close('loss', 5.0, 1.0, hint='loss のヒント')\n"
    )
    with pytest.raises(CheckFailure) as caught:
        _run_as_cell(cell, namespace, "test_loss")
    assert str(caught.value).startswith("先に test_forward を直してください")
    assert "forward のヒント" in str(caught.value) and caught.value.upstream == "test_forward"
    namespace["forward_ok"][0] = True
    with pytest.raises(CheckFailure) as caught:
        _run_as_cell(cell, namespace, "test_loss")
    assert "loss のヒント" in str(caught.value) and caught.value.upstream is None
    # another cell, without the declaration, is not affected
    with pytest.raises(CheckFailure) as caught:
        namespace["forward_ok"][0] = False
        _run_as_cell("check_close('other', 5.0, 1.0, hint='other')", namespace, "test_other")
    assert caught.value.upstream is None


def test_no_space_between_a_japanese_name_and_its_particle():
    with pytest.raises(CheckFailure) as caught:
        check_value("選ばれた名前", ["W1"], ["W1", "W2"])
    assert str(caught.value).startswith("選ばれた名前が違います")
    with pytest.raises(CheckFailure) as caught:
        check_close("dgamma", 2.0, 1.0)
    assert "dgamma の誤差" in str(caught.value)
    with pytest.raises(CheckFailure) as caught:
        check_close("1 バッチ後の running_mean", 2.0, 1.0)
    assert "running_mean の誤差" in str(caught.value)


def test_failed_quantity_reads_the_name_from_each_check_message():
    from autograder.checks import check_gradient, check_shape, check_value, failed_quantity

    cases = [
        (lambda: check_close("dx (非公開)", np.ones(3), np.zeros(3)), "dx (非公開)"),
        (lambda: check_gradient("スパース自己符号化器の dW1", np.ones(3), -np.ones(3), 1e-4),
         "スパース自己符号化器の dW1"),
        (lambda: check_shape("out", np.ones(3), (2,)), "out"),
        (lambda: check_value("is_weight (非公開)", [1], [2]), "is_weight (非公開)"),
    ]
    for check, name in cases:
        with pytest.raises(CheckFailure) as caught:
            check()
        assert failed_quantity(str(caught.value)) == name
    assert failed_quantity("best_lam が一致しません (非公開)。") is None


def test_feedback_of_a_hidden_failure_names_the_quantity_without_its_numbers():
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from autograder.preprocessors import HIDDEN_FAILURE, ClearHiddenTestsAndTracebacks

    source = ("check_close('out', out, fx['out'])\n### BEGIN HIDDEN TESTS\nref = 2.0\n"
              "check_close('dx (非公開)', dx, ref, hint='dx は 2 倍です')\n### END HIDDEN TESTS")
    message = ("参照値と一致しません (reference output): dx (非公開) の誤差は許容幅の 5.0e+05 倍 "
               "(rtol=1e-06, atol=1e-08)。値 3.25、参照値 2.125\nヒント: dx は 2 倍です")
    meta = {"nbgrader": {"grade": True, "grade_id": "t", "solution": False, "locked": True,
                         "points": 1, "schema_version": 3}}

    def feedback(frame: str) -> str:
        cell = new_code_cell(source, metadata=meta)
        cell.outputs = [new_output("error", ename="CheckFailure", evalue=message,
                                   traceback=[f"\x1b[36mFile \x1b[39m\x1b[32m{frame}\x1b[39m\n"])]
        nb, _ = ClearHiddenTestsAndTracebacks().preprocess(new_notebook(cells=[cell]), {})
        output = nb.cells[0].outputs[0]
        return output.evalue + "\n".join(output.traceback)

    for hidden_frame in ("<dlcourse test cell 7>:4", "Cell In[7], line 4"):
        shown = feedback(hidden_frame)
        assert "2.125" not in shown and "3.25" not in shown, shown
        assert HIDDEN_FAILURE.format(what=": dx (非公開)") in shown
        assert "ヒント: dx は 2 倍です" in shown  # a literal hint of the cell
    assert "参照値 2.125" in feedback("<dlcourse test cell 7>:1")  # the visible line: in full
