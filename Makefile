# rnnbench: every target bootstraps .venv on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch 2.13.0 lies on this machine's disk; a looser spec would pull a CUDA build.
TORCH_SPEC ?= torch==2.13.0
CONFIG ?= bench/configs/default.toml
RUN ?=
PYTEST_ARGS ?=

.PHONY: venv test lint bench report clean-venv ci-bench validate-gate

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[test]'
	touch $@

lint: venv
	$(PY) -m ruff check bench implementations tests

test: venv lint
	$(PY) -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)

# Regression gate: measure BASE and this tree in alternating rounds in the same job, compare, exit 1 on regression.
BASE ?= origin/main
ROUNDS ?= 3
REPS ?= 8
CI_CONFIG ?= bench/configs/quick.toml
CI_BENCH_ARGS ?=

ci-bench: venv
	$(PY) -m bench ci --base $(BASE) --config $(CI_CONFIG) --rounds $(ROUNDS) $(CI_BENCH_ARGS)

# How good the gate is on this machine: A/A false alarms and detection of known slowdowns (slow: REPS jobs).
validate-gate: venv
	$(PY) -m bench.validate_gate --reps $(REPS) --rounds $(ROUNDS) --config $(CI_CONFIG)
