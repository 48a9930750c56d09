# dlcourse: the two commands a fresh clone needs are `make demo` and `make test`.
# Both create .venv with pip on first use (idempotent; quick once it exists).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Experiments in notebooks run at their small deterministic size in tests and CI, with one BLAS
# thread per process: on 2 cores, small matrices and several kernels, threads only fight.
QUICK  := DLCOURSE_QUICK=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: help venv demo test test-full lab lab-instructor lint fixtures release bench clean

help:
	@echo "make demo       release Day 4, autograde the sample submissions, print the grade table"
	@echo "make test       the whole test suite (quick mode)"
	@echo "make test-full  execute the solution notebooks at full experiment size"
	@echo "make lab        JupyterLab on the released assignments (learner view)"
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
# that every cell runs); everything else is in tests/.
test: $(STAMP)
	@$(QUICK) $(BIN)/python -m pytest -q -p no:cacheprovider --nbval \
		--ignore-glob='*/.ipynb_checkpoints/*' --ignore=tests/data \
		--cov=course --cov-report=term:skip-covered tests solutions

test-full: $(STAMP)
	@$(BIN)/python -m pytest -q -p no:cacheprovider --nbval solutions

lab: $(STAMP)
	@$(BIN)/jupyter lab --ip=127.0.0.1 --notebook-dir=assignments

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
