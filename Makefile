# rnnbench: every target bootstraps .venv on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch 2.13.0 lies on this machine's disk; a looser spec would pull a CUDA build.
TORCH_SPEC ?= torch==2.13.0
CONFIG ?= bench/configs/default.toml
RUN ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: venv test lint bench show report clean-venv

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

report: venv
	@test -n "$(RUN)" || { echo "usage: make report RUN=results/<run_id>" >&2; exit 2; }
	$(PY) -m bench report $(RUN)

# The default CPU sweep: summary, result files and report paths are printed; the last line is the run dir.
bench: venv
	$(PY) -m bench sweep --config $(CONFIG) $(BENCH_ARGS)

show: venv
	$(PY) -m bench show $(RUN)

clean-venv:
	rm -rf $(VENV)
