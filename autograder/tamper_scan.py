"""Code in a learner's cells that has no business in this course's answers: reported, not scored.

The guard (``autograder.guard``) undoes and detects tampering at run time; code written against
the guard itself can slip past a guard that lives in the learner's own process. This static scan
reads the cells a learner can edit (solution cells, cells without locked nbgrader metadata) and
lists what reaches into the interpreter, IPython or the course's modules, or out to files, the
network and other processes (which the sandbox, ``autograder.sandbox``, walls off), so that the
instructor sees "tamper suspected (code): ..." in the report. No answer in this course needs any
of it.
"""

from __future__ import annotations

import ast

from nbformat.notebooknode import NotebookNode

MODULES = {"builtins", "ctypes", "gc", "inspect", "importlib", "IPython", "ipykernel",
           "autograder.guard", "signal", "resource", "subprocess", "sqlite3", "shutil",
           # the file system, the network and other processes (autograder.sandbox walls them
           # off; an answer reaching for them is still worth the instructor's look)
           "os", "posix", "pathlib", "glob", "socket", "multiprocessing", "urllib", "http",
           "psycopg2", "sqlalchemy", "pty", "fcntl", "mmap"}
NAMES = {"__builtins__", "get_ipython", "globals", "__import__", "exec", "eval", "compile",
         "setattr", "delattr", "open"}
ATTRIBUTES = {"__code__", "__globals__", "__closure__", "__defaults__", "__kwdefaults__",
              "cell_contents", "_implementation", "f_globals", "f_locals", "f_back", "_getframe",
              "settrace", "setprofile", "modules", "_exit", "kill", "system", "__class__",
              "__subclasses__", "__dict__"}
METHODS = {"__eq__", "__ne__", "__bool__", "__array_function__", "__array_ufunc__",
           "__getattr__", "__getattribute__"}


def _editable(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and (meta.get("solution") or not meta.get("locked"))


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _module_aliases(nb: NotebookNode) -> set[str]:
    aliases: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases |= {a.asname or a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):  # ``from course import gradcheck``
                aliases |= {a.asname or a.name for a in node.names if a.name[:1].islower()
                            and not a.name.startswith(("check_", "load_"))}
    return aliases


def _findings(tree: ast.AST, modules: set[str]) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names]
            found += [f"import {n}" for n in names
                      if n and (n in MODULES or n.split(".")[0] in MODULES)]
        elif isinstance(node, ast.Name) and node.id in NAMES:
            found.append(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in ATTRIBUTES:
            found.append(f".{node.attr}")
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del) \
                and _root(node.value) in modules:
            found.append(f"assigns {ast.unparse(node)}")
        elif isinstance(node, ast.FunctionDef) and node.name in METHODS:
            found.append(f"defines {node.name}")
    return found


def _locked_functions(nb: NotebookNode) -> set[str]:
    """Functions the locked cells define (the helpers tests call, such as ``same_number``)."""
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code" or _editable(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        names |= {n.name for n in tree.body
                  if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    return names


def _redefined(tree: ast.AST, locked: set[str]) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                and node.name in locked:
            found.append(f"redefines the locked helper {node.name}")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del) \
                and node.id in locked:
            found.append(f"rebinds the locked helper {node.id}")
    return found


def scan(nb: NotebookNode, released: NotebookNode | None = None) -> list[str]:
    """Findings in the learner-editable cells, e.g. ``"cell square: assigns np.allclose"``;
    cells with the source of a cell of the ``released`` notebook are the author's, not scanned.
    A locked cell's function redefined is reported too (the tests run the locked one)."""
    modules = _module_aliases(nb)
    locked = _locked_functions(nb)
    authored = {c.source for c in released.cells} if released is not None else set()
    results = []
    for index, cell in enumerate(nb.cells):
        if not _editable(cell) or cell.source in authored:
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        where = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or \
            cell.get("id") or f"#{index}"
        for finding in dict.fromkeys(_findings(tree, modules) + _redefined(tree, locked)):
            results.append(f"cell {where}: {finding}")
    return results
