"""The Validate button's server side in the learner's JupyterLab: nbgrader's Validator, with its
next kernel started in advance and the server left free while it runs.

nbgrader's own server extension (``nbgrader.server_extensions.validate_assignment``) starts a
fresh kernel for every click, so every Validate of a Day 4 notebook pays Python, ipykernel, numpy,
matplotlib and ``course`` again (about 1.6 s of the 3.5 to 6 s the learner waits on this machine,
docs/performance.md), and it runs the whole validation inside the server's event loop: until it
is done the learner's server answers nothing else (saving another notebook, opening a file).

This extension serves the same two routes (``assignments/validate`` and ``nbgrader_version``,
which nbgrader's Validate button calls) with the same answers, computed by nbgrader's own
``Validator`` with the course's configuration (the guard's hooks, ``validate_config``), and:

- runs each validation in one worker thread (one at a time: the Validator changes the process's
  working folder), so the server stays responsive;
- gives the Validator a kernel it started itself, with what nbgrader's ``Execute`` would give it
  (the notebook's kernel, its folder as working folder, the server's environment with
  ``NBGRADER_EXECUTION=validate``, the same arguments), and shuts it down after the answer has
  gone out, not before;
- after each validation, starts the next kernel for the same notebook and warms it: silently
  (no execution count, no history) and binding no name in the notebook, it does what the first
  cell's guard prologue would do before any learner code (``guard.enter``: the preload, the
  figures' backend, the memory limit, the snapshot) and imports the modules the notebook's
  locked setup cells import (the first cell imports them a moment later anyway). The next click
  on that notebook takes it; there the first cell's prologue finds the guard entered, and every
  cell runs as in a cold kernel;
- does the same when the learner opens a course notebook (a notebook session starts for a file
  with nbgrader test cells), so that the first Validate of a notebook, too, finds its kernel
  ready.

A kernel runs one validation, never two: no learner state crosses from one click to the next. A
warm kernel is used only if it is alive and was made for the same notebook file, kernel,
arguments, environment, setup imports, guard prologue and fixture files (the snapshot holds
their contents: files changed since mean a cold kernel); otherwise the click starts a cold
kernel, as nbgrader does. At most ``DLCOURSE_WARM_VALIDATE`` warm kernels (default 2, the
notebooks validated last) wait at once; 0 turns warming off. They are killed when the server
exits (and ipykernel ends a kernel whose server has gone).

Enabled for the learner view in deploy/lab/learner/jupyter_server_config.json, in place of
nbgrader's extension (which the hub's learners load from the same folder).
"""

from __future__ import annotations

import ast
import asyncio
import atexit
import concurrent.futures
import contextlib
import hashlib
import json
import os
import signal
import threading
import traceback
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_config_path
from jupyter_core.utils import run_sync
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from nbgrader import __version__ as NBGRADER_VERSION
from nbgrader import utils
from nbgrader.apps import NbGrader
from nbgrader.nbgraderformat import SchemaTooNewError, SchemaTooOldError
from nbgrader.preprocessors import Execute
from nbgrader.validator import Validator
from tornado import web

from autograder.execution import GuardPlan, ValidateGuard, is_locked_setup
from autograder.guard import FIXTURE_DIR
from autograder.kernel_waits import PromptKernelManager

WARM_ENV = "DLCOURSE_WARM_VALIDATE"  # how many warm kernels may wait; 0: none
WARM_DEFAULT = 2
VALIDATING = {"NBGRADER_VALIDATING": "1", "NBGRADER_EXECUTION": "validate"}  # as the Validator
READY_SECONDS = 60  # a kernel must answer kernel_info within this (nbclient's startup_timeout)
# Run in the warm kernel, in a namespace of its own (no name reaches the notebook): the first
# cell's guard prologue (ENTER: preload, figures' backend, memory limit, snapshot), then the
# setup cells' imports, which in a cold kernel the first cell makes right after its prologue.
WARM_UP = """\
import importlib
exec(ENTER, {})
for name in MODULES:
    try:
        importlib.import_module(name)
    except Exception:  # the notebook's own cell reports it, as in a cold kernel
        pass
"""


