"""Running a submission's cells under autograding: nbgrader's ``Execute`` with the limits and the
tamper guard this course needs (configured in ``autograder.config``).

``GuardedExecute`` (autograde) adds to nbgrader's ``Execute``:

- the guard (``autograder.guard``): a one-line prologue in front of the first code cell (snapshot,
  memory limit) and of every graded test cell (restore, rebind the locked cells' imports), then,
  after each test cell, the guard's verdict read through ``user_expressions`` of a silent request
  (outside IPython's cell pipeline). A test cell is scored 0, with the reason in its output, when
  its prologue did not run, when a helper changed while it ran, or when no verdict came back;
- a cell's timeout counted in the kernel's CPU seconds (``autograder.cputime``; the clock is a
  generous backstop), so that machine load does not change a grade;
- a budget per notebook, in the kernel's CPU seconds too (the clock a backstop): each cell's
  timeout is cut to what is left of it, and once it is spent the remaining cells are not run
  (each test cell gets an error output saying so);
- a kernel that dies (``os._exit``, a crash) or stops answering (its event loop broken by a
  patched builtin, recursion that broke the interpreter) ends the run like a spent budget, with
  status ``kernel died`` and the reason, instead of aborting the notebook: the cells already run
  keep their scores, and it is the learner's result (complete, not retried);
- outputs capped in bytes, per cell and per notebook, as they arrive (nbgrader's ``LimitOutput``
  counts lines: one 50 MB line goes through); error outputs are always kept, shortened;
- output widgets never capture an error output (``store_widget_state`` off), and an
  ``execute_result`` in a failed test cell is shown as display data, so it cannot count as
  nbgrader's partial credit (nbgrader takes the first one, ahead of any error).

What happened goes to ``nb.metadata["dlcourse"]`` (status, flags, per-cell reasons), which the
grader reads back from the autograded notebook.

``ValidateGuard`` gives nbgrader's plain ``Execute`` (used by ``nbgrader validate`` and the Validate
button, whose preprocessors cannot be configured) the same prologues through its hooks, so that
Validate does not report success for a notebook whose tests pass only because helpers were patched.
"""

from __future__ import annotations

import ast
import json
import secrets
import time
from typing import Any

from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

from autograder import cputime

GUARD = '__import__("autograder.guard").guard'
VERDICT_TIMEOUT = 20  # seconds for the guard's answer after a test cell
PROBE_TIMEOUT = 10  # seconds for a kernel that went silent in a cell to show it still answers
FLAG_TAMPER = "tamper suspected"
STATUS_KERNEL_DIED = "kernel died"
STATUS_TIME_BUDGET = "time budget exceeded"
# Compound statements cannot follow "prologue; " on their first line.
_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor, ast.While,
             ast.If, ast.With, ast.AsyncWith, ast.Try, ast.TryStar, ast.Match)


