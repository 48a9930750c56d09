"""The install story: pyproject and environment.yml agree; Makefile and CI match README."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_packages() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        names |= {_name(r) for r in extra}
    return names


def _environment_packages() -> set[str]:
    names = set()
    text = (REPO / "environment.yml").read_text()
    dependencies = text.split("dependencies:", 1)[1]
    for line in dependencies.splitlines():
        match = re.match(r"^\s+-\s+([A-Za-z0-9_.\-]+)", line)
        if match and not line.strip().endswith(":"):
            names.add(_name(match.group(1)))
    return names - {"python", "pip"}


def test_environment_yml_and_pyproject_name_the_same_packages():
    assert _environment_packages() == _pyproject_packages()


def test_pyproject_declares_both_packages_and_python_311():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert data["project"]["name"] == "dlcourse"
    assert data["project"]["requires-python"] == ">=3.11"
    packages = set(data["tool"]["setuptools"]["packages"]["find"]["include"])
    assert packages >= {"course*", "autograder*"}


def test_ci_runs_make_test_and_readme_shows_the_two_commands():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    head = "\n".join(readme.splitlines()[:40])
    assert "make demo" in head and "make test" in head


def test_makefile_bootstraps_the_venv_for_demo_and_test():
    makefile = (REPO / "Makefile").read_text()
    for target in ("demo", "test", "lab", "lint"):
        match = re.search(rf"^{target}:(.*)$", makefile, re.M)
        assert match, f"no {target} target"
        assert "$(STAMP)" in match.group(1), f"{target} does not depend on the venv stamp"


def test_gitignore_covers_venv_caches_and_the_grading_workspace():
    ignored = (REPO / ".gitignore").read_text().split()
    for entry in (".venv/", "__pycache__/", ".pytest_cache/", "grading/"):
        assert entry in ignored


def test_the_glossary_ships_and_nothing_points_outside_the_repository():
    """Documents name the course's own glossary; no committed file names a path outside the repo."""
    assert "| weight decay | 荷重減衰" in (REPO / "docs" / "glossary-ja.md").read_text()
    assert "glossary-ja.md" in (REPO / "docs" / "instructor-guide.md").read_text()
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    # spelled in pieces, so that this file does not match itself
    work, shared = "/" + "work/", r"\.\./" + "shared"
    outside = re.compile(rf"{work}|{shared}|\bshared/(?:tools|glossary|style|course-design)")
    offenders = []
    for name in files:
        path = REPO / name
        if path.suffix not in {".md", ".py", ".ipynb", ".toml", ".yml", ".cfg", ".txt", ""}:
            continue
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        offenders += [f"{name}: {m.group(0)}" for m in outside.finditer(text)]
    assert not offenders, offenders
