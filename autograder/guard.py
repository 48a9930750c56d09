"""Inside the grading kernel: what the tests compare with stays as it was before learner code ran,
and learner code cannot reach into a test while it runs.

The grader (``autograder.execution``) puts ``__import__("autograder.guard").guard.enter(...)`` in
front of the first code cell and replaces each graded test cell by one call,
``guard.run_test(token, setup, memory_limit, source)``:

- the first call (before any learner code) imports numpy, ``course`` and ``autograder.checks`` and
  takes a ``Snapshot`` of everything a test's verdict rests on: those modules' attributes, the
  code, defaults and closures of their functions, the methods of their classes, their UPPER_CASE
  constants (``THRESHOLDS``), ``builtins``, their ``sys.modules`` entries, IPython's cell pipeline
  (input and AST transformers, custom exception handlers, event callbacks, the shell's and the
  kernel's methods and message handlers), the working directory and the fixture files; it also
  sets the kernel's memory limit, notes the threads, signal handlers and trace functions there
  are, and installs an audit hook (``sys.addaudithook``: no learner code can remove it);
- before a test, ``enter`` puts back whatever learner code changed, unbinds learner names that
  shadow builtins (``abs = ...``), resets trace functions, disarms interval timers and puts every
  signal handler back, and stops threads that run learner code (a thread that will not stop
  fails the test). A changed cell pipeline cannot be undone for the cell already being run:
  ``enter`` then fails the test cell;
- ``run_test`` runs the test's source in a namespace of its own: a copy of the notebook's names
  with the locked cells' imports, fixture loads and helper functions (``def``) bound afresh (a
  learner's cell redefining ``same_number`` changes the notebook's name). What the test calls is
  fixed when it starts: learner code rebinding ``check_close`` in the notebook (``global``, a
  thread, a signal handler) changes the notebook's name, not the test's, and is reported. While it
  runs,
  the audit hook refuses learner code what would reach the test's frame or namespace or run
  beside it (frames, the garbage collector's object graph, tracing, fork and processes, signals,
  ``ctypes``, code swaps); the helper modules (their class is swapped for ``_GuardedModule``
  after the snapshot) refuse learner code a write to their attributes and their namespace
  (``vars(module)``); and a checkpoint between the test's steps (before each statement of the
  test cell and of the locked helpers it calls, at the start and the end of every check function)
  compares the helpers with the snapshot, so a patch made through a route left open (a function's
  ``__globals__``) fails the test even when learner code puts it back before the test ends: to
  fool a check it must be in place when the check looks. Afterwards, the names the test used are
  followed through learner functions and classes to find delegation to the reference library (its
  own object under the exercise's name, or a copy: run from its source file, or its bytecode).
  Any of these fails the test with a ``TamperError`` output; names the test bound are copied back
  for later cells;
- what a locked non-test cell binds (an experiment's ``histories``) is recorded once it has run
  (``cell``): the object, a digest of its content (plain data and numpy arrays) and a copy under
  a cap. A test reading such a name gets that object, put back from the copy if it was changed in
  place; a learner's cell that rebound or changed it is reported (``rebound``), and a test whose
  result cannot be put back (no copy: too large) is failed;
- after a test cell the grader asks ``verdict`` (through the reply's ``user_expressions``, outside
  IPython's cell pipeline): whether this cell's ``enter`` ran, what changed while the test ran,
  what learner code did during it, what was put back before it; the grader scores such a cell 0.

This is a guard inside the learner's process, not a sandbox: code that reads this module and
targets it can still defeat it (a sandbox around the kernel is the outer wall). A patch made
through a function's ``__globals__`` and put back within one step of the test (inside a single
check call, or between learner code returning and a later name lookup in the same statement)
leaves no trace at a checkpoint; ``autograder.tamper_scan`` flags such code (``__globals__``)
for the instructor. Python 3.11 has no audit event for starting a thread or setting a signal
handler: those are checked before and after each test instead.
"""

from __future__ import annotations

import ast
import builtins
import copy
import dis
import functools
import hashlib
import importlib
import json
import operator
import os
import pkgutil
import re
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


def _identity_probe(entries: dict) -> tuple[Any, tuple]:
    """(a function from a namespace to the current values of ``entries``' keys, as a tuple;
    the snapshot's values in the same order) for ``_all_identical``."""
    keys = tuple(entries)
    if len(keys) == 1:  # itemgetter of one key returns the value, not a tuple
        keys *= 2
    getter = operator.itemgetter(*keys) if keys else (lambda ns: ())
    return getter, tuple(entries[k] for k in keys)


def _cell_contents(cells: tuple) -> tuple:
    return tuple(map(_CELL_GETTER, cells))


_CELL_GETTER = operator.attrgetter("cell_contents")  # raises ValueError for an empty cell


# -- dictionary versions: "this namespace has not been written since it was last compared" ----
#
# CPython 3.11 and 3.12 give every dict a version tag (PEP 509, ``ma_version_tag``, right after
# ``ob_refcnt``, ``ob_type`` and ``ma_used``) that takes a new, globally unique value at every
# write to the dict: an item set, replaced or deleted, ``update``, ``clear``, ``pop``. A namespace
# whose tag is the one it had when it was last found unchanged has not been written since, so a
# checkpoint need not look up its entries one by one (about 8,000 lookups, 0.4 ms, at each of up
# to 1,200 checkpoints per notebook). The tag only ever says "not written": a namespace whose tag
# moved is compared entry by entry as before. Python offers no way to read the tag, so it is read
# through ctypes at the dict's address; ``_versions_move`` proves on this interpreter that the tag
# moves on every kind of write before it is trusted (else: no views, the full comparison).

_VERSION_OFFSET = 2 * 8 + 8  # ob_refcnt, ob_type, ma_used (64-bit)
_VERSION = operator.attrgetter("value")


def _version_view(d: dict) -> Any:
    import ctypes

    return ctypes.c_uint64.from_address(id(d) + _VERSION_OFFSET)


