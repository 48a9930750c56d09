"""Inside the grading kernel: what the tests compare with stays as it was before learner code ran.

The grader (``autograder.execution``) puts one line in front of the first code cell and of every
graded test cell, ``__import__("autograder.guard").guard.enter(...)``:

- the first call (before any learner code) imports numpy, ``course`` and ``autograder.checks`` and
  takes a ``Snapshot`` of everything a test's verdict rests on: those modules' attributes, the
  code, defaults and closures of their functions, the methods of their classes, their UPPER_CASE
  constants (``THRESHOLDS``), ``builtins``, their ``sys.modules`` entries, IPython's cell pipeline
  (input and AST transformers, custom exception handlers, event callbacks, the shell's and the
  kernel's methods and message handlers), the working directory and the fixture files; it also
  sets the kernel's memory limit;
- before a test cell, ``enter`` puts back whatever learner code changed, unbinds learner names that
  shadow builtins (``abs = ...``) and re-runs the imports and fixture loads of the notebook's locked
  cells, so ``np``, ``check_close`` or ``fx`` mean what the notebook's author meant. A changed cell
  pipeline cannot be undone for the cell already being run: ``enter`` then fails the test cell;
- after a test cell the grader asks ``verdict`` (through the reply's ``user_expressions``, outside
  IPython's cell pipeline): whether this cell's ``enter`` ran, and what changed while the test ran
  (learner code called by the test patching a helper); the grader scores such a cell 0.

This is a guard inside the learner's process, not a sandbox: code that reads this module and
targets it can still defeat it. ``autograder.tamper_scan`` flags such code for the instructor.
"""

from __future__ import annotations

import builtins
import copy
import hashlib
import importlib
import json
import os
import pkgutil
import sys
import types
from pathlib import Path
from typing import Any

PACKAGES = ("numpy", "course", "autograder")  # every loaded module of these is protected
MODULES = ("builtins", "math", "operator")
PRELOAD = ("numpy", "numpy.testing", "numpy.linalg", "math", "operator", "autograder.checks")
SKIP_PRELOAD = ("course.plot",)  # imports matplotlib (0.5 s); no test compares with it
# Event callbacks these packages register after the snapshot are theirs (matplotlib's inline
# backend adds ``flush_figures`` when pyplot is first imported), not the learner's.
TRUSTED_CALLBACKS = ("matplotlib", "matplotlib_inline", "IPython", "ipykernel", "ipywidgets")
FIXTURE_DIR = "fixtures"
FIXTURE_BYTES = 64 * 2**20  # fixture files kept in memory to put back (more: only checked)
_MISSING = object()


class TamperError(AssertionError):
    """Raised in a test cell whose run was already altered by learner code (message for them)."""


