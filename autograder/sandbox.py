"""Grading kernels inside bubblewrap walls: a learner's code sees its own notebook and nothing else.

``SandboxKernelManager`` is the ``kernel_manager_class`` of ``GuardedExecute`` (set by
``Course.nbgrader_config``, so the ``grade`` command, its worker processes, Formgrader through
``nbgrader_config.py`` and the hub's instructor configuration all use it). Instead of
``python -m ipykernel_launcher -f {connection_file}`` it starts::

    bwrap <walls> -- python -I -m autograder.sandbox -f <connection file>

and ``kernel_main`` below, already inside, drops to uid 65534 (when bubblewrap ran as root), sets
the rlimits and runs ipykernel. The kernel talks to the grader over ZeroMQ IPC sockets in one
folder of its own, bound read-write, holding only its connection file and its sockets.

Inside the walls (everything else does not exist, the root itself is an empty read-only tmpfs):

- namespaces of its own: PID (no other process is visible; ``--die-with-parent`` and PID 1 of the
  namespace end every process a learner started when the kernel ends), network (no interface but
  its own, down-to-nothing loopback: neither the host's loopback nor any other network), IPC, UTS,
  and a user namespace when the grader is not root;
- an unprivileged uid, never root and never the instructor: as a non-root grader, uid 65534
  (nobody) in a user namespace; as root, no user namespace (root in one is still host root to
  ``RLIMIT_NPROC``: no fork limit) but a host uid of its own per kernel (``ROOT_UIDS``, no
  account's) that the kernel process switches to before any learner code, without capabilities:
  the number-of-processes limit holds per kernel and no file of the host is the kernel's;
- read-only: ``/usr`` (and the ``/bin``, ``/lib*``, ``/sbin`` links), a few files of ``/etc``
  (``ld.so.cache``, ``localtime``, ``passwd``, ``group``, ``nsswitch.conf``), the Python
  environment (``sys.prefix``) and the base interpreter's prefix (a venv's ``home``), the installed
  ``course`` package folder, the top-level modules of ``autograder`` one by one (not its
  ``specs/`` or ``samples/`` folders), and only those ``autograder/specs`` modules that the day's
  own hidden tests import (Day 2 compares with a reference module);
- ``/sandbox``: the working directory, a size-capped tmpfs (``scratch_mb``) with the files of the
  notebook's grading folder (the notebook and the day's released files such as ``fixtures/``)
  bound read-only into it; ``/tmp`` another capped tmpfs; ``HOME`` is ``/sandbox``;
- ``/proc`` of its own PID namespace and a minimal ``/dev``;
- a clean environment: only ``ALLOWED_ENV`` (locale, BLAS threads, nbgrader's markers,
  ``DLCOURSE_QUICK``) and a fixed ``PATH``; the database URL, the workspace, tokens and anything
  else of the grader's environment are not passed; ``JPY_PARENT_PID`` is 1 (in a PID namespace
  ipykernel's parent poller sees no parent and would exit at once; 1 turns it off).

Interrupts (a cell out of time) go as a message on the control channel, never as SIGINT to
bubblewrap's process group (bubblewrap would die of it, and the kernel with it); the kernel,
leader of its own process group inside, passes SIGINT on to itself and its children.

Not there: the repository (``solutions/``, ``autograder/specs/`` except as above, ``.git``), the
grading workspace (other submissions, the gradebook, ``archive/``), every home folder (``/root``
holds only the interpreter's prefix when Python lives there, as with pyenv), the host's ``/tmp``.

rlimits set by ``kernel_main`` (soft = hard, learner code cannot raise them): address space
(``memory_limit``, as the guard sets it too), CPU seconds of the kernel process (``cpu_limit``: a
backstop; cell timeouts are judged on CPU time by ``autograder.cputime``), number of processes
(``nproc``), size of any file written (``file_size_mb``), no core dumps.

``mode`` "require" refuses to start a kernel without the sandbox, "auto" starts it unsandboxed
when bubblewrap cannot run here (and says so: every launch is recorded, ``take_launches``, and the
notebook gets the flag "not sandboxed: <why>"), "off" never sandboxes. ``python -m autograder
doctor`` (``doctor``) reports what the sandbox can and cannot do on this machine.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traitlets import Bool, Integer, Unicode

from autograder.config import resolve_sandbox_mode
from autograder.kernel_waits import PromptKernelManager
from autograder.nofigures import FIGURES_ENV

NOBODY = 65534  # the uid inside a user namespace (a grader that is not root)
# A grader running as root gives each kernel a host uid of its own from this range (used by no
# account): RLIMIT_NPROC counts per host uid, so one kernel's fork bomb cannot use up the
# process slots of a kernel graded beside it (``--workers``), and no host file is its own.
ROOT_UIDS = (2_000_000_000, 2_100_000_000)
INSIDE = "/sandbox"  # the working directory inside the walls
SCRATCH_MB = 128  # the working directory's tmpfs (and /tmp's): a full disk is this much memory
NPROC = 64  # processes of the sandbox user (threads count: a Day 4 kernel uses about 10)
FILE_SIZE_MB = 64  # largest file a learner may write
FLAG_NOT_SANDBOXED = "not sandboxed"
SANDBOXED = "bubblewrap"  # what the gradebook's sandbox column says for a sandboxed notebook
ALLOWED_ENV = ("LANG", "LANGUAGE", "TZ", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
               "MKL_NUM_THREADS", "NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "DLCOURSE_QUICK",
               "MPLBACKEND", "PYTHONHASHSEED", "PYDEVD_DISABLE_FILE_VALIDATION",
               "JPY_SESSION_NAME", FIGURES_ENV)
ETC_FILES = ("ld.so.cache", "localtime", "passwd", "group", "nsswitch.conf")
_SPEC_IMPORT = re.compile(r"autograder\.specs\.(\w+)")


class SandboxUnavailable(RuntimeError):
    """``mode`` is "require" and bubblewrap cannot run a kernel here."""


@dataclass
class Launch:
    """One kernel start: sandboxed or not, and why not."""

    sandboxed: bool
    reason: str = ""


_LAUNCHES: list[Launch] = []


def take_launches() -> list[Launch]:
    """The kernel starts of this process since the last call (and forget them)."""
    found = list(_LAUNCHES)
    _LAUNCHES.clear()
    return found


# -- can bubblewrap run here? ------------------------------------------------------------------


def _bwrap() -> str | None:
    return shutil.which("bwrap") or (
        "/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK) else None)


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why bubblewrap cannot start a sandbox on this machine (None: it can). Cached per process:
    one ``bwrap ... true`` costs a few milliseconds."""
    if sys.platform != "linux":
        return f"bubblewrap needs Linux namespaces; this is {sys.platform}"
    bwrap = _bwrap()
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    true = shutil.which("true") or "/bin/true"
    try:
        done = subprocess.run([bwrap, *_namespaces(), *_system_binds(), "--", true],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not run: {error}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return f"bwrap cannot create the namespaces: {lines[-1] if lines else done.returncode}"
    return None


def sandbox_refused(mode: str) -> str | None:
    """Why grading must not start (mode "require" where the sandbox cannot run), or None."""
    why = unavailable() if resolve_sandbox_mode(mode) == "require" else None
    return f"the grading sandbox is required but {why} (python -m autograder doctor)" \
        if why else None


def _namespaces() -> list[str]:
    common = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
              "--unshare-cgroup-try", "--die-with-parent"]
    if os.geteuid() == 0:
        # Root in a user namespace is still host root to RLIMIT_NPROC (no fork limit): no user
        # namespace, and kernel_main switches to a host uid of the kernel's own instead.
        return common
    return ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), *common]


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return [*args, "--proc", "/proc", "--dev", "/dev"]