@functools.cache
def _versions_move() -> bool:
    """Whether every kind of write to a dict (a module's, a class's through ``setattr``, an
    instance's) gives it a new tag on this interpreter."""
    if sys.implementation.name != "cpython" or sys.version_info[:2] not in ((3, 11), (3, 12)) \
            or sys.maxsize != 2**63 - 1:
        return False
    import ctypes

    if ctypes.sizeof(ctypes.c_ssize_t) != 8 or ctypes.sizeof(ctypes.c_void_p) != 8:
        return False

    class Probe:
        pass

    probe = Probe()
    probe.a = 1
    module = types.ModuleType("_guard_probe")
    targets = {"dict": {}, "class": _real_dict(Probe.__dict__), "instance": vars(probe),
               "module": vars(module)}
    writes = [
        lambda d, t: d.__setitem__("k", 1) if t != "class" else setattr(Probe, "k", 1),
        lambda d, t: d.__setitem__("k", 2) if t != "class" else setattr(Probe, "k", 2),
        lambda d, t: d.__delitem__("k") if t != "class" else delattr(Probe, "k"),
        lambda d, t: d.update(u=1) if t != "class" else setattr(Probe, "u", 1),
        lambda d, t: d.setdefault("s", 1) if t != "class" else setattr(Probe, "s", 1),
        lambda d, t: d.pop("s") if t != "class" else delattr(Probe, "s"),
    ]
    if not isinstance(targets["class"], dict):
        return False
    try:
        for kind, d in targets.items():
            view = _version_view(d)
            for write in writes:
                before = view.value
                write(d, kind)
                if view.value == before or view.value == 0:
                    return False
        d = {"a": 1, "b": 2}
        view = _version_view(d)
        before = view.value
        d.clear()
        return view.value != before
    except Exception:  # noqa: BLE001 (anything unexpected: no versions, the full comparison)
        return False


def _real_dict(namespace: Any) -> dict | None:
    """The dict behind a namespace: itself, or the one a class's ``mappingproxy`` wraps."""
    if type(namespace) is dict:
        return namespace
    import gc

    inside = [d for d in gc.get_referents(namespace) if type(d) is dict]
    return inside[0] if len(inside) == 1 else None


def _all_identical(current: Any, where: Any, saved: tuple) -> bool:
    """Whether ``current(where)`` gives exactly the objects of ``saved`` (False also when a key
    is gone, a cell is empty or the lookup raises: the caller then looks entry by entry)."""
    try:
        now = current(where)
        return len(now) == len(saved) and all(map(operator.is_, now, saved))
    except Exception:  # noqa: BLE001 (a deleted entry, an emptied cell, a namespace that raises)
        return False


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
        return self.closure_changed()

    def closure_changed(self) -> bool:
        return any(not _same(self._contents(c), v)
                   for c, v in zip(self.fn.__closure__ or (), self.cells, strict=False))

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


def _own_globals(modules: dict[str, types.ModuleType]) -> dict[str, set[str]]:
    """Module -> names its own functions assign with ``global`` (state, not helpers), for the
    course's and this package's modules."""
    found: dict[str, set[str]] = {}
    for name, module in modules.items():
        if name.split(".")[0] not in ("course", "autograder"):
            continue
        for value in list(vars(module).values()):
            for fn in _functions_of(value):
                if fn.__globals__ is not vars(module):
                    continue
                for code in _codes(fn.__code__):
                    found.setdefault(name, set()).update(
                        ins.argval for ins in dis.get_instructions(code)
                        if ins.opname in ("STORE_GLOBAL", "DELETE_GLOBAL"))
    return found


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
        self._prepare_checkpoint()

    def _prepare_checkpoint(self) -> None:
        """What ``changed_now`` compares, quickly enough to run at every checkpoint of a test:
        the helper modules' and classes' entries (not the names their own code rebinds with
        ``global``, such as ``autograder.checks._verifying``), the contents of closures (code and
        defaults are swapped only through an audited setter, refused while a test runs), the
        constants and the ``sys.modules`` entries."""
        volatile = _own_globals(self.modules)
        self.quick = []
        for m in self.mappings:
            if m not in self.pipeline:
                entries = {k: v for k, v in m.entries.items() if k not in volatile.get(m.label, ())}
                self.quick.append((m, entries, *_identity_probe(entries)))
        self._tag(_versions_move())
        self.closures = [s for s in self.functions if s.fn.__closure__]
        # A closure cannot be given other cells (``__closure__`` is read-only): the contents of
        # these cells, read all at once, are the closures' state.
        cells = [(c, v) for s in self.closures for c, v in zip(s.fn.__closure__, s.cells,
                                                               strict=False)]
        self.closure_cells = tuple(c for c, _ in cells)
        self.closure_contents = tuple(v for _, v in cells)
        self.quick_containers = [c for c in self.containers if c not in self.pipeline]

    def _tag(self, trusted: bool) -> None:
        """The dicts behind ``self.quick``'s namespaces and their version tags when last found
        unchanged; none when the tags are not ``trusted`` (see ``_versions_move``). A namespace
        that is not a plain dict (a ctypes class keeps its attributes in a dict subclass of its
        own) is compared at every checkpoint (``self.untagged``)."""
        dicts = [_real_dict(m.namespace) for m, *_ in self.quick] if trusted else []
        self.tagged = [i for i, d in enumerate(dicts) if d is not None]
        self.untagged = sorted(set(range(len(self.quick))) - set(self.tagged))
        self.version_dicts = [dicts[i] for i in self.tagged]  # kept alive: views read them
        self.version_views = [_version_view(d) for d in self.version_dicts]
        self.versions = list(map(_VERSION, self.version_views))
        self.slot = {i: j for j, i in enumerate(self.tagged)}  # index in quick -> in versions

    def changed_now(self, watch: _Watch) -> list[str]:
        """Helpers that differ from the snapshot now (a checkpoint while a test runs), but for
        what the test's own code set."""
        found = []
        builtin_names = self.user_builtins
        quick = self.quick
        # Only the namespaces written since they were last found unchanged (usually none), and
        # those without a tag.
        tags = list(map(_VERSION, self.version_views))
        written = self.untagged
        if tags != self.versions:
            written = written + [self.tagged[j] for j, (now, then)
                                 in enumerate(zip(tags, self.versions, strict=True)) if now != then]
        for i in written:
            mapping, entries, current, saved = quick[i]
            ns = mapping.namespace
            # Every entry still the very object of the snapshot (the usual case), compared in
            # one pass at C speed; otherwise entry by entry, as below.
            same = _all_identical(current, ns, saved)
            if not same:
                owner = ns if mapping.owner is None else mapping.owner
                for key, value in entries.items():
                    now = ns.get(key, _MISSING)
                    if now is not value and not _same(now, value) \
                            and not watch.granted_value(owner, key, now):
                        found.append(f"{mapping.label}.{key}")
            shadows = []
            if mapping.owner is None and len(ns) != len(mapping.entries):
                # a module's new global that shadows a builtin its functions call
                shadows = [f"{mapping.label}.{k}" for k in list(ns) if k in builtin_names
                           and k not in mapping.entries and mapping.label != "builtins"]
                found += shadows
            if same and not shadows and i in self.slot:
                # Unchanged at the tag read before the comparison: any write after that read
                # gives the dict another tag, so it is compared again at the next checkpoint.
                self.versions[self.slot[i]] = tags[self.slot[i]]
        if not _all_identical(_cell_contents, self.closure_cells, self.closure_contents):
            found += [f"{s.fn.__module__}.{s.fn.__qualname__} (closure)" for s in self.closures
                      if s.fn.__code__ is s.code and s.closure_changed()]
        for container in self.quick_containers:
            found += container.diff()
        found += [f"sys.modules[{name!r}]" for name, module in self.modules.items()
                  if sys.modules.get(name) is not module]
        return found

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