def _same(a: Any, b: Any) -> bool:
    """Unchanged: the same object, or an equal bound method or scalar (rebuilt on each access)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, types.MethodType | str | int | float | bytes | tuple | frozenset):
        try:
            return bool(a == b)
        except Exception:
            return False
    return False


def _is_heap_type(obj: Any) -> bool:
    return isinstance(obj, type) and bool(obj.__flags__ & (1 << 9))  # Py_TPFLAGS_HEAPTYPE


def _functions_of(value: Any) -> list[types.FunctionType]:
    """Python functions behind ``value``: itself, a numpy dispatcher's implementation, the
    function of a static/class method or a property."""
    found = []
    try:
        candidates = [value, getattr(value, "_implementation", None),
                      getattr(value, "__wrapped__", None)]
    except Exception:  # an attribute lookup that raises: nothing to guard behind it
        return []
    if isinstance(value, staticmethod | classmethod):
        candidates.append(value.__func__)
    if isinstance(value, property):
        candidates += [value.fget, value.fset, value.fdel]
    for candidate in candidates:
        if isinstance(candidate, types.FunctionType):
            found.append(candidate)
    return found


class _FunctionState:
    """What a function runs: code, defaults (positional and keyword), closure contents."""

    def __init__(self, fn: types.FunctionType):
        self.fn = fn
        self.code = fn.__code__
        self.defaults = fn.__defaults__
        self.kwdefaults = dict(fn.__kwdefaults__) if fn.__kwdefaults__ else fn.__kwdefaults__
        self.cells = tuple(self._contents(c) for c in fn.__closure__ or ())

    @staticmethod
    def _contents(cell: types.CellType) -> Any:
        try:
            return cell.cell_contents
        except ValueError:
            return _MISSING

    def changed(self) -> bool:
        fn = self.fn
        kw, saved = fn.__kwdefaults__, self.kwdefaults
        if fn.__code__ is not self.code or fn.__defaults__ is not self.defaults:
            return True
        if (kw is None) != (saved is None):
            return True
        if kw is not None and (kw.keys() != saved.keys()
                               or any(not _same(kw[k], v) for k, v in saved.items())):
            return True
        return any(not _same(self._contents(c), v)
                   for c, v in zip(fn.__closure__ or (), self.cells, strict=False))

    def restore(self) -> None:
        fn = self.fn
        fn.__code__ = self.code
        fn.__defaults__ = self.defaults
        fn.__kwdefaults__ = dict(self.kwdefaults) if self.kwdefaults else self.kwdefaults
        for cell, value in zip(fn.__closure__ or (), self.cells, strict=False):
            if value is not _MISSING:
                cell.cell_contents = value


class _Mapping:
    """Entries of a namespace (a module's, a class's or an instance's ``__dict__``) to keep bound.

    A module may gain entries (lazy imports); a class may not; an instance may not gain a callable
    that shadows a method of its class (a method replaced on the shell or the kernel object).
    """

    def __init__(self, label: str, namespace: Any, entries: dict, owner: Any = None):
        self.label = label
        self.namespace = namespace
        self.entries = entries
        self.owner = owner  # a class (set through setattr) or an instance; None for a module

    def _added(self) -> list[str]:
        owner = self.owner
        if owner is None:
            return []
        if isinstance(owner, type):
            # Python itself caches plain data on a class: ``copyreg`` puts ``__slotnames__`` on
            # the class of the first object that ``copy.deepcopy`` or pickle sees.
            return [k for k, v in list(self.namespace.items()) if k not in self.entries
                    and (callable(v) or not (k.startswith("__") and k.endswith("__")))]
        cls = type(owner)
        return [k for k, v in list(self.namespace.items())
                if k not in self.entries and callable(v) and hasattr(cls, k)]

    def diff(self) -> list[str]:
        ns = self.namespace
        changed = [k for k, v in self.entries.items() if not _same(ns.get(k, _MISSING), v)]
        return [f"{self.label}.{k}" for k in changed + self._added()]

    def restore(self) -> None:
        ns, owner = self.namespace, self.owner
        for key, value in self.entries.items():
            if not _same(ns.get(key, _MISSING), value):
                if isinstance(owner, type):
                    setattr(owner, key, value)
                else:
                    ns[key] = value
        for key in self._added():
            if isinstance(owner, type):
                delattr(owner, key)
            else:
                del ns[key]


class _Container:
    """A plain-data constant (``THRESHOLDS``; deep copy) or a table of callables such as
    IPython's transformer lists (shallow copy), compared and put back in place."""

    def __init__(self, label: str, value: dict | list | set, shallow: bool = False):
        self.label = label
        self.value = value
        self.shallow = shallow
        self.saved = self._copy(value)

    def _copy(self, value: Any) -> Any:
        if not self.shallow:
            return copy.deepcopy(value)
        if isinstance(value, dict):
            return {k: list(v) if isinstance(v, list) else v for k, v in value.items()}
        return copy.copy(value)

    def diff(self) -> list[str]:
        v, s = self.value, self.saved
        if isinstance(v, dict):
            same = v.keys() == s.keys() and all(_same(v[k], s[k]) or _equal(v[k], s[k]) for k in s)
        else:
            same = _equal(v, s)
        return [] if same else [self.label]

    def restore(self) -> None:
        self.value.clear()
        saved = self._copy(self.saved)
        if isinstance(self.value, list):
            self.value.extend(saved)
        else:
            self.value.update(saved)


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


def _plain(value: Any) -> bool:
    """Small plain data (numbers, strings, containers of them): safe to deep-copy and compare."""
    if isinstance(value, bool | int | float | str | type(None)):
        return True
    if isinstance(value, dict):
        return len(value) < 1000 and all(_plain(k) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return len(value) < 1000 and all(_plain(v) for v in value)
    return False


def _protected(name: str) -> bool:
    return name in MODULES or any(name == p or name.startswith(p + ".") for p in PACKAGES)


def _preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    try:
        course = importlib.import_module("course")
    except ImportError:
        return
    for info in pkgutil.walk_packages(course.__path__, "course."):
        if info.name not in SKIP_PRELOAD:
            try:
                importlib.import_module(info.name)
            except Exception:  # an optional dependency missing: that module just is not guarded
                pass


class Snapshot:
    """The state of everything a verdict rests on, taken before learner code ran."""

    def __init__(self, shell: Any):
        self.shell = shell
        self.cwd = os.getcwd()
        self.modules = {n: m for n, m in list(sys.modules.items())
                        if isinstance(m, types.ModuleType) and _protected(n)}
        self.mappings: list[_Mapping] = []  # modules, classes, instances: "pipeline" ones flagged
        self.pipeline: list[Any] = []  # items whose change alters how IPython runs a cell
        self.containers: list[_Container] = []
        functions: dict[int, _FunctionState] = {}
        classes: dict[int, type] = {}

        # IPython and ipykernel rebind these on every cell (display results, stdin forwarding).
        trap = getattr(shell, "builtin_trap", None)
        skip_builtins = {"_", "__", "___", "input", "raw_input"}
        skip_builtins |= set(trap.auto_builtins if trap is not None else ())
        for name, module in self.modules.items():
            namespace = vars(module)
            entries = {k: v for k, v in namespace.items()
                       if not (module is builtins and k in skip_builtins)}
            self.mappings.append(_Mapping(name, namespace, entries))
            for key, value in entries.items():
                for fn in _functions_of(value):
                    functions.setdefault(id(fn), _FunctionState(fn))
                if _is_heap_type(value) and _protected(getattr(value, "__module__", "") or ""):
                    classes.setdefault(id(value), value)
                if (key.isupper() and name.split(".")[0] in ("course", "autograder")
                        and isinstance(value, dict | list | set) and _plain(value) and value):
                    self.containers.append(_Container(f"{name}.{key}", value))
        self.user_builtins = {k: v for k, v in vars(builtins).items() if k not in skip_builtins}

        if shell is not None:
            self._ipython(shell, classes)
        for cls in classes.values():
            self.mappings.append(_Mapping(f"{cls.__module__}.{cls.__qualname__}", cls.__dict__,
                                          dict(vars(cls)), owner=cls))
            for value in list(vars(cls).values()):
                for fn in _functions_of(value):
                    functions.setdefault(id(fn), _FunctionState(fn))
        self.functions = list(functions.values())
        self.user_ns_names = set(shell.user_ns) if shell is not None else set()
        self.user_ns_builtins = shell.user_ns.get("__builtins__") if shell is not None else None
        self.fixtures = self._fixture_files()

    def _ipython(self, shell: Any, classes: dict[int, type]) -> None:
        """IPython's cell pipeline: how a cell's text becomes code, runs and reports its error."""
        kernel = getattr(shell, "kernel", None)
        instances = {"shell": shell, "shell.events": shell.events,
                     "shell.displayhook": shell.displayhook,
                     "shell.display_pub": getattr(shell, "display_pub", None),
                     "shell.input_transformer_manager": shell.input_transformer_manager,
                     "kernel": kernel, "kernel.session": getattr(kernel, "session", None)}
        for label, obj in instances.items():
            if obj is None:
                continue
            entries = {k: v for k, v in vars(obj).items() if callable(v)}
            mapping = _Mapping(label, vars(obj), entries, owner=obj)
            self.mappings.append(mapping)
            self.pipeline.append(mapping)
            for cls in type(obj).__mro__:
                if _is_heap_type(cls):
                    classes.setdefault(id(cls), cls)
        manager = shell.input_transformer_manager
        lists = {"shell.input_transformers_post": shell.input_transformers_post,
                 "shell.ast_transformers": shell.ast_transformers,
                 "input_transformer_manager.cleanup_transforms": manager.cleanup_transforms,
                 "input_transformer_manager.line_transforms": manager.line_transforms,
                 "input_transformer_manager.token_transformers": manager.token_transformers}
        for label, value in lists.items():
            container = _Container(label, value, shallow=True)
            self.containers.append(container)
            self.pipeline.append(container)
        tables = {"shell.events.callbacks": shell.events.callbacks}
        if kernel is not None:
            tables["kernel.shell_handlers"] = getattr(kernel, "shell_handlers", {})
            tables["kernel.control_handlers"] = getattr(kernel, "control_handlers", {})
        for label, value in tables.items():
            container = _Container(label, value, shallow=True)
            self.containers.append(container)
            self.pipeline.append(container)
        self.shell_attrs = {"custom_exceptions": shell.custom_exceptions,
                            "CustomTB": shell.CustomTB}

    def _fixture_files(self) -> dict[Path, tuple[str, bytes | None]]:
        folder = Path(self.cwd) / FIXTURE_DIR
        files: dict[Path, tuple[str, bytes | None]] = {}
        total = 0
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file():
                data = path.read_bytes()
                total += len(data)
                files[path] = (hashlib.sha256(data).hexdigest(),
                               data if total <= FIXTURE_BYTES else None)
        return files

    # -- comparing and restoring -----------------------------------------------------------

    def _events_diff(self) -> list[str]:
        changed = []
        callbacks = self.shell.events.callbacks
        saved = next(c.saved for c in self.containers if c.label == "shell.events.callbacks")
        for event, before in saved.items():
            now = callbacks.get(event, [])
            if any(not any(_same(cb, old) for old in now) for cb in before):
                changed.append(f"shell.events.callbacks[{event}] (removed)")
            added = [cb for cb in now if not any(_same(cb, old) for old in before)]
            if any(not _trusted_callback(cb) for cb in added):
                changed.append(f"shell.events.callbacks[{event}]")
        return changed

    def diff(self) -> tuple[list[str], list[str]]:
        """(changed helpers, changed cell-pipeline items), by name."""
        helpers: list[str] = []
        pipeline: list[str] = []
        for mapping in self.mappings:
            (pipeline if mapping in self.pipeline else helpers).extend(mapping.diff())
        for state in self.functions:
            if state.changed():
                fn = state.fn
                helpers.append(f"{fn.__module__}.{fn.__qualname__} (code)")
        for container in self.containers:
            if container.label == "shell.events.callbacks":
                pipeline.extend(self._events_diff())
            elif container in self.pipeline:
                pipeline.extend(container.diff())
            else:
                helpers.extend(container.diff())
        for name, module in self.modules.items():
            if sys.modules.get(name) is not module:
                helpers.append(f"sys.modules[{name!r}]")
        if self.shell is not None:
            for key, value in self.shell_attrs.items():
                if not _same(getattr(self.shell, key, _MISSING), value):
                    pipeline.append(f"shell.{key}")
        for path, (digest, _) in self.fixtures.items():
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                helpers.append(f"{FIXTURE_DIR}/{path.name}")
        return helpers, pipeline

    def restore(self) -> None:
        for mapping in self.mappings:
            mapping.restore()
        for state in self.functions:
            if state.changed():
                state.restore()
        for container in self.containers:
            if container.label == "shell.events.callbacks":
                self._restore_events()
            elif container.diff():
                container.restore()
        for name, module in self.modules.items():
            sys.modules[name] = module
        if self.shell is not None:
            for key, value in self.shell_attrs.items():
                setattr(self.shell, key, value)
        for path, (digest, data) in self.fixtures.items():
            if data is not None and (not path.is_file()
                                     or hashlib.sha256(path.read_bytes()).hexdigest() != digest):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        if os.getcwd() != self.cwd:
            os.chdir(self.cwd)

    def _restore_events(self) -> None:
        callbacks = self.shell.events.callbacks
        saved = next(c.saved for c in self.containers if c.label == "shell.events.callbacks")
        for event, before in saved.items():
            now = callbacks.setdefault(event, [])
            added = [cb for cb in now
                     if not any(_same(cb, old) for old in before) and _trusted_callback(cb)]
            now[:] = [*before, *added]

    def clean_user_namespace(self) -> list[str]:
        """Unbind learner names shadowing builtins (``abs = ...``); put ``__builtins__`` back."""
        if self.shell is None:
            return []
        ns = self.shell.user_ns
        shadows = [k for k, v in list(ns.items())
                   if k in self.user_builtins and k not in self.user_ns_names
                   and v is not self.user_builtins[k]]
        for key in shadows:
            del ns[key]
        original = self.user_ns_builtins
        if original is not None and ns.get("__builtins__") is not original:
            ns["__builtins__"] = original
            shadows.append("__builtins__")
        return shadows


def _trusted_callback(callback: Any) -> bool:
    module = getattr(callback, "__module__", None) or ""
    return isinstance(callback, types.FunctionType | types.MethodType) and any(
        module == p or module.startswith(p + ".") for p in TRUSTED_CALLBACKS)


def _limit_memory(limit: int) -> None:
    """Address-space limit of this kernel (soft = hard: learner code cannot raise it again)."""
    if limit <= 0:
        return
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class _State:
    snapshot: Snapshot | None = None
    current: str | None = None  # token of the test cell whose enter ran last
    undone: dict[str, list[str]] = {}  # token -> helpers put back before that test cell


_STATE = _State()


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def enter(token: str | None = None, rebind: str = "", memory_limit: int = 0) -> None:
    """First call: preload and snapshot. With a ``token`` (a test cell): restore, then rebind."""
    state = _STATE
    if state.snapshot is None:
        _limit_memory(memory_limit)
        _preload()
        state.snapshot = Snapshot(_shell())
    if token is None:
        return
    snapshot = state.snapshot
    helpers, pipeline = snapshot.diff()
    snapshot.restore()
    shadows = snapshot.clean_user_namespace()
    state.undone[token] = helpers + [f"{name} (shadowed in the notebook)" for name in shadows]
    state.current = token
    if snapshot.shell is not None and rebind:
        exec(compile(rebind, "<dlcourse: the notebook's imports>", "exec"), snapshot.shell.user_ns)
    if pipeline:
        raise TamperError(
            "改ざんの疑い (tamper suspected): IPython のセル実行の仕組みが変更されていたため、"
            f"このテストは採点できません: {', '.join(sorted(set(pipeline)))}"
        )


def verdict(token: str) -> str:
    """JSON for the grader: did this test cell's ``enter`` run, what changed while it ran (and
    was put back), what was put back before it."""
    state = _STATE
    entered = state.snapshot is not None and state.current == token
    changed: list[str] = []
    if state.snapshot is not None:
        helpers, pipeline = state.snapshot.diff()
        changed = sorted(set(helpers + pipeline))
        state.snapshot.restore()
    state.current = None
    return json.dumps({"entered": entered, "changed": changed,
                       "undone": sorted(set(state.undone.pop(token, [])))})