def _meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_code(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and bool(cell.source.strip())


def _is_test(cell: NotebookNode) -> bool:
    return _is_code(cell) and utils.is_grade(cell) and not utils.is_solution(cell)


def is_locked_setup(cell: NotebookNode) -> bool:
    meta = _meta(cell)
    return _is_code(cell) and meta.get("locked") and not meta.get("grade") \
        and not meta.get("solution")


def setup_statements(source: str) -> list[str]:
    """Top-level imports, ``name = load_fixture(...)`` and function definitions (``def``, with
    their decorators: the helpers a test calls, such as ``reference_disabled``) of a locked cell,
    as source text. A learner's cell that redefines such a helper changes the notebook's name, not
    the test's."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    lines = source.split("\n")
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found.append("\n".join(lines[start - 1:node.end_lineno]))
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        loads_fixture = (
            isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
            and ((isinstance(node.value.func, ast.Name) and node.value.func.id == "load_fixture")
                 or (isinstance(node.value.func, ast.Attribute)
                     and node.value.func.attr == "load_fixture"))
        )
        if isinstance(node, ast.Import | ast.ImportFrom) or loads_fixture:
            found.append(ast.get_source_segment(source, node))
    return [s for s in found if s]


def with_prologue(source: str, prologue: str) -> str:
    """``source`` with ``prologue`` run first, keeping line numbers where possible: joined to the
    first line by "; " when it starts a simple statement (or is blank or a comment)."""
    lines = source.split("\n")
    first = lines[0].strip()
    if not first:
        return "\n".join([prologue, *lines[1:]])
    if first.startswith("#"):
        return "\n".join([f"{prologue};  {lines[0]}", *lines[1:]])
    try:
        tree = ast.parse(source)
    except SyntaxError:  # magics or broken code: its own line (IPython reports the error)
        return f"{prologue}\n{source}"
    head = tree.body[0] if tree.body else None
    if head is None or head.lineno != 1 or head.col_offset != 0 or isinstance(head, _COMPOUND) \
            or (isinstance(head, ast.ImportFrom) and head.module == "__future__"):
        return f"{prologue}\n{source}"
    return f"{prologue}; {source}"


class GradingEnvironmentError(RuntimeError):
    """The grading kernel cannot grade (its environment is broken): a grading error, retried,
    never a score."""


class GuardPlan:
    """Which cells of a notebook get which prologue (computed once per run).

    A locked non-test cell gets ``guard.cell()``: once it has run, the guard records the names it
    bound (``histories = ...`` of an experiment), and a test that reads one gets what the locked
    cell produced, not what a learner's cell after it rebound or changed.
    """

    def __init__(self, nb: NotebookNode, memory_limit: int = 0):
        self.memory_limit = memory_limit
        self.first_code = next((i for i, c in enumerate(nb.cells) if _is_code(c)), None)
        self.rebind: dict[int, str] = {}
        self.locked: set[int] = set()  # locked non-test cells: what they bind is recorded
        setup: list[str] = []
        for index, cell in enumerate(nb.cells):
            if is_locked_setup(cell):
                setup += setup_statements(cell.source)
                self.locked.add(index)
            elif _is_test(cell):
                self.rebind[index] = "\n".join(dict.fromkeys(setup))

    def prologue(self, index: int, token: str | None) -> str | None:
        parts = []
        if index == self.first_code:
            parts.append(f"{GUARD}.enter(None, '', {self.memory_limit})")
        if index in self.locked:
            parts.append(f"{GUARD}.cell()")
        return "; ".join(parts) or None

    def source(self, index: int, token: str | None, original: str) -> str | None:
        """What the kernel runs for cell ``index`` (None: the cell as it is). A test cell becomes
        one call that runs its source in a namespace of its own (``guard.run_test``)."""
        if index in self.rebind and token is not None:
            run = (f"{GUARD}.run_test({token!r}, {self.rebind[index]!r}, {self.memory_limit}, "
                   f"{original!r})")
            if index == self.first_code:
                return f"{self.prologue(index, None)}; {run}"
            return run
        prologue = self.prologue(index, token)
        return with_prologue(original, prologue) if prologue else None


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


def _cpu_timeout(cell: NotebookNode, limit: float) -> None:
    """The interrupt the CPU watchdog sent, shown (and judged) as the cell's timeout."""
    for output in cell.outputs:
        if output.output_type == "error" and output.ename == "KeyboardInterrupt":
            output.ename = "CellTimeoutError"
            output.evalue = (f"CPU 時間の上限 ({limit:g} 秒) を超えたため中断しました "
                             f"(CPU time limit exceeded)。無限ループや重すぎる計算がないか確かめて"
                             f"ください。")
            output.traceback = [f"CellTimeoutError: {output.evalue}"]


def _size(content: dict) -> int:
    total = len(str(content.get("text", "")))
    for value in (content.get("data") or {}).values():
        total += len(value) if isinstance(value, str) else len(json.dumps(value))
    return total


class GuardedExecute(Execute):
    """nbgrader's ``Execute`` with the guard, a notebook time budget and byte-capped outputs."""

    time_budget = Integer(0, help="seconds for a whole notebook (0: no limit)").tag(config=True)
    memory_limit = Integer(0, help="bytes of address space for the kernel (0: none)").tag(
        config=True)
    output_limit = Integer(1_000_000, help="bytes of output kept per cell").tag(config=True)
    notebook_output_limit = Integer(5_000_000, help="bytes of output kept per notebook").tag(
        config=True)
    store_widget_state = Bool(False)  # an output widget could otherwise swallow an error output

    # The Validate guard is configured as nbclient hooks on plain ``Execute`` (the Validator's
    # preprocessors are not configurable), and traitlets hands a parent's section to subclasses:
    # those hooks must not run here as well. They stay traits (so that the configuration is
    # recognised, without a warning per notebook) and are cleared once configured.
    VALIDATE_HOOKS = ("on_notebook_start", "on_cell_execute", "on_cell_complete")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Every grading kernel starts inside the sandbox's walls (``autograder.sandbox``; its
        # mode comes from the config). nbgrader's Execute passes its own class as a keyword,
        # which would win over any configured ``kernel_manager_class``.
        from autograder.sandbox import SandboxKernelManager

        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)

    def _load_config(self, cfg: Any, section_names: Any = None, traits: Any = None) -> None:
        # Each time the configuration is applied, not once: nbconvert's preprocess() calls
        # NotebookClient.__init__ again, which loads it anew; a Validate hook left set there
        # wraps every test cell in a second guard.run_test (the outer one then sees the inner
        # one's restores as learner code rebinding names during the test).
        super()._load_config(cfg, section_names, traits)
        for hook in self.VALIDATE_HOOKS:
            setattr(self, hook, None)

    # -- the run ------------------------------------------------------------------------

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None):
        self._plan = GuardPlan(nb, self.memory_limit)
        self._start = time.monotonic()
        self._cpu_start: float | None = None  # the kernel's CPU seconds at its first cell
        self._stopped: str | None = None
        self._report: dict[str, Any] = {"status": "ok", "flags": [], "cells": {}}
        self._cell_bytes: dict[int, int] = {}
        self._total_bytes = 0
        self._truncated: set[int] = set()
        self._verdict_pending = 0  # seconds for a request outside the cells (0: none pending)
        nb, resources = super().preprocess(nb, resources, km)
        nb.metadata["dlcourse"] = self._report
        return nb, resources

    def _flag(self, text: str) -> None:
        if text not in self._report["flags"]:
            self._report["flags"].append(text)

    def _cell_reason(self, cell: NotebookNode, reason: str) -> None:
        grade_id = _meta(cell).get("grade_id")
        if grade_id:
            self._report["cells"].setdefault(grade_id, [])
            if reason not in self._report["cells"][grade_id]:
                self._report["cells"][grade_id].append(reason)

    def _stop(self, status: str, cell: NotebookNode, reason: str = "") -> None:
        self._stopped = status
        self._report["status"] = status
        where = _meta(cell).get("grade_id") or cell.get("id") or "?"
        self._report["reason"] = f"{reason or status} (cell {where})"
        self._flag(f"{status} (cell {where})")

    def _cpu_used(self) -> float | None:
        """CPU seconds of the kernel's process tree since its first cell (None: unknown)."""
        root = getattr(getattr(self.km, "provisioner", None), "pid", None)
        if root is None or not cputime.available():
            return None
        now = cputime.cpu_seconds(root)
        if self._cpu_start is None:
            self._cpu_start = now
        return now - self._cpu_start

    def _remaining(self) -> float | None:
        """What is left of the notebook's budget: CPU seconds of the kernel (``cputime``), and
        never more than what is left of its wall-clock backstop."""
        if self.time_budget <= 0:
            return None
        wall_left = self._wall_left()
        assert wall_left is not None
        used = self._cpu_used()
        return wall_left if used is None else min(self.time_budget - used, wall_left)

    def _wall_left(self) -> float | None:
        if self.time_budget <= 0:
            return None
        backstop = cputime.wall_backstop(self.time_budget) or self.time_budget
        return backstop - (time.monotonic() - self._start)

    def _get_timeout(self, cell: NotebookNode | None) -> int | None:
        if self._verdict_pending:
            return self._verdict_pending
        # Cells and the notebook are timed in CPU seconds (cputime.Watchdog); the clock is only
        # a backstop.
        timeout = cputime.wall_backstop(super()._get_timeout(cell))
        wall_left = self._wall_left()
        if wall_left is None:
            return timeout
        left = max(1, int(wall_left + 0.999))
        return left if timeout is None else min(timeout, left)

    def _cpu_limit(self, cell: NotebookNode) -> float | None:
        """CPU seconds this cell may use: its timeout, cut to what is left of the budget."""
        limits = [v for v in (super()._get_timeout(cell), self._remaining()) if v is not None]
        return max(0.5, min(limits)) if limits else None

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int):
        if not _is_code(cell):
            return super().preprocess_cell(cell, resources, index)
        if self._stopped is None and (self._remaining() is not None and self._remaining() <= 0):
            self._stop(STATUS_TIME_BUDGET, cell)
        if self._stopped is not None:
            cell.outputs = []
            if _is_test(cell):
                cell.outputs.append(_error_output(
                    "NotRun", f"実行されませんでした (not run): {self._stopped}"))
                self._cell_reason(cell, f"not run: {self._stopped}")
            return cell, resources

        if index == self._plan.first_code:
            problem = self._environment_problem()
            if problem is not None:  # the grader's fault, before any learner code ran
                raise GradingEnvironmentError(problem)
        token = secrets.token_hex(8) if _is_test(cell) else None
        original = cell.source
        guarded = self._plan.source(index, token, original)
        if guarded is not None:
            cell.source = guarded
        watchdog = cputime.Watchdog(self.km, self._cpu_limit(cell))
        try:
            with watchdog:
                cell, resources = super().preprocess_cell(cell, resources, index)
            if watchdog.fired:
                _cpu_timeout(cell, watchdog.limit)
        except DeadKernelError:
            if watchdog.killed:
                cell.outputs.append(_error_output(
                    "DeadKernelError", f"CPU 時間の上限 ({watchdog.limit:g} 秒) を超え、中断 "
                    "(interrupt) しても計算が止まらなかったため、カーネルを停止しました (kernel "
                    "killed)。無限ループや終わらない再帰がないか確かめてください。"))
                why = f"killed: still computing {cputime.KILL_GRACE:g} CPU s after the interrupt"
            else:
                cell.outputs.append(_error_output(
                    "DeadKernelError", "カーネルが停止しました (kernel died)。メモリの使いすぎや "
                    "os._exit などでプロセスが終了しました。"))
                why = "the kernel process ended"
            self._cell_reason(cell, STATUS_KERNEL_DIED)
            self._stop(STATUS_KERNEL_DIED, cell, why)
            return cell, resources
        except TimeoutError as error:  # nbclient's CellTimeoutError: no output for a while
            if self._answers():
                raise  # a slow machine, not a broken kernel: the grader's fault (retried)
            # The kernel's event loop no longer answers (a patched builtin it uses, a crash in
            # its I/O thread, recursion that broke the interpreter): the learner's code did it.
            cell.outputs.append(_error_output(
                "DeadKernelError", "カーネルが応答しなくなりました (kernel stopped answering)。"
                "組み込み関数 (builtins) の書き換えや終わらない再帰などで、カーネルが壊れました。"))
            self._cell_reason(cell, STATUS_KERNEL_DIED)
            why = str(error).split("\n")[:2]
            self._stop(STATUS_KERNEL_DIED, cell, f"the kernel stopped answering: {' '.join(why)}")
            return cell, resources
        finally:
            cell.source = original

        errors = [o for o in cell.outputs if o.output_type == "error"]
        for output in errors:
            if output.ename == "CellTimeoutError":
                self._cell_reason(cell, "timeout")
                self._flag(f"timeout (cell {_meta(cell).get('grade_id') or cell.get('id')})")
            elif output.ename == "MemoryError":
                self._cell_reason(cell, "memory limit")
                self._flag("memory limit reached")
        if token is not None:
            self._judge(cell, token, errors)
        if self._remaining() is not None and self._remaining() <= 0 and self._stopped is None:
            self._stop(STATUS_TIME_BUDGET, cell)
        return cell, resources

    def _environment_problem(self) -> str | None:
        """Why the kernel cannot grade (the guard or the course library does not import in it:
        a broken installation or sandbox), asked before the first cell; None when it can.
        Without this, every test cell would end without a guard verdict and the notebook would
        read as tampered with."""
        self._verdict_pending = VERDICT_TIMEOUT
        try:
            msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={
                "v": f"{GUARD}.__name__ + ' ' + __import__('course').__name__"})
            reply = self.wait_for_reply(msg_id, None)
        except Exception as error:  # noqa: BLE001 (a kernel that does not answer at all)
            return f"the grading kernel did not answer its first request: {error!r}"
        finally:
            self._verdict_pending = 0
        answer = ((reply or {}).get("content", {}).get("user_expressions") or {}).get("v") or {}
        if answer.get("status") == "ok":
            return None
        return (f"the grading kernel cannot import the guard or the course library: "
                f"{answer.get('ename', '?')}: {answer.get('evalue', 'no answer')}")

    def _answers(self) -> bool:
        """Whether the kernel still answers a request (within ``PROBE_TIMEOUT``)."""
        self._verdict_pending = PROBE_TIMEOUT
        try:
            msg_id = self.kc.execute("", silent=True, store_history=False)
            return self.wait_for_reply(msg_id, None) is not None
        except Exception:  # dead, or its channels broken
            return False
        finally:
            self._verdict_pending = 0

    # -- the guard's verdict on a test cell ---------------------------------------------

    def _ask_guard(self, token: str) -> dict | None:
        self._verdict_pending = VERDICT_TIMEOUT
        try:
            msg_id = self.kc.execute("", silent=True, store_history=False,
                                     user_expressions={"v": f"{GUARD}.verdict({token!r})"})
            reply = self.wait_for_reply(msg_id, None)
        except Exception:  # a dead or hung kernel has no verdict
            return None
        finally:
            self._verdict_pending = 0
        try:
            answer = reply["content"]["user_expressions"]["v"]
            return json.loads(ast.literal_eval(answer["data"]["text/plain"]))
        except Exception:
            return None

    def _judge(self, cell: NotebookNode, token: str, errors: list[NotebookNode]) -> None:
        if any(o.ename == "CellTimeoutError" for o in errors):
            return  # the kernel may still be busy; the cell scores 0 anyway
        verdict = self._ask_guard(token)
        problem = None
        if verdict is None and errors:
            pass  # scored 0 anyway; the next test cell's prologue restores
        elif verdict is None:
            problem = "採点ガードの確認ができませんでした (no guard verdict)"
        elif not verdict.get("entered"):
            problem = "テストの前処理が実行されませんでした (the test's prologue did not run)"
        elif verdict.get("changed"):
            problem = ("テストの実行中に採点用の関数が書き換えられました (helpers changed during "
                       f"the test): {', '.join(verdict['changed'])}")
        during = (verdict or {}).get("during") or []
        if during:  # the test cell already failed with its own TamperError output
            delegation = [d for d in during if d.startswith("delegation: ")]
            acted = [d for d in during if d not in delegation]
            if acted:
                self._flag(f"{FLAG_TAMPER}: learner code acted during the test: "
                           f"{', '.join(acted)}")
            if delegation:
                self._flag(f"{FLAG_TAMPER}: delegation to the course library: "
                           f"{', '.join(d.removeprefix('delegation: ') for d in delegation)}")
            self._cell_reason(cell, f"{FLAG_TAMPER}: {', '.join(during)}")
            if not any(o.ename == "TamperError" for o in errors):
                problem = problem or f"learner code acted during the test: {', '.join(during)}"
        undone = (verdict or {}).get("undone") or []
        if undone:
            self._flag(f"{FLAG_TAMPER}: restored before the tests: {', '.join(undone)}")
            self._cell_reason(cell, f"restored before the test: {', '.join(undone)}")
        rebound = (verdict or {}).get("rebound") or []
        if rebound:
            self._flag(f"{FLAG_TAMPER}: names of the locked cells rebound in the notebook "
                       f"(the test used the genuine ones): {', '.join(rebound)}")
        for note in (verdict or {}).get("notes") or []:
            self._flag(note)
        for copy in (verdict or {}).get("copies") or []:  # evidence; scored where it is used
            self._flag(f"reference library source used by learner code: {copy}")
        if any(o.ename == "TamperError" for o in errors) and not during:
            self._flag(f"{FLAG_TAMPER}: the test could not run as written (see its output)")
            self._cell_reason(cell, FLAG_TAMPER)
        if problem is not None:
            cell.outputs.append(_error_output("TamperError", f"改ざんの疑い (tamper suspected): "
                                              f"{problem}"))
            self._flag(f"{FLAG_TAMPER}: {problem}")
            self._cell_reason(cell, FLAG_TAMPER)
            errors = [*errors, cell.outputs[-1]]
        if errors:  # nbgrader reads the first execute_result as partial credit: not when it failed
            for output in cell.outputs:
                if output.output_type == "execute_result":
                    output.output_type = "display_data"
                    output.pop("execution_count", None)

    # -- outputs ------------------------------------------------------------------------

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int):
        content = msg["content"]
        if msg["msg_type"] == "error":
            content["evalue"] = str(content.get("evalue", ""))[: self.output_limit]
            traceback = content.get("traceback") or []
            keep, used = [], 0
            for line in traceback:
                used += len(line)
                if used > self.output_limit:
                    keep.append("... (traceback truncated)")
                    break
                keep.append(line)
            content["traceback"] = keep
            return super().output(outs, msg, display_id, cell_index)
        size = _size(content)
        used = self._cell_bytes.get(cell_index, 0)
        room = min(self.output_limit - used, self.notebook_output_limit - self._total_bytes)
        if size > room:
            if msg["msg_type"] == "stream" and room > 0:
                content["text"] = str(content["text"])[:room]
                size = room
                super().output(outs, msg, display_id, cell_index)
            self._note_truncated(outs, cell_index)
            self._cell_bytes[cell_index] = used + size
            self._total_bytes += size
            return None
        self._cell_bytes[cell_index] = used + size
        self._total_bytes += size
        return super().output(outs, msg, display_id, cell_index)

    def _note_truncated(self, outs: list, cell_index: int) -> None:
        if cell_index in self._truncated:
            return
        self._truncated.add(cell_index)
        outs.append(NotebookNode(output_type="stream", name="stdout", text=(
            f"\n... 出力が長すぎるため省略しました (output truncated at {self.output_limit} bytes "
            f"per cell, {self.notebook_output_limit} per notebook)\n")))
        self._flag("output truncated")