# -- what learner code may do while a test runs: the audit hook, threads, signals -------------

TEST_FILE = "<dlcourse test cell {n}>"  # the file name test cells are compiled under
SETUP_FILE = "<dlcourse: the notebook's imports>"
THREAD_STOP_SECONDS = 1.0  # for a learner thread to end after SystemExit is raised in it
TIMER_SIGNALS = ("SIGALRM", "SIGVTALRM", "SIGPROF")
# Audit events refused while a test runs, when learner code is on the stack: what reaches the
# test's frame or namespace (frames, the garbage collector's object graph, tracing), runs code
# beside it (processes, signals sent to itself) or writes memory.
REFUSED = ("sys._getframe", "sys._current_frames", "gc.get_referrers", "gc.get_referents",
           "gc.get_objects", "sys.settrace", "sys.setprofile", "object.__setattr__",
           "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system",
           "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill", "code.__new__",
           "function.__new__", "marshal.loads")
FRAME_ATTRIBUTES = ("tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back")
# Recorded whenever learner code does them: how a copy of the reference library is made.
COPY_EVENTS = ("code.__new__", "function.__new__", "marshal.loads")
MAX_WALKED_ITEMS = 1000  # entries of a dict or list a learner function uses, looked through
COPIED_LINE, COPIED_LINES = 20, 5  # source text as a copy: 5 lines of 20+ characters, most lines


def _roots() -> tuple[str, ...]:
    """Folders whose code is the interpreter's, a library's or this package's, not a learner's."""
    import site
    import sysconfig

    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    found |= {p for p in sysconfig.get_paths().values() if p}
    try:
        found |= set(site.getsitepackages()) | {site.getusersitepackages()}
    except AttributeError:  # a virtualenv's old site module
        pass
    return tuple(sorted(os.path.join(os.path.abspath(p), "") for p in found))


def _course_dir() -> str | None:
    module = sys.modules.get("course")
    path = getattr(module, "__file__", None)
    return os.path.join(os.path.dirname(os.path.abspath(path)), "") if path else None


def _code_key(code: types.CodeType) -> tuple:
    """What a code object does, without where it came from (file, line, name)."""
    consts = tuple(_code_key(c) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c))
                   for c in code.co_consts)
    return (code.co_code, consts, code.co_names, code.co_varnames)


def _codes(code: types.CodeType) -> list[types.CodeType]:
    found = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found += _codes(const)
    return found


class _Watch:
    """Facts about the process taken before learner code ran, and what the audit hook saw."""

    def __init__(self, snapshot: Snapshot):
        self.roots = _roots()
        self.course_dir = _course_dir()
        self.learner_files: dict[str, bool] = {}
        self.threads = set(sys._current_frames())
        import signal

        self.signals = {s: signal.getsignal(s) for s in signal.valid_signals()
                        if s not in (signal.SIGKILL, signal.SIGSTOP)}
        self.trace = (sys.gettrace(), sys.getprofile())
        self.thread_hooks = (getattr(threading_module(), "_trace_hook", None),
                             getattr(threading_module(), "_profile_hook", None))
        self.genuine = {id(state.fn) for state in snapshot.functions}
        self.genuine_code = {id(state.code) for state in snapshot.functions}
        self.genuine_classes = {id(m.owner) for m in snapshot.mappings if isinstance(m.owner, type)}
        self.course_modules = {os.path.abspath(m.__file__) for n, m in snapshot.modules.items()
                               if n.split(".")[0] == "course" and getattr(m, "__file__", None)}
        # what the reference library exports: a learner's softmax looking up ".softmax"
        self.course_names = {k for n, m in snapshot.modules.items() if n.split(".")[0] == "course"
                             for k, v in vars(m).items() if not k.startswith("_")
                             and isinstance(v, types.FunctionType | type)
                             and (getattr(v, "__module__", "") or "").startswith("course")}
        self.reference: dict[tuple, str] = {}
        for state in snapshot.functions:
            fn = state.fn
            if (getattr(fn, "__module__", "") or "").split(".")[0] != "course":
                continue
            for code in _codes(state.code):
                self.reference.setdefault(_code_key(code), f"{fn.__module__}.{fn.__qualname__}")
        self.course_lines: set[str] | None = None
        self.testing = False
        self.refused: list[str] = []  # during the current test
        self.seen: list[str] = []  # helpers found changed at a checkpoint of the current test
        # What the test's own code may set on a helper while it runs (a locked helper blocking
        # a reference implementation): (id of a module's namespace, name) -> values it set there
        # (module writes go through ``_GuardedModule``), and the code the guard compiled for the
        # test (a class attribute write has no audit event: a function of this code is the
        # test's own; learner code cannot make one while the test runs, ``function.__new__``).
        self.granted: dict[tuple[int, str], list[Any]] = {}
        self.own_code: list[types.CodeType] = []
        self.own_code_ids: set[int] = set()
        self.copies: list[str] = []  # ever: copies of the reference library made by learner code
        self.busy = False

    def grant(self, owner: Any, name: str, value: Any) -> None:
        """The test's own code set ``owner.name`` to ``value``: not learner tampering."""
        self.granted.setdefault((id(owner), name), []).append(value)

    def granted_value(self, owner: Any, name: str, value: Any) -> bool:
        if any(value is v for v in self.granted.get((id(owner), name), ())):
            return True
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        return isinstance(value, types.FunctionType) and id(value.__code__) in self.own_code_ids

    def own(self, *codes: types.CodeType | None) -> None:
        """The code compiled for the current test (its cell, the locked helpers)."""
        self.own_code = [c for code in codes if code is not None for c in _codes(code)]
        self.own_code_ids = {id(c) for c in self.own_code}

    # -- whose code is running --------------------------------------------------------------

    def is_learner_file(self, filename: str) -> bool:
        known = self.learner_files.get(filename)
        if known is None:
            if filename.startswith(("<dlcourse", "<frozen")):
                known = False
            elif self.course_dir and filename.startswith(self.course_dir):
                known = False
            else:
                known = not os.path.abspath(filename).startswith(self.roots)
            self.learner_files[filename] = known
        return known

    def learner_on_stack(self, frame: types.FrameType | None) -> bool:
        """Whether learner code called what is running in ``frame``, before the test's own code
        (or the guard) is reached going outwards."""
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename == __file__ or filename.startswith("<dlcourse"):
                return False
            if self.is_learner_file(filename):
                return True
            frame = frame.f_back
        return False

    def is_course_text(self, source: str | bytes) -> bool:
        """Whether most of the long lines of ``source`` are lines of the course's sources."""
        if isinstance(source, bytes):
            source = source.decode("utf-8", "replace")
        if self.course_lines is None:
            self.course_lines = set()
            for path in self.course_modules:
                try:
                    with open(path, encoding="utf-8") as handle:
                        self.course_lines |= {line.strip() for line in handle
                                              if len(line.strip()) >= COPIED_LINE}
                except OSError:
                    pass
        lines = [line.strip() for line in source.splitlines() if len(line.strip()) >= COPIED_LINE]
        shared = sum(line in self.course_lines for line in lines)
        return shared >= COPIED_LINES and 2 * shared >= len(lines)

    def in_course(self, filename: Any) -> bool:
        if isinstance(filename, bytes):
            filename = os.fsdecode(filename)
        return (isinstance(filename, str) and self.course_dir is not None
                and os.path.abspath(filename).startswith(self.course_dir))


