# dlcourse: the two commands a fresh clone needs are `make demo` and `make test`.
# Both create .venv with pip on first use (idempotent; quick once it exists).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Experiments in notebooks run at their small deterministic size in tests and CI, with one BLAS
# thread per process: on 2 cores, small matrices and several kernels, threads only fight.
QUICK  := DLCOURSE_QUICK=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: help venv demo test test-full lab lab-instructor hub-proxy lint fixtures release bench clean

help:
	@echo "make demo       release Day 4, autograde the sample submissions, print the grade table"
	@echo "make test       the whole test suite (quick mode)"
	@echo "make test-full  execute the solution notebooks at full experiment size"
	@echo "make lab        JupyterLab on the released assignments (learner view)"
	@echo "make lab-instructor  JupyterLab at the course root, with Formgrader (instructor view)"
	@echo "make hub-proxy  configurable-http-proxy (npm) for deploy/jupyterhub/"
	@echo "make lint       ruff"
	@echo "make fixtures   regenerate the visible-test fixtures from the reference library"
	@echo "make release    regenerate assignments/ from solutions/"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing dlcourse and its dependencies into $(VENV) (first run only)..."
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@$(BIN)/python -m autograder demo

# The solution notebooks are executed top to bottom by nbval (stored without outputs, so nbval checks
# that every cell runs); everything else is in tests/. -rs: say why a test was skipped (e.g. the
# browser tests without Chromium). Two xdist workers, one per core; --dist loadfile keeps a file's
# tests on one worker: a notebook's cells (nbval runs them in order in one kernel) and the module
# fixtures of a test file (one grading run per day, one JupyterLab server). (loadgroup would be
# finer, but pytest-xdist 3.8's xdist_group marks have no effect under pytest 9.2.)
test: $(STAMP)
	@$(QUICK) $(BIN)/python -m pytest -q -rs -p no:cacheprovider -n 2 --dist loadfile --nbval \
		--ignore-glob='*/.ipynb_checkpoints/*' --ignore=tests/data \
		--cov=course --cov-report=term:skip-covered tests solutions

test-full: $(STAMP)
	@$(BIN)/python -m pytest -q -p no:cacheprovider --nbval solutions

# JupyterLab, bound to loopback; the URL (with a fresh token) is printed first. Override e.g.
# `make lab LAB_PORT=9999` (lab-instructor: INSTRUCTOR_PORT); LAB_IP=0.0.0.0 exposes it to the
# network (then mind the token).
# The learner view reads deploy/lab/learner/ first on the Jupyter config path: nbgrader's Create
# Assignment, Formgrader and Course List are switched off there, for this server only (the
# installation and the instructor view keep them). Validate and the Assignment List stay.
LAB_IP         ?= 127.0.0.1
LAB_PORT       ?= 8888
INSTRUCTOR_PORT ?= 8889
LAB_FLAGS      ?=
LEARNER_ROOT   ?= assignments
COURSE_ROOT    ?= .
LEARNER_CONFIG := $(CURDIR)/deploy/lab/learner
ALLOW_ROOT      = $(if $(filter 0,$(shell id -u)),--allow-root)
# $(call run_lab,VIEW,FOLDER,PORT,ENV): JupyterLab started in FOLDER (its root and working directory).
# The environment's bin/ goes first on PATH: nbgrader runs the `alembic` command when it creates
# a gradebook, and kernels and terminals should find the course's Python.
define run_lab
	@token=$${LAB_TOKEN:-$$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}; \
	echo "JupyterLab, $(1): http://$(LAB_IP):$(3)/lab?token=$$token  (Ctrl-C stops it)"; \
	cd $(2) && PATH="$(abspath $(BIN)):$$PATH" exec env $(4) jupyter lab --ip=$(LAB_IP) --port=$(3) \
		--ServerApp.port_retries=0 --ServerApp.root_dir=. --IdentityProvider.token=$$token \
		$(ALLOW_ROOT) $(LAB_FLAGS)
endef

lab: $(STAMP)
	$(call run_lab,learner view of $(LEARNER_ROOT),$(LEARNER_ROOT),$(LAB_PORT),\
		JUPYTER_CONFIG_PATH=$(LEARNER_CONFIG)$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH)))

# At the course root, where nbgrader_config.py points Formgrader at solutions/, assignments/ and
# the grading workspace (grading/, or $DLCOURSE_WORKSPACE), which must exist: nbgrader creates the
# SQLite gradebook but not its folder (Formgrader fails on a fresh clone otherwise).
lab-instructor: $(STAMP)
	@mkdir -p "$${DLCOURSE_WORKSPACE:-$(COURSE_ROOT)/grading}"
	$(call run_lab,instructor view with Formgrader,$(COURSE_ROOT),$(INSTRUCTOR_PORT),)

# configurable-http-proxy for JupyterHub (deploy/jupyterhub/), from the npm registry, installed
# into deploy/jupyterhub/node_modules (git-ignored) at the version pinned by its package-lock.json.
hub-proxy: deploy/jupyterhub/node_modules/.bin/configurable-http-proxy

deploy/jupyterhub/node_modules/.bin/configurable-http-proxy: deploy/jupyterhub/package-lock.json
	@npm ci --prefix deploy/jupyterhub --no-audit --no-fund --loglevel=error
	@touch $@

lint: $(STAMP)
	@$(BIN)/ruff check course autograder tests bench

fixtures: $(STAMP)
	@$(BIN)/python -m autograder fixtures

release: $(STAMP)
	@$(BIN)/python -m autograder release all && $(BIN)/python -m autograder samples

bench: $(STAMP)
	@$(BIN)/python -m bench

clean:
	rm -rf grading out .pytest_cache .coverage
