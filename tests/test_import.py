"""`import course` is light: numpy only, fast; every submodule but course.plot needs numpy only.

Each check runs in a fresh interpreter, since this test process has imported everything already.
"""

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import course

HEAVY = ("matplotlib", "sklearn", "mlxtend", "nbgrader", "pandas", "scipy", "tqdm")
ROOT = Path(__file__).resolve().parents[1]

# Prints, for each module imported in turn, the third-party top-level packages that appeared
# in sys.modules with it (compared with a bare `import numpy`). Modules without a file are
# runtime pseudo-modules (numpy.random's compiled code adds `cython_runtime`), not packages.
FOREIGN_IMPORTS = """
import importlib, json, sys
import numpy

def third_party():
    tops = {name.split(".")[0] for name in sys.modules}
    return {t for t in tops if t not in sys.stdlib_module_names
            and getattr(sys.modules.get(t), "__file__", None)}

baseline = third_party() | {"course"}
report = {}
for module in sys.argv[1:]:
    importlib.import_module(module)
    report[module] = sorted(third_party() - baseline)
print(json.dumps(report))
"""


def run_python(code: str, *args: str) -> str:
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=True)
    return result.stdout


def foreign_imports(*modules: str) -> dict[str, list[str]]:
    return json.loads(run_python(FOREIGN_IMPORTS, *modules))


def test_import_course_loads_no_heavy_package():
    code = "import sys, json, course; print(json.dumps(sorted(sys.modules)))"
    loaded = {name.split(".")[0] for name in json.loads(run_python(code))}
    assert not loaded & set(HEAVY)


def test_import_course_is_fast():
    code = ("import time; start = time.perf_counter(); import course; "
            "print(time.perf_counter() - start)")
    seconds = min(float(run_python(code)) for _ in range(3))  # best of 3 against CI noise
    assert seconds < 0.5


def test_every_submodule_except_plot_imports_with_numpy_only():
    modules = sorted(f"course.{m.name}" for m in pkgutil.iter_modules(course.__path__)
                     if m.name != "plot")
    assert "course.data" in modules and "course.train" in modules
    report = foreign_imports(*modules)
    assert {module: extra for module, extra in report.items() if extra} == {}


def test_the_check_sees_a_foreign_import():
    # course.plot imports matplotlib by design: the check above would report it.
    assert "matplotlib" in foreign_imports("course.plot")["course.plot"]