def threading_module() -> Any:
    import threading

    return threading


def _audit(event: str, args: tuple) -> None:
    """The audit hook: installed before any learner code, never removed (Python cannot)."""
    watch = _STATE.watch
    if watch is None or watch.busy:
        return
    if event == "sys.addaudithook":
        raise RuntimeError("audit hooks are reserved for the grader")
    if event == "open" and isinstance(args[0], str) and args[0].startswith("/proc/") \
            and args[0].endswith("/mem"):
        raise PermissionError("process memory is not open to notebooks")
    watched = event in REFUSED or event.startswith("ctypes.") or (
        event == "object.__getattr__" and len(args) > 1 and args[1] in FRAME_ATTRIBUTES)
    copying = event in ("exec", "compile") or (event == "open" and watch.in_course(args[0]))
    if not (watched or copying):
        return
    watch.busy = True
    try:
        if copying:
            _copying(watch, event, args, sys._getframe(1))
            return
        caller = sys._getframe(1)
        if event in COPY_EVENTS:  # called by learner code itself, not by the import system
            if not watch.is_learner_file(caller.f_code.co_filename):
                return
            if f"{event} (copied code)" not in watch.copies:
                watch.copies.append(f"{event} (copied code)")
        elif not watch.learner_on_stack(caller):
            return
        what = event if event != "object.__getattr__" else f"{event} {args[1]}"
        if watch.testing:
            watch.refused.append(what)
            raise RuntimeError(f"テストの実行中は使えません (not allowed during a test): {what}")
    finally:
        watch.busy = False


def _copying(watch: _Watch, event: str, args: tuple, caller: types.FrameType) -> None:
    """``exec`` or ``compile`` of a ``course`` source file other than its genuine import, or its
    source read or compiled by learner code."""
    if event == "open":
        path = os.path.abspath(os.fsdecode(args[0]))
        if path in watch.course_modules and watch.learner_on_stack(caller):
            what = f"read {os.path.basename(path)}"
            if what not in watch.copies:
                watch.copies.append(what)
        return
    if event == "compile" and isinstance(args[0], str | bytes) \
            and watch.is_learner_file(caller.f_code.co_filename) and watch.is_course_text(args[0]):
        if "compile of course source text" not in watch.copies:
            watch.copies.append("compile of course source text")
        return
    if event == "exec":
        code = args[0]
        filename = code.co_filename if isinstance(code, types.CodeType) else None
        if filename is None or not watch.in_course(filename) or id(code) in watch.genuine_code:
            return
        if os.path.abspath(filename) not in watch.course_modules:
            return  # a module of the package imported for the first time (course.plot)
        what = f"exec of {os.path.relpath(filename, os.path.dirname(watch.course_dir[:-1]))}"
    else:
        filename = args[1] if len(args) > 1 else None
        if isinstance(filename, bytes):
            filename = os.fsdecode(filename)
        if not watch.in_course(filename) or os.path.abspath(filename) not in watch.course_modules:
            return
        what = f"compile of {os.path.relpath(filename, os.path.dirname(watch.course_dir[:-1]))}"
    if what not in watch.copies and watch.learner_on_stack(caller):  # not IPython parsing a
        watch.copies.append(what)  # course file to show a traceback


def _learner_threads(watch: _Watch) -> dict[int, str]:
    """Threads started after the snapshot that are running learner code: ident -> name."""
    threading = threading_module()
    names = {t.ident: t.name for t in threading.enumerate()}
    found = {}
    watch.busy = True
    try:
        frames = sys._current_frames()
    finally:
        watch.busy = False
    for ident, frame in frames.items():
        if ident in watch.threads or ident == threading.get_ident():
            continue
        while frame is not None:
            if watch.is_learner_file(frame.f_code.co_filename):
                found[ident] = names.get(ident, str(ident))
                break
            frame = frame.f_back
    return found


def _stop_threads(watch: _Watch, threads: dict[int, str]) -> dict[int, str]:
    """Raise SystemExit in each thread; those still running after a while."""
    import ctypes
    import time

    watch.busy = True
    try:
        for ident in threads:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                                       ctypes.py_object(SystemExit))
    finally:
        watch.busy = False
    deadline = time.monotonic() + THREAD_STOP_SECONDS
    while time.monotonic() < deadline:
        alive = {i: n for i, n in _learner_threads(watch).items() if i in threads}
        if not alive:
            return {}
        time.sleep(0.02)
    return alive


def _quiet_signals(watch: _Watch) -> tuple[list[str], list[str]]:
    """Disarm interval timers and put every signal handler back as it was before learner code:
    (timers that were armed, handlers that were changed)."""
    import signal

    timers = []
    for name in TIMER_SIGNALS:  # a timer firing between these steps must find no handler
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is not watch.signals.get(number):
            signal.signal(number, signal.SIG_IGN)
    for name in ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF"):
        which = getattr(signal, name, None)
        if which is not None and signal.getitimer(which)[0] > 0:
            signal.setitimer(which, 0)
            timers.append(name)
    if hasattr(signal, "alarm") and signal.alarm(0) > 0:
        timers.append("alarm")
    handlers = []
    for number, handler in watch.signals.items():
        if signal.getsignal(number) is not handler:
            try:
                signal.signal(number, handler if handler is not None else signal.SIG_DFL)
            except (OSError, ValueError, TypeError):
                continue
            handlers.append(signal.Signals(number).name)
    return timers, handlers