# -- what the kernel may read -------------------------------------------------------------------


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _bind(kind: str, path: Path, made: set[str]) -> list[str]:
    """``kind`` (--ro-bind, --bind) of ``path`` at the same place, its missing parents created
    traversable first (bubblewrap copies the host's modes: /root would stay 0700 to uid 65534)."""
    args: list[str] = []
    for parent in reversed(path.parents[:-1]):  # without "/"
        if str(parent) not in made:
            made.add(str(parent))
            args += ["--perms", "0755", "--dir", str(parent)]
    made.add(str(path))
    return [*args, kind, str(path), str(path)]


def _under(path: Path, folders: list[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


@functools.lru_cache(maxsize=1)
def _environment_binds() -> tuple[str, ...]:
    """The Python environment and the installed packages, read-only, each at its own path."""
    prefixes = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    executable = Path(sys.executable).resolve()
    if not _under(executable, [*prefixes, Path("/usr")]):
        prefixes.append(executable.parent.parent)
    args: list[str] = []
    made = {"/usr", "/etc", "/proc", "/dev", "/tmp", INSIDE}
    bound: list[Path] = [Path("/usr")]
    for prefix in prefixes:
        if not _under(prefix, bound):
            args += _bind("--ro-bind", prefix, made)
            bound.append(prefix)
    course = _package_dir("course")
    if course is not None and not _under(course, bound):
        args += _bind("--ro-bind", course, made)
    autograder = _package_dir("autograder")
    if autograder is not None and not _under(autograder, bound):
        # Editable install: the package's modules one by one; specs/ and samples/ stay outside.
        for module in sorted(autograder.glob("*.py")):
            args += _bind("--ro-bind", module, made)
        cache = autograder / "__pycache__"
        if cache.is_dir():
            args += _bind("--ro-bind", cache, made)
    return tuple(args)


@functools.lru_cache(maxsize=64)
def spec_modules(source_day: str) -> tuple[str, ...]:
    """``autograder.specs`` modules imported by the test cells of the source notebooks in
    ``source_day`` (the trusted copy, never the submission): the only specs a kernel sees."""
    import nbformat

    found: set[str] = set()
    for path in sorted(Path(source_day).glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:
            continue
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
                found.update(_SPEC_IMPORT.findall(cell.source))
    return tuple(sorted(found))


def _spec_binds(source_day: Path | None) -> list[str]:
    if source_day is None or not source_day.is_dir():
        return []
    names = spec_modules(str(source_day))
    specs = _package_dir("autograder")
    if not names or specs is None:
        return []
    args: list[str] = []
    made = {str(p) for p in specs.parents} | {str(specs)}
    for name in ("__init__", *names):
        path = specs / "specs" / f"{name}.py"
        if path.is_file():
            args += _bind("--ro-bind", path, made)
    return args


MPL_INSIDE = "/tmp/matplotlib"  # matplotlib's configuration and cache folder inside the walls


@functools.lru_cache(maxsize=1)
def _font_cache() -> Path | None:
    """matplotlib's font list as the grader's own matplotlib wrote it (None: no matplotlib, or
    it could not write one). Bound read-only into every kernel: without it each kernel's first
    ``import matplotlib.pyplot`` rebuilds the list (``fc-list`` and every font file read), about
    0.5 s per notebook, since nothing written inside the walls outlives the kernel."""
    try:
        import matplotlib
        from matplotlib.font_manager import FontManager, fontManager  # noqa: F401 (writes it)
    except Exception:  # noqa: BLE001 (no matplotlib, or a broken one: the kernel builds its own)
        return None
    path = Path(matplotlib.get_cachedir()) / f"fontlist-v{FontManager.__version__}.json"
    return path.resolve() if path.is_file() else None


def _font_binds() -> list[str]:
    cache = _font_cache()
    if cache is None:
        return []
    return ["--perms", "1777", "--dir", MPL_INSIDE,
            "--ro-bind", str(cache), f"{MPL_INSIDE}/{cache.name}",
            "--setenv", "MPLCONFIGDIR", MPL_INSIDE]


def kernel_env(environ: dict[str, str]) -> dict[str, str]:
    """The kernel's whole environment: ``ALLOWED_ENV`` and ``LC_*`` from ``environ``, a fixed
    PATH, HOME and TMPDIR inside the walls."""
    env = {k: v for k, v in environ.items() if k in ALLOWED_ENV or k.startswith("LC_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin",
                                   "/usr/bin", "/bin"])
    env.update(HOME=INSIDE, TMPDIR="/tmp", USER="learner", LOGNAME="learner")
    return env


@dataclass
class Limits:
    """rlimits of a sandboxed kernel (0: none)."""

    uid: int = NOBODY  # the kernel's uid (a grader running as root: its own, see ROOT_UIDS)
    memory: int = 0  # bytes of address space
    cpu: int = 0  # CPU seconds of the kernel process
    nproc: int = NPROC
    file_size: int = FILE_SIZE_MB * 2**20


def walls(folder: Path, cwd: Path, limits: Limits, scratch_mb: int = SCRATCH_MB,
          source_day: Path | None = None) -> list[str]:
    """The bwrap arguments (without the command) for a kernel whose connection file and sockets
    live in ``folder`` and whose notebook and released files are in ``cwd``."""
    bwrap = _bwrap()
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    size = str(scratch_mb * 2**20)
    # /tmp's tmpfs first: a later mount hides what was bound below it, and the course (its
    # .venv, course/, autograder/) may itself live under /tmp (a clone in a temporary folder).
    args = [bwrap, *_namespaces(), *_system_binds(),
            "--perms", "1777", "--size", size, "--tmpfs", "/tmp", *_font_binds(),
            *_environment_binds(), *_spec_binds(source_day),
            "--perms", "1777", "--size", size, "--tmpfs", INSIDE]
    for entry in sorted(cwd.iterdir()) if cwd.is_dir() else []:
        args += ["--ro-bind", str(entry), f"{INSIDE}/{entry.name}"]
    args += _bind("--bind", folder, {"/tmp"})
    args += ["--chdir", INSIDE, "--remount-ro", "/"]
    args += ["--setenv", "DLCOURSE_SANDBOX_LIMITS", json.dumps(limits.__dict__)]
    return args


def kernel_command(folder: Path, cwd: Path, limits: Limits, connection_file: str,
                   scratch_mb: int = SCRATCH_MB, source_day: Path | None = None) -> list[str]:
    return [*walls(folder, cwd, limits, scratch_mb, source_day), "--",
            sys.executable, "-I", "-m", "autograder.sandbox", "-f", connection_file]


# -- the kernel manager -------------------------------------------------------------------------


class SandboxKernelManager(PromptKernelManager):
    """jupyter_client's kernel manager that starts each kernel inside the walls (see above),
    without jupyter_client's fixed waits at its start and end (``autograder.kernel_waits``)."""

    mode = Unicode("auto", help="require | auto | off").tag(config=True)
    scratch_mb = Integer(SCRATCH_MB, help="MB of the writable working folder").tag(config=True)
    memory_limit = Integer(0, help="bytes of address space (0: none)").tag(config=True)
    cpu_limit = Integer(0, help="CPU seconds of the kernel process (0: none)").tag(config=True)
    nproc = Integer(NPROC, help="processes of the sandbox user").tag(config=True)
    file_size_mb = Integer(FILE_SIZE_MB, help="largest file written, MB").tag(config=True)
    source_directory = Unicode("", help="the course's source folder (specs the tests import)"
                               ).tag(config=True)
    figures = Bool(True, help="False: figures are built but not rendered (autograder.nofigures)"
                   ).tag(config=True)

    _folder: Path | None = None
    _launch: Launch | None = None

    def _decide(self) -> Launch:
        mode = resolve_sandbox_mode(self.mode)
        if mode == "off":
            return Launch(False, "sandbox off")
        why = unavailable()
        if why is None and os.name != "posix":
            why = "no Unix sockets for the kernel"
        if why is not None:
            if mode == "require":
                raise SandboxUnavailable(sandbox_refused(mode))
            return Launch(False, why)
        return Launch(True)

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        self._launch = self._decide()
        if self._launch.sandboxed:
            base = Path(self.ip).parent if self.transport == "ipc" else None
            if base is None or not base.is_dir():
                base = Path(tempfile.gettempdir())
            self._folder = Path(tempfile.mkdtemp(prefix="k-", dir=base))
            self.transport = "ipc"
            self.ip = str(self._folder / "kernel")
            self.connection_file = str(self._folder / "kernel.json")
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        if self._launch.sandboxed:
            assert self._folder is not None
            uid = kernel_uid()
            if os.geteuid() == 0:  # the kernel runs as a host uid of its own
                os.chown(self._folder, uid, uid)
                os.chown(self.connection_file, uid, uid)
            cwd = Path(kw.get("cwd") or os.getcwd())
            source = Path(self.source_directory) / cwd.name if self.source_directory else None
            limits = Limits(uid, self.memory_limit, self.cpu_limit, self.nproc,
                            self.file_size_mb * 2**20)
            kernel_cmd = kernel_command(self._folder, cwd, limits,
                                        os.path.realpath(self.connection_file),
                                        self.scratch_mb, source)
            kw["env"] = kernel_env(kw.get("env") or dict(os.environ))
        if not self.figures:
            kw["env"] = {**(kw.get("env") or os.environ), FIGURES_ENV: "off"}
        _LAUNCHES.append(self._launch)
        return kernel_cmd, kw

    async def _async_interrupt_kernel(self) -> None:
        if self._launch is None or not self._launch.sandboxed:
            return await super()._async_interrupt_kernel()
        self._connect_control_socket()
        self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._folder is not None and not restart:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    # AsyncKernelManager binds these names to KernelManager's functions: rebind to the above.
    interrupt_kernel = _async_interrupt_kernel
    cleanup_resources = _async_cleanup_resources


# -- inside the walls ---------------------------------------------------------------------------


def _set_limits(limits: dict[str, int]) -> None:
    import resource

    wanted = [(resource.RLIMIT_AS, limits.get("memory", 0)),
              (resource.RLIMIT_CPU, limits.get("cpu", 0)),
              (resource.RLIMIT_NPROC, limits.get("nproc", 0)),
              (resource.RLIMIT_FSIZE, limits.get("file_size", 0)),
              (resource.RLIMIT_CORE, 0)]
    for which, value in wanted:
        if value > 0 or which == resource.RLIMIT_CORE:
            resource.setrlimit(which, (value, value))


def kernel_uid() -> int:
    """The uid a new kernel runs as (see ``ROOT_UIDS``)."""
    if os.geteuid() != 0:
        return NOBODY
    import secrets

    return ROOT_UIDS[0] + secrets.randbelow(ROOT_UIDS[1] - ROOT_UIDS[0])


def _become_learner(limits: dict[str, int]) -> None:
    """As root (no user namespace): drop to the kernel's uid, every capability with it; then
    the rlimits, soft = hard."""
    if os.geteuid() == 0:
        uid = int(limits.get("uid", NOBODY))
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    if os.geteuid() == 0 or os.getuid() == 0:
        raise SystemExit("the sandboxed kernel must not run as root")
    _set_limits(limits)


def kernel_main(argv: list[str]) -> None:
    """Entry point inside the walls: become the learner's uid, set the rlimits, run ipykernel."""
    limits = json.loads(os.environ.pop("DLCOURSE_SANDBOX_LIMITS", "{}"))
    _become_learner(limits)
    # ipykernel polls its parent (JPY_PARENT_PID) and exits when it is gone; in a PID namespace
    # it sees none. 1 turns the poller off; --die-with-parent does its job.
    os.environ["JPY_PARENT_PID"] = "1"
    os.setpgid(0, 0)  # ipykernel's interrupt_request signals its own process group
    import runpy

    sys.argv = ["ipykernel_launcher", *argv]
    code = 1
    try:
        runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except BaseException:  # noqa: BLE001 (shown in the kernel's log, then the process ends)
        import traceback

        traceback.print_exc()
    finally:
        # The kernel's event loop has ended: normally (shutdown), or because learner code broke
        # it (builtins.max patched: the selector raises). Its other threads (heartbeat, IOPub)
        # would keep the process alive and answering heartbeats, and the grader would wait for
        # the wall-clock backstop; ending the process here makes it a dead kernel at once.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


# -- doctor -------------------------------------------------------------------------------------

_PROBE = r"""
import json, os, socket, sys
found = {"uid": os.getuid(), "gid": os.getgid()}
def visible(path):
    return os.path.exists(path)
found["seen"] = [p for p in json.loads(sys.argv[1]) if visible(p)]
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=2); s.close()
    found["loopback"] = "connected"
except OSError as error:
    found["loopback"] = type(error).__name__
found["interfaces"] = sorted(n for _, n in socket.if_nameindex())
found["writable_root"] = os.access("/", os.W_OK)
found["secrets"] = sorted(k for k in os.environ
                          if k.startswith("DLCOURSE_") and k != "DLCOURSE_QUICK")
import resource
found["nproc"] = resource.getrlimit(resource.RLIMIT_NPROC)[0]
import numpy, ipykernel
found["imports"] = True
print(json.dumps(found))
"""


def doctor(repo: Path, workspace: Path, say: Any = print) -> bool:
    """Print what the sandbox does on this machine, with the fix for each missing piece; True
    when every wall holds."""
    import socket

    ok = True
    bwrap = _bwrap()
    if bwrap is None:
        say("bubblewrap: MISSING. Fix: install it (Debian/Ubuntu: apt-get install bubblewrap; "
            "Fedora: dnf install bubblewrap). Until then grading runs unsandboxed "
            "(--sandbox require refuses to grade).")
        return False
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
    say(f"bubblewrap: {bwrap} ({version})")
    why = unavailable()
    if why is not None:
        say(f"namespaces: NOT AVAILABLE ({why}). Fix: enable unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1 on Debian, "
            "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04, "
            "user.max_user_namespaces > 0), or run the grader where they exist.")
        return False
    user = "no user namespace: bubblewrap runs as root, each kernel switches to a host uid of " \
        f"its own in {ROOT_UIDS[0]}..{ROOT_UIDS[1]}" if os.geteuid() == 0 else \
        f"user namespace, uid {NOBODY} inside"
    say(f"namespaces: pid, net, ipc, uts ({user})")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="dlc-doctor-") as scratch:
        folder = Path(scratch) / "k"
        cwd = Path(scratch) / "cwd"
        folder.mkdir()
        cwd.mkdir()
        canary = Path(scratch) / "host-tmp-canary"
        canary.write_text("host /tmp")
        secret_paths = [str(repo / "solutions"), str(repo / "autograder" / "specs"),
                        str(repo / "autograder" / "samples"), str(repo / ".git"), str(workspace),
                        "/home", str(canary), *_home_entries()]
        uid = kernel_uid()
        if os.geteuid() == 0:
            os.chown(folder, uid, uid)
        env = kernel_env(dict(os.environ))
        start = time.perf_counter()
        cmd = [*walls(folder, cwd, Limits(uid)), "--", sys.executable, "-I", "-c",
               "import autograder.sandbox as s, sys; s._probe_main(sys.argv[1:])",
               json.dumps(secret_paths), str(port)]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        seconds = time.perf_counter() - start
    try:
        listener.accept()
        reached = True
    except BlockingIOError:
        reached = False
    listener.close()
    if done.returncode != 0:
        say(f"a Python inside the walls: FAILED ({done.stderr.strip().splitlines()[-1:]})")
        return False
    found = json.loads(done.stdout.strip().splitlines()[-1])
    say(f"a Python inside the walls: numpy and ipykernel import ({seconds:.2f} s)")

    def check(good: bool, text: str, fix: str = "") -> None:
        nonlocal ok
        ok = ok and good
        say(f"  [{'ok' if good else 'NO'}] {text}" + ("" if good or not fix else f". Fix: {fix}"))

    check(found["uid"] == uid and found["gid"] == uid and uid not in (0, os.getuid()),
          f"runs as uid {found['uid']}, gid {found['gid']} (not root, not the instructor)")
    check(not found["seen"], "repository, workspace, home folders, host /tmp not visible"
          + (f" (seen: {found['seen']})" if found["seen"] else ""))
    check(not reached and found["loopback"] != "connected",
          f"no network: a connection to the host's loopback fails ({found['loopback']}); "
          f"interfaces: {', '.join(found['interfaces'])}")
    check(not found["writable_root"], "the filesystem is read-only but for the scratch folder")
    check(not found["secrets"], "no secrets in the environment")
    check(0 < found["nproc"] <= NPROC, f"number of processes limited to {found['nproc']}")
    say("Not isolated: CPU time and memory bandwidth are shared with the host (timing side "
        "channels); the kernel can read what any Python program can: the interpreter and the "
        "installed packages.")
    return ok


def _home_entries() -> list[str]:
    """What the home folders hold, but the folders leading to a bound path (pyenv's Python)."""
    bound = [Path(a) for a in _environment_binds() if a.startswith("/")]
    found = []
    for home in {Path.home(), Path("/root")}:
        try:
            entries = list(home.iterdir())
        except OSError:
            continue
        found += [str(e) for e in entries if not any(e == b or e in b.parents for b in bound)]
    return sorted(found)


def _probe_main(argv: list[str]) -> None:
    """Doctor's probe, run the way kernel_main runs a kernel."""
    _become_learner(json.loads(os.environ.pop("DLCOURSE_SANDBOX_LIMITS", "{}")))
    sys.argv = ["probe", *argv]
    exec(compile(_PROBE, "<doctor probe>", "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    kernel_main(sys.argv[1:])