class ValidateGuard:
    """nbclient hooks that give plain ``Execute`` (Validate) the guard's prologues.

    Configured as ``c.Execute.on_notebook_start = guard.notebook_start`` and so on. Without the
    grader's verdict, a learner who targets the guard itself can still fool Validate; the grade is
    what ``GuardedExecute`` decides.
    """

    def __init__(self, memory_limit: int = 0):
        self.memory_limit = memory_limit
        self.plan: GuardPlan | None = None
        self.sources: dict[int, str] = {}

    def __deepcopy__(self, memo: dict) -> ValidateGuard:
        # traitlets copies config values: the three hooks must keep sharing one plan.
        return self

    def notebook_start(self, notebook: NotebookNode, **kwargs: Any) -> None:
        self.plan = GuardPlan(notebook, self.memory_limit)
        self.sources = {}

    def cell_execute(self, cell: NotebookNode, cell_index: int, **kwargs: Any) -> None:
        if self.plan is None:
            return
        guarded = self.plan.source(cell_index, secrets.token_hex(8), cell.source)
        if guarded is not None:
            self.sources[cell_index] = cell.source
            cell.source = guarded

    def cell_complete(self, cell: NotebookNode, cell_index: int, **kwargs: Any) -> None:
        if cell_index in self.sources:
            cell.source = self.sources.pop(cell_index)