def _reset_tracing(watch: _Watch) -> list[str]:
    found = []
    watch.busy = True
    try:
        if sys.gettrace() is not watch.trace[0]:
            sys.settrace(watch.trace[0])
            found.append("sys.settrace")
        if sys.getprofile() is not watch.trace[1]:
            sys.setprofile(watch.trace[1])
            found.append("sys.setprofile")
    finally:
        watch.busy = False
    threading = threading_module()
    for attribute, saved in zip(("_trace_hook", "_profile_hook"), watch.thread_hooks,
                                strict=True):
        if getattr(threading, attribute, None) is not saved:
            setattr(threading, attribute, saved)
            found.append(f"threading.{attribute}")
    return found


# -- delegation: a copy of the reference library behind what a test calls ------------------


def _delegation(watch: _Watch, ns: dict, names: set[str], genuine: set[str]) -> list[str]:
    """What the test's names lead to (learner functions and classes, the globals, closures and
    defaults they use, their bases, attributes of ``course`` modules they name) that is the
    reference library doing the exercise: a copy of ``course`` code (run from its source file,
    or its bytecode copied), or ``course``'s own function or class of the same name as the
    learner's (``softmax = course.functions.softmax``, ``class Dropout(course.layers.Dropout)``).
    Other ``course`` objects (data helpers) are not delegation. ``genuine``: names the locked
    cells bound, not the learner's."""
    found: list[str] = []
    seen: set[int] = set()
    # (label, object, the learner names it was reached from, names its referrer used)
    todo: list[tuple[str, Any, frozenset[str], frozenset[str]]] = [
        (n, ns[n], frozenset({n}), frozenset()) for n in sorted(names - genuine) if n in ns]
    while todo and len(seen) < 5000:
        label, obj, owners, used = todo.pop()
        if isinstance(obj, types.MethodType | staticmethod | classmethod):
            todo.append((label, obj.__func__, owners, used))
            continue
        if isinstance(obj, property):
            todo += [(label, f, owners, used) for f in (obj.fget, obj.fset, obj.fdel) if f]
            continue
        if id(obj) in watch.genuine or id(obj) in watch.genuine_classes:
            name = getattr(obj, "__name__", "")
            if name in owners:
                where = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', name)}"
                found.append(f"{label} uses {where}")
            continue
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, types.FunctionType):
            mine = owners | {obj.__name__}
            for code in _codes(obj.__code__):
                if watch.in_course(code.co_filename) and id(code) not in watch.genuine_code:
                    found.append(f"{label} runs a copy of {os.path.basename(code.co_filename)}")
                    break
                origin = watch.reference.get(_code_key(code)) if watch.copies else None
                if origin is not None and id(code) not in watch.genuine_code:
                    found.append(f"{label} has the bytecode of {origin}")
                    break
            for code in _codes(obj.__code__):
                same = _attributes_looked_up(code) & mine & watch.course_names
                if same:  # softmax() returning sys.modules[...].softmax(x)
                    found.append(f"{label} looks up the course's {', '.join(sorted(same))}")
                    break
            scope = obj.__globals__
            referenced = frozenset(n for code in _codes(obj.__code__) for n in code.co_names)
            todo += [(name, scope[name], mine, referenced) for name in sorted(referenced)
                     if name in scope and name != "__builtins__"]
            for cell in obj.__closure__ or ():
                try:
                    todo.append((label, cell.cell_contents, mine, referenced))
                except ValueError:
                    pass
            todo += [(label, d, mine, referenced) for d in obj.__defaults__ or ()]
        elif isinstance(obj, type):
            mine = owners | {obj.__name__}
            if _is_heap_type(obj):
                todo += [(f"{obj.__name__}.{k}", v, mine | {k}, used)
                         for k, v in vars(obj).items()]
            todo += [(obj.__name__, base, mine, used) for base in obj.__bases__]
        elif isinstance(obj, types.ModuleType):
            path = getattr(obj, "__file__", None)
            if watch.in_course(path) and sys.modules.get(obj.__name__) is not obj:
                found.append(f"{label} is a copy of the module {os.path.basename(path)}")
            elif obj.__name__.split(".")[0] == "course":  # the attributes the referrer names
                todo += [(f"{obj.__name__}.{n}", getattr(obj, n), owners, used)
                         for n in sorted(used) if isinstance(getattr(obj, n, None),
                                                             types.ModuleType | type
                                                             | types.FunctionType)]
        elif isinstance(obj, dict | list | tuple) and len(obj) <= MAX_WALKED_ITEMS:
            items = obj.items() if isinstance(obj, dict) else enumerate(obj)
            todo += [(f"{label}[{k!r}]", v, owners, used) for k, v in items
                     if isinstance(v, types.FunctionType | type | types.ModuleType | dict)]
        elif type(obj).__module__ not in ("builtins", "numpy") and _is_heap_type(type(obj)):
            todo.append((label, type(obj), owners, used))
    return list(dict.fromkeys(found))


def _attributes_looked_up(code: types.CodeType) -> set[str]:
    """Names ``code`` reads as attributes (``something.softmax``), not as globals."""
    return {ins.argval for ins in dis.get_instructions(code)
            if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and isinstance(ins.argval, str)}