def setup_imports(nb: nbformat.NotebookNode) -> tuple[str, ...]:
    """The absolute module names the notebook's locked setup cells import, in order."""
    names: list[str] = []
    for cell in nb.cells:
        if not is_locked_setup(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level \
                    and node.module != "__future__":
                names.append(node.module)
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Recipe:
    """Everything a validation kernel is made of; a warm kernel serves only an equal recipe."""

    notebook: str  # absolute path
    kernel_name: str
    arguments: tuple[str, ...]
    environment: str  # digest of the environment the kernel starts with
    modules: tuple[str, ...]
    enter: str  # the first code cell's guard prologue ("" without the guard: no warm-up of it)
    fixtures: tuple[tuple[str, int, int], ...]  # (name, size, mtime) under fixtures/

    @property
    def cwd(self) -> str:
        return str(Path(self.notebook).parent)

    def env(self) -> dict[str, str]:
        return _validating_env()


def _validating_env() -> dict[str, str]:
    """The environment a validation kernel starts with: the server's, as the Validator sets it."""
    return {**os.environ, **VALIDATING}


def _environment_digest() -> str:
    return hashlib.sha256(json.dumps(sorted(_validating_env().items())).encode()).hexdigest()


def _fixtures(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """The files the guard's snapshot reads (``guard.FIXTURE_DIR`` beside the notebook)."""
    root = folder / FIXTURE_DIR
    found = []
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        if path.is_file():
            stat = path.stat()
            found.append((str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def _guard_entry(nb: nbformat.NotebookNode, execute: Execute) -> str:
    """The guard prologue the ValidateGuard hooks give the first code cell ("" without them)."""
    guard = getattr(execute.on_notebook_start, "__self__", None)
    if not isinstance(guard, ValidateGuard):
        return ""
    plan = GuardPlan(nb, guard.memory_limit)
    return (plan.prologue(plan.first_code, None) or "") if plan.first_code is not None else ""


def recipe_for(notebook: Path, validator: Validator) -> Recipe:
    """The kernel nbgrader's Execute would start for ``notebook`` under this configuration."""
    nb = nbformat.read(notebook, as_version=4)
    execute = Execute(parent=validator)
    arguments = list(execute.extra_arguments)
    # nbclient adds the history file to an ipykernel's arguments unless one is given
    if execute.ipython_hist_file and not any(
            a.startswith("--HistoryManager.hist_file") for a in arguments):
        arguments.append(f"--HistoryManager.hist_file={execute.ipython_hist_file}")
    kernel_name = execute.kernel_name or nb.metadata.get("kernelspec", {}).get("name", "python")
    return Recipe(str(notebook), kernel_name, tuple(arguments), _environment_digest(),
                  setup_imports(nb), _guard_entry(nb, execute), _fixtures(notebook.parent))


class _Validator(Validator):
    """nbgrader's Validator whose Execute runs on a kernel given to it (``km``), which it then
    leaves running: the caller shuts it down. The body is nbgrader's ``_preprocess``."""

    km: AsyncKernelManager | None = None

    def _preprocess(self, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
        resources: dict = {}
        with utils.setenv(**VALIDATING):
            for preprocessor in self.preprocessors:
                pp = preprocessor(parent=self)
                if isinstance(pp, Execute) and self.km is not None:
                    try:
                        nb, resources = pp.preprocess(nb, resources, km=self.km)
                    finally:  # nbclient leaves a client it does not own open
                        if pp.kc is not None:
                            pp.kc.stop_channels()
                else:
                    nb, resources = pp.preprocess(nb, resources)
        return nb


def _load_config() -> Any:
    """nbgrader's configuration as its Validate handler loads it for every click."""
    paths = jupyter_config_path()
    paths.insert(0, os.getcwd())
    app = NbGrader()
    app.config_file_paths.append(paths)
    app.load_config_file()
    return app.config


def _message(error: BaseException, notebook: str) -> str:
    """nbgrader's texts for a notebook whose metadata is too old or too new."""
    if isinstance(error, SchemaTooOldError):
        return (f"The notebook '{notebook}' uses an old version of the nbgrader metadata format. "
                "Please **back up this notebook** and then update the metadata using:\n\n"
                f"nbgrader update {notebook}\n")
    return (f"The notebook '{notebook}' uses a newer version of the nbgrader metadata format. "
            "Please update your version of nbgrader to the latest version to be able to use "
            "this notebook.")


class WarmValidation:
    """Validations one at a time in a worker thread, each on a kernel started for it in advance
    when one is ready (see the module's docstring)."""

    def __init__(self, log: Any, limit: int | None = None):
        self.log = log
        self.limit = int(os.environ.get(WARM_ENV, WARM_DEFAULT)) if limit is None else limit
        self._worker = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="dlcourse-validate")
        self._warm: OrderedDict[Recipe, AsyncKernelManager] = OrderedDict()
        self._lock = threading.Lock()  # _warm, read by close() from another thread
        self.counts = {"warm": 0, "cold": 0}

    # -- the worker thread's jobs -------------------------------------------------------------
    def submit(self, notebook: Path) -> concurrent.futures.Future:
        return self._worker.submit(self._validate, notebook)

    def _validate(self, notebook: Path) -> dict:
        km: AsyncKernelManager | None = None
        recipe: Recipe | None = None
        try:
            validator = _Validator(config=_load_config())
            recipe = recipe_for(notebook, validator)
            km = self._take(recipe)
            kind = "warm" if km is not None else "cold"
            self.counts[kind] += 1
            self.log.info("Validate: %s kernel for %s", kind, notebook)
            if km is None:
                km = self._start(recipe)
            validator.km = km
            result = validator.validate(str(notebook))
        except (SchemaTooOldError, SchemaTooNewError) as error:
            self.log.error(traceback.format_exc())
            return {"success": False, "value": _message(error, str(notebook))}
        except Exception:
            self.log.error(traceback.format_exc())
            return {"success": False, "value": traceback.format_exc()}
        finally:  # after the answer: this kernel goes, the next one for this notebook comes
            with contextlib.suppress(RuntimeError):  # the server is closing: close() kills
                if km is not None:
                    self._worker.submit(self._kill, km)
                if recipe is not None and self.limit > 0:
                    self._worker.submit(self._prepare, recipe)
        return {"success": True, "value": result}

    def prepare_for(self, notebook: Path) -> concurrent.futures.Future | None:
        """A warm kernel for a notebook just opened, if it is a course notebook (test cells)."""
        if self.limit <= 0:
            return None
        with contextlib.suppress(RuntimeError):  # the server is closing
            return self._worker.submit(self._prepare_opened, notebook)
        return None

    def _prepare_opened(self, notebook: Path) -> None:
        try:
            nb = nbformat.read(notebook, as_version=4)
            if not any(utils.is_grade(cell) for cell in nb.cells):
                return
            recipe = recipe_for(notebook, _Validator(config=_load_config()))
        except Exception:  # not ours to report: the learner sees the notebook as it is
            self.log.debug("Validate: no warm kernel for %s:\n%s", notebook,
                           traceback.format_exc())
            return
        self._prepare(recipe)

    def _start(self, recipe: Recipe) -> AsyncKernelManager:
        km = PromptKernelManager(kernel_name=recipe.kernel_name)  # no fixed waits at start and end
        run_sync(km.start_kernel)(extra_arguments=list(recipe.arguments), cwd=recipe.cwd,
                                  env=recipe.env())
        return km

    def _prepare(self, recipe: Recipe) -> None:
        """A warm kernel for ``recipe`` (none if it fails to start or to warm up)."""
        with self._lock:
            if recipe in self._warm:
                return
        try:
            km = self._start(recipe)
        except Exception:
            self.log.warning("Validate: no warm kernel for %s:\n%s", recipe.notebook,
                             traceback.format_exc())
            return
        try:
            run_sync(self._warm_up)(km, recipe)
        except Exception:
            self.log.warning("Validate: a warm kernel for %s did not warm up:\n%s",
                             recipe.notebook, traceback.format_exc())
            self._kill(km)
            return
        with self._lock:
            # one kernel per notebook: one made for an older recipe of it could never serve
            surplus = [self._warm.pop(r) for r in list(self._warm) if r.notebook == recipe.notebook]
            self._warm[recipe] = km
            surplus += [self._warm.popitem(last=False)[1]
                        for _ in range(max(0, len(self._warm) - self.limit))]
        self.log.info("Validate: warm kernel ready for %s", recipe.notebook)
        for old in surplus:
            self._kill(old)

    @staticmethod
    async def _warm_up(km: AsyncKernelManager, recipe: Recipe) -> None:
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=READY_SECONDS)
            names = {"MODULES": list(recipe.modules), "ENTER": recipe.enter}
            code = f"exec({WARM_UP!r}, {names!r})"
            msg_id = kc.execute(code, silent=True, store_history=False)
            while True:
                reply = await kc.get_shell_msg(timeout=READY_SECONDS)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"warm-up failed: {reply['content'].get('evalue', '')}")
        finally:
            kc.stop_channels()

    def _take(self, recipe: Recipe) -> AsyncKernelManager | None:
        """The warm kernel made for this recipe, if alive; others of the notebook go."""
        with self._lock:
            km = self._warm.pop(recipe, None)
            stale = [self._warm.pop(r) for r in list(self._warm) if r.notebook == recipe.notebook]
        for old in stale:
            self._kill(old)
        if km is not None and not run_sync(km.is_alive)():
            self._kill(km)
            return None
        return km

    def _kill(self, km: AsyncKernelManager) -> None:
        """Kill the kernel and its process group (whatever learner code started), then clean
        up its connection file."""
        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:
            self.log.warning("Validate: stopping a kernel failed:\n%s", traceback.format_exc())

    # -- any thread ---------------------------------------------------------------------------
    def waiting(self) -> list[Recipe]:
        with self._lock:
            return list(self._warm)

    def close(self) -> None:
        """Kill the warm kernels now (the server exits) and stop the worker."""
        with self._lock:
            kernels, self._warm = list(self._warm.values()), OrderedDict()
        for km in kernels:
            pgid = getattr(km.provisioner, "pgid", None)
            with contextlib.suppress(OSError, TypeError):
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                km.cleanup_connection_file()
        self._worker.shutdown(wait=False, cancel_futures=True)


class ValidateHandler(JupyterHandler):
    """POST assignments/validate?path=...: nbgrader's answer, {"success": ..., "value": ...}."""

    @web.authenticated
    async def post(self) -> None:
        path = self.get_argument("path", None)
        if path is None:
            path = (self.get_json_body() or {}).get("path")
        if not path:
            raise web.HTTPError(400, "path is required")
        root = Path(self.settings["root_dir"]).resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise web.HTTPError(403, "Access denied: path outside allowed directory")
        service: WarmValidation = self.settings["dlcourse_validation"]
        result = await asyncio.wrap_future(service.submit(target))
        self.finish(json.dumps(result))


class VersionHandler(JupyterHandler):
    """GET nbgrader_version?version=...: whether the Validate button matches this nbgrader."""

    @web.authenticated
    def get(self) -> None:
        ui_version = self.get_argument("version")
        if ui_version == NBGRADER_VERSION:
            self.finish(json.dumps({"success": True}))
            return
        message = (f"The version of the Validate labextension does not match the server "
                   f"extension; the labextension version is {ui_version} while the server "
                   f"version is {NBGRADER_VERSION}. Reinstall nbgrader in the course's "
                   "environment (make lab does).")
        self.log.error(message)
        self.finish(json.dumps({"success": False, "message": message}))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "autograder.validate_server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    service = WarmValidation(serverapp.log)
    atexit.register(service.close)
    webapp = serverapp.web_app
    webapp.settings["root_dir"] = serverapp.root_dir
    webapp.settings["dlcourse_validation"] = service
    base = webapp.settings["base_url"]
    webapp.add_handlers(".*$", [
        (url_path_join(base, "assignments/validate"), ValidateHandler),
        (url_path_join(base, "nbgrader_version"), VersionHandler),
    ])
    _warm_on_open(serverapp, service)
    serverapp.log.info("dlcourse: Validate with warm kernels (at most %d waiting)",
                       service.limit)


def _warm_on_open(serverapp: Any, service: WarmValidation) -> None:
    """When a session gets a notebook's path (the learner opened it), warm a kernel for it.

    JupyterLab may create a session under a unique name and give it the notebook's path
    afterwards, so both ``create_session`` and ``update_session`` are watched."""
    manager = serverapp.session_manager
    create_session, update_session = manager.create_session, manager.update_session
    root = Path(serverapp.root_dir).resolve()

    def opened(path: Any) -> None:
        if not isinstance(path, str) or not path.endswith(".ipynb"):
            return
        notebook = (root / path).resolve()
        if notebook.is_relative_to(root) and notebook.is_file():
            service.prepare_for(notebook)

    async def create_and_warm(*args: Any, **kwargs: Any) -> dict:
        model = await create_session(*args, **kwargs)
        opened(model.get("path"))
        return model

    async def update_and_warm(session_id: str, **kwargs: Any) -> None:
        await update_session(session_id, **kwargs)
        opened(kwargs.get("path"))

    manager.create_session = create_and_warm
    manager.update_session = update_and_warm