def _loaded_names(tree: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _defined_names(source: str) -> set[str]:
    """Names the locked setup cells bind by ``def`` (helpers such as ``reference_disabled``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def _imported_names(source: str) -> set[str]:
    """Names the locked setup cells bind by import (fixture loads are fresh objects anyway)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= {a.asname or a.name for a in node.names if a.name != "*"}
    return found


# -- while a test runs: helper modules refuse writes, checkpoints between the test's steps -----

CHECKPOINT = "__dlcourse_checkpoint__"  # bound in the test's own namespace only
_MODULE_DICT = types.ModuleType.__dict__["__dict__"]


class _GuardedModule(types.ModuleType):
    """The class the helper modules (numpy, ``course``, ``autograder``, builtins) get after the
    snapshot: while a test runs, learner code cannot rebind, delete or add their attributes,
    nor reach their namespace through ``vars(module)`` or ``module.__dict__``. Their functions'
    ``__globals__`` is the route left: the checkpoints see what it changed."""

    def __setattr__(self, key: str, value: Any) -> None:
        _module_write(self, key, value)
        super().__setattr__(key, value)

    def __delattr__(self, key: str) -> None:
        _module_write(self, key, _MISSING)
        super().__delattr__(key)

    @property  # type: ignore[misc]
    def __dict__(self) -> dict:  # type: ignore[override]
        _module_write(self, "__dict__", _MISSING)
        return _MODULE_DICT.__get__(self)


def _module_write(module: types.ModuleType, key: str, value: Any) -> None:
    """Refuse (and record) a write to a helper module by learner code while a test runs. The
    import system binding a submodule on its parent is not one."""
    watch = _STATE.watch
    if watch is None or not watch.testing or watch.busy:
        return
    name = _MODULE_DICT.__get__(module).get("__name__", "?")
    if isinstance(value, types.ModuleType) and sys.modules.get(f"{name}.{key}") is value:
        return
    watch.busy = True
    try:
        learner = watch.learner_on_stack(sys._getframe(2))
    finally:
        watch.busy = False
    if not learner:
        if key != "__dict__":
            watch.grant(_MODULE_DICT.__get__(module), key, value)
        return
    what = f"{name}.{key}" + (" (deleted)" if value is _MISSING and key != "__dict__" else "")
    watch.refused.append(f"{what} (module written)" if key != "__dict__" else what)
    raise RuntimeError(f"テストの実行中は使えません (not allowed during a test): {what}")


def _guard_modules(snapshot: Snapshot) -> None:
    for module in snapshot.modules.values():
        if type(module) is types.ModuleType:
            module.__class__ = _GuardedModule


def checkpoint(where: object = "") -> None:
    """Between the steps of a test (each statement of the test cell and of the locked helpers it
    calls, the start and the end of each check function): fail the test if a helper differs
    from the snapshot. A patch learner code makes while the test runs must be in place when the
    test's next step looks at it, so it is seen here even if it is put back before the test
    ends."""
    state = _STATE
    watch, snapshot = state.watch, state.snapshot
    if watch is None or snapshot is None or not watch.testing or watch.busy:
        return
    watch.busy = True
    try:
        changed = snapshot.changed_now(watch)
    finally:
        watch.busy = False
    if not changed:
        return
    at = f"line {where}" if isinstance(where, int) else str(where)
    found = [f"{c} (changed while the test ran, seen at {at})" for c in changed]
    watch.seen += [f for f in found if f not in watch.seen]
    raise TamperError(
        "改ざんの疑い (tamper suspected): テストの実行中に採点用の関数やデータが書き換えられました"
        f"。このテストは採点できません: {', '.join(changed)}")


def _checked(fn: types.FunctionType) -> Any:
    """``fn`` (a check function) with a checkpoint at its start and its end."""

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        checkpoint(fn.__name__)
        try:
            return fn(*args, **kwargs)
        finally:
            checkpoint(fn.__name__)

    return checked


def _guard_checks() -> None:
    """Wrap the public functions of ``autograder.checks`` with checkpoints (once, before the
    snapshot); their frames are left out of a failure's traceback as the checks' own are."""
    checks = sys.modules.get("autograder.checks")
    if checks is None or getattr(checks, "_guarded", False):
        return
    namespace = vars(checks)
    for name, value in list(namespace.items()):
        if isinstance(value, types.FunctionType) and not name.startswith("_") \
                and value.__module__ == checks.__name__:
            namespace[name] = _checked(value)
    namespace["_MACHINERY"] = (*namespace.get("_MACHINERY", ()), str(Path(__file__).resolve()))
    namespace["_guarded"] = True


class _Checkpoints(ast.NodeTransformer):
    """A checkpoint call before each statement of the test (and of the functions it defines),
    not inside loops (the check functions' own checkpoints run there) nor in ``except`` and
    ``finally`` blocks (the test's clean-up, such as putting back a blocked reference
    implementation, must run)."""

    def _statements(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in body:
            if not (isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"):
                call = ast.Expr(ast.Call(ast.Name(CHECKPOINT, ast.Load()),
                                         [ast.Constant(stmt.lineno)], []))
                out.append(ast.copy_location(call, stmt))
            out.append(self.visit(stmt))
        return out

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.For | ast.AsyncFor | ast.While | ast.Lambda | ast.ClassDef):
            return node
        for field in ("body", "orelse"):
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, field, self._statements(value))
        return node


def _with_checkpoints(tree: ast.Module) -> ast.Module:
    tree = _Checkpoints().visit(tree)
    return ast.fix_missing_locations(tree)


# -- what the locked cells computed: bound afresh in each test that reads it -----------------

RESULT_COPY_BYTES = 128 * 2**20  # locked cells' results kept as copies, in all (more: digest)
RESULT_COPY_ONE = 32 * 2**20  # one result larger than this: its digest only
RESULT_ITEMS = 100_000  # entries walked in one result; a larger one is followed by identity
IPYTHON_NAMES = re.compile(r"_+|_i+|_i?\d+|_[ioed]h|In|Out|exit|quit|get_ipython")


class _Unfollowed(Exception):
    """A value whose content the guard does not follow (only its identity)."""


def _fingerprint(value: Any) -> tuple[str, int] | None:
    """(digest, bytes) of plain data and numpy arrays nested in dicts, lists and tuples; None
    for anything else (a learner's object: followed by identity, its methods not run)."""
    numpy = sys.modules.get("numpy")
    digest = hashlib.sha256()
    size = 0
    items = 0

    def walk(v: Any, depth: int) -> None:
        nonlocal size, items
        items += 1
        if depth > 20 or items > RESULT_ITEMS:
            raise _Unfollowed
        kind = type(v)
        if v is None or kind in (bool, int, float, complex, str, bytes):
            digest.update(repr((kind.__name__, v)).encode())
            size += 64
        elif numpy is not None and kind is numpy.ndarray and v.dtype != object:
            data = numpy.ascontiguousarray(v)
            digest.update(f"a{v.dtype.str}{v.shape}".encode())
            digest.update(data.view(numpy.uint8).reshape(-1) if data.size else b"")
            size += v.nbytes + 128
        elif numpy is not None and isinstance(v, numpy.generic) and kind.__module__ == "numpy":
            digest.update(f"g{v.dtype.str}".encode() + v.tobytes())
            size += 64
        elif kind in (dict, list, tuple):
            digest.update(f"{kind.__name__}{len(v)}(".encode())
            for entry in (v.items() if kind is dict else v):
                if kind is dict:
                    walk(entry[0], depth + 1)
                    entry = entry[1]
                walk(entry, depth + 1)
            digest.update(b")")
            size += 64
        else:
            raise _Unfollowed

    try:
        walk(value, 0)
    except (_Unfollowed, RecursionError):
        return None
    return digest.hexdigest(), size


class _Result:
    """A name a locked cell bound: the object, a digest of its content and a copy (under the
    cap) to put back."""

    def __init__(self, value: Any, budget: list[int]):
        self.value = value
        found = _fingerprint(value)
        self.digest = found[0] if found else None
        self.bytes = 0
        self.copy: Any = _MISSING
        if found and found[1] <= min(budget[0], RESULT_COPY_ONE):
            self.copy = copy.deepcopy(value)
            self.bytes = found[1]
            budget[0] -= found[1]

    def changed(self) -> bool:
        if self.digest is None:
            return False
        found = _fingerprint(self.value)
        return found is None or found[0] != self.digest

    def same_content(self, other: Any) -> bool:
        """``other`` (a rebinding) holds the same data (a demo cell recomputing it)."""
        if self.digest is None or other is _MISSING:
            return False
        found = _fingerprint(other)
        return found is not None and found[0] == self.digest

    def restore(self) -> bool:
        """Back to the copy (a fresh object); False if there is none."""
        if self.copy is _MISSING:
            return False
        self.value = copy.deepcopy(self.copy)
        return True


def _record_locked(state: _State) -> None:
    """After a locked (non-test) cell ran: record the names it bound or rebound (not imports,
    functions and classes: the locked cells' setup statements bind those afresh)."""
    before, state.pending = state.pending, None
    shell = _shell()
    if before is None or shell is None:
        return
    for key, value in list(shell.user_ns.items()):
        if IPYTHON_NAMES.fullmatch(key) or (key in before and before[key] is value):
            continue
        old = state.results.pop(key, None)
        if old is not None:
            state.budget[0] += old.bytes
        if not isinstance(value, types.ModuleType | types.FunctionType | type):
            state.results[key] = _Result(value, state.budget)


def cell() -> None:
    """The prologue of a locked non-test cell: note the notebook's names, and record what the
    cell bound once it has run (a one-shot ``post_run_cell`` callback: it runs, error or not,
    before the next cell, and removes itself, so IPython's event table is as it was)."""
    state = _STATE
    _record_locked(state)
    shell = _shell()
    if shell is None or state.snapshot is None:
        return
    state.pending = dict(shell.user_ns)

    def recorded(result: Any = None) -> None:
        shell.events.unregister("post_run_cell", recorded)
        _record_locked(state)

    shell.events.register("post_run_cell", recorded)


def _locked_results(state: _State, user_ns: dict, ns: dict,
                    names: set[str]) -> tuple[list[str], list[str]]:
    """Bind the locked cells' results the test reads (``names``) to what those cells produced,
    in the test's namespace and the notebook's: (what learner code had done to them, what could
    not be put back)."""
    found, lost = [], []
    for name in sorted(names & set(state.results)):
        result = state.results[name]
        now = user_ns.get(name, _MISSING)
        if now is not result.value and not result.same_content(now):
            found.append(f"{name} (a locked cell's result, rebound)")
        if result.changed():
            if result.restore():
                found.append(f"{name} (a locked cell's result, changed in place; put back)")
            else:
                lost.append(name)
        ns[name] = user_ns[name] = result.value
    return found, lost


def _after_test(state: _State, ns: dict, start: dict, used: set[str]) -> None:
    """Names of locked results the test bound are its own now; results it read that the learner
    code it called changed in place are put back for the next test."""
    for name, result in list(state.results.items()):
        value = ns.get(name, _MISSING)
        if value is not _MISSING and (name not in start or value is not start[name]):
            state.budget[0] += result.bytes
            state.results[name] = _Result(value, state.budget)
        elif name in used and result.changed() and result.restore():
            if _shell() is not None:
                _shell().user_ns[name] = result.value


# -- the entry points: the prologue of the first code cell, each test cell, the verdict ---------


class _State:
    snapshot: Snapshot | None = None
    watch: _Watch | None = None
    current: str | None = None  # token of the test cell whose enter ran last
    undone: dict[str, list[str]] = {}  # token -> helpers put back before that test cell
    during: dict[str, list[str]] = {}  # token -> what learner code did while the test ran
    notes: dict[str, list[str]] = {}  # token -> neutral notes (signal handlers reset)
    rebound: dict[str, list[str]] = {}  # token -> the locked cells' names rebound by learner code
    pending: dict | None = None  # the notebook's names before the locked cell now running
    results: dict[str, _Result] = {}  # name -> what a locked non-test cell bound it to
    budget = [RESULT_COPY_BYTES]  # bytes left for copies of the results
    tests = 0


_STATE = _State()


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _no_tqdm_monitor() -> None:
    """tqdm's monitor thread would otherwise be a thread started after the snapshot."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None:
        tqdm.tqdm.monitor_interval = 0


def enter(token: str | None = None, rebind: str = "", memory_limit: int = 0) -> None:
    """First call: preload, snapshot, audit hook. With a ``token`` (a test cell): restore, stop
    what learner code left running, then rebind the locked cells' imports in the notebook."""
    state = _STATE
    if state.snapshot is None:
        _limit_memory(memory_limit)
        _preload()
        _no_tqdm_monitor()
        _guard_checks()
        from autograder import nofigures

        if nofigures.wanted():  # nobody will look at the figures: build them, do not render
            nofigures.select(_shell())
        state.snapshot = Snapshot(_shell())
        state.watch = _Watch(state.snapshot)
        _guard_modules(state.snapshot)
        sys.addaudithook(_audit)
    if token is None:
        return
    _record_locked(state)
    snapshot, watch = state.snapshot, state.watch
    helpers, pipeline = snapshot.diff()
    snapshot.restore()
    shadows = snapshot.clean_user_namespace()
    undone = helpers + [f"{name} (shadowed in the notebook)" for name in shadows]
    undone += [f"{name} (tracing)" for name in _reset_tracing(watch)]
    timers, handlers = _quiet_signals(watch)
    undone += [f"{name} (interval timer armed)" for name in timers]
    notes = [f"signal handler reset before the test: {name}" for name in handlers]
    threads = _learner_threads(watch)
    alive = _stop_threads(watch, threads) if threads else {}
    undone += [f"thread {name} (running learner code)" for name in threads.values()]
    state.undone[token] = undone
    state.notes[token] = notes
    state.during[token] = []
    state.current = token
    if snapshot.shell is not None and rebind:
        exec(compile(rebind, SETUP_FILE, "exec"), snapshot.shell.user_ns)
    if pipeline:
        raise TamperError(
            "改ざんの疑い (tamper suspected): IPython のセル実行の仕組みが変更されていたため、"
            f"このテストは採点できません: {', '.join(sorted(set(pipeline)))}"
        )
    if alive:
        raise TamperError(
            "改ざんの疑い (tamper suspected): 解答のスレッド (thread) が動き続けているため、"
            f"このテストは採点できません: {', '.join(alive.values())}。"
            "スレッドはテストの前に join してください。"
        )


def _show_error(shell: Any, error: BaseException, tb: Any) -> None:
    """The error as a cell error output: the test's own frames only (not this module's, nor the
    one-line cell that called it, which holds the test's source)."""
    if shell is None:
        raise error.with_traceback(tb)
    shell.showtraceback((type(error), error, tb))


def run_test(token: str, rebind: str, memory_limit: int, source: str) -> Any:
    """Run a test cell's ``source`` in a namespace of its own: a copy of the notebook's names
    with the locked cells' imports bound to the genuine objects. Learner code can rebind the
    notebook's names (``global check_close``, from a thread or a signal handler): not the
    test's. Names the test binds are copied back for the cells after it. The value of a final
    expression is returned (IPython shows it, as for a plain cell)."""
    state = _STATE
    shell = _shell()
    try:
        enter(token, "", memory_limit)
    except TamperError as error:
        _show_error(shell, error, None)
        return None
    watch = state.watch
    user_ns = shell.user_ns if shell is not None else {}
    ns = dict(user_ns)
    ns["__builtins__"] = builtins
    ns[CHECKPOINT] = checkpoint
    try:
        setup_tree = _with_checkpoints(ast.parse(rebind))
    except SyntaxError:
        setup_tree = ast.parse("")
    setup_code = compile(setup_tree, SETUP_FILE, "exec")
    exec(setup_code, ns)
    setup_bound = {k for k, v in ns.items() if k not in user_ns or user_ns[k] is not v}
    genuine = {n: ns[n] for n in _imported_names(rebind) if n in ns}
    before = {n: user_ns.get(n, _MISSING) for n in genuine}
    rebound = [n for n, v in before.items() if v is not _MISSING and v is not genuine[n]]
    helpers = _defined_names(rebind)  # run afresh above: a learner's redefinition is not used
    transformed = shell.transform_cell(source) if shell is not None else source
    try:
        cell_names: set[str] | None = _loaded_names(ast.parse(transformed))
    except SyntaxError:  # the test cannot run; IPython reports the error below
        cell_names = None
    read = set() if cell_names is None else cell_names | _loaded_names(setup_tree)
    used = read - setup_bound
    changed, lost = _locked_results(state, user_ns, ns, used)
    state.rebound[token] = rebound + changed
    if lost:
        state.during[token] = [f"{n} (a locked cell's result, changed in place)" for n in lost]
        _show_error(shell, TamperError(
            "改ざんの疑い (tamper suspected): ロックされたセルの結果が書き換えられていて、"
            f"元に戻せないため、このテストは採点できません: {', '.join(lost)}"), None)
        return None
    start = dict(ns)

    state.tests += 1
    filename = TEST_FILE.format(n=state.tests)
    import linecache

    linecache.cache[filename] = (len(transformed), None, transformed.splitlines(True), filename)
    result = None
    watch.refused = []
    watch.seen = []
    watch.granted = {}
    try:
        tree = ast.parse(transformed, filename)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if last is not None:  # a checkpoint before the final expression too
            tree.body.append(ast.copy_location(ast.Pass(), last))
        tree = _with_checkpoints(tree)
        if last is not None:
            tree.body.pop()
        body = compile(tree, filename, "exec")
        tail = compile(ast.Expression(last.value), filename, "eval") if last else None
        watch.own(setup_code, body, tail)
        watch.testing = True
        try:
            exec(body, ns)
            if tail is not None:
                result = eval(tail, ns)
            checkpoint("the end of the test")
        finally:
            watch.testing = False
    except BaseException as error:  # noqa: BLE001 (the cell's error, shown as IPython would)
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        _show_error(shell, error, tb)
        result = None
    during = [f"{what} (refused)" for what in dict.fromkeys(watch.refused)] + watch.seen
    during += [f"{n} (rebound while the test ran)" for n, v in before.items()
               if user_ns.get(n, _MISSING) is not v]
    timers, handlers = _quiet_signals(watch)
    during += [f"{n} (interval timer armed)" for n in timers]
    during += [f"signal handler {n} (set)" for n in handlers]
    during += [f"{n} (tracing)" for n in _reset_tracing(watch)]
    during += [f"thread {n} (started)" for n in _learner_threads(watch).values()]
    bound = {k for k, v in ns.items() if k not in start or start[k] is not v}
    ours = set(genuine) | helpers | bound | (set(start) - set(user_ns))  # not the learner's
    delegation = [] if cell_names is None else _delegation(watch, ns, cell_names, ours)
    state.during[token] = during + [f"delegation: {d}" for d in delegation]
    for key, value in ns.items():
        if key != "__builtins__" and (key not in start or start[key] is not value):
            user_ns[key] = value
    _after_test(state, ns, start, used)
    user_ns.update(genuine)  # as the locked cells bound them, for the cells after this one
    if delegation:
        _show_error(shell, TamperError(
            "改ざんの疑い (tamper suspected): 参照ライブラリ (course) の実装をそのまま使っている "
            f"(delegation) ため、このテストは採点できません: {', '.join(delegation)}。"
            "自分で実装してください。"), None)
        return None
    if during:
        _show_error(shell, TamperError(
            "改ざんの疑い (tamper suspected): テストの実行中に解答のコードがテストに干渉しました "
            f"(interference)。このテストは採点できません: {', '.join(during)}"), None)
        return None
    return result


def verdict(token: str) -> str:
    """JSON for the grader: did this test cell's ``enter`` run, what changed while it ran (and
    was put back), what learner code did during it, what was put back before it."""
    state = _STATE
    entered = state.snapshot is not None and state.current == token
    changed: list[str] = []
    if state.snapshot is not None:
        helpers, pipeline = state.snapshot.diff()
        changed = sorted(set(helpers + pipeline))
        state.snapshot.restore()
    state.current = None
    copies = list(state.watch.copies) if state.watch is not None else []
    return json.dumps({"entered": entered, "changed": changed,
                       "during": state.during.pop(token, []),
                       "undone": sorted(set(state.undone.pop(token, []))),
                       "notes": state.notes.pop(token, []), "copies": copies,
                       "rebound": state.rebound.pop(token, [])})
