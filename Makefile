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
# Ray (the --executor ray extra, ~330 MB, ~1 min to install) is in by default so its end-to-end test runs; EXTRAS=test drops it.
# engines: ONNX Runtime, OpenVINO and the ONNX exporter (~150 MB), for the deployment engines (docs/engines.md)
# kernels: the third-party RNN kernels' adapters (docs/families.md): sru, accelerated-scan, flashrnn, xlstm (~7 MB)
EXTRAS ?= test,ray,engines,kernels
# make profile: natives of every family and LSTM's eager, scripted and step-compiled loops, training at one
# mid-sized shape (whole-loop torch.compile is left out: minutes of compilation). make tensorboard: all of results/.
PROFILE_ARGS ?= --impl '*.native' --impl 'lstm.*loop' --impl 'lstm.script_*' --impl lstm.compile_step \
	--batch 32 --seq-len 64 --hidden-size 256 --mode training
TRACES ?= results
PORT ?= 6006

.PHONY: venv valgrind test lint docs bench train show report profile tensorboard gpu-reference gpu-triton noise-check bench-store ci-bench ci-instructions validate-gate clean-venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

lint: venv
	$(PY) -m ruff check bench implementations tests

# The instructions clock (rnnbench sweep --clock instructions) needs Valgrind: Debian's, installed where missing.
valgrind:
	@command -v valgrind >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind) >/dev/null 2>&1; } || \
	  echo "warning: could not install valgrind; the instructions clock and its tests are unavailable" >&2

# pytest-xdist: one worker per core, each pinned to its own (tests/conftest.py); then, alone, the tests marked
# serial (they time an injected slowdown, or race a signal or a timeout, and a busy neighbour would skew them).
# Exit status 5 is pytest's "no test selected", as when PYTEST_ARGS picks tests of one kind only.
test: venv lint docs valgrind
	$(PY) -m pytest -n auto -m "not serial" --durations=10 $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest -m serial --durations=5 $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The docs site (docs/*.md, Material for MkDocs) into site/; --strict: a broken link or a page left out of the nav fails.
# (-f takes the relative path: mkdocs refuses a docs_dir that holds its config when given the absolute one)
docs: venv
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -f docs/mkdocs.yml

profile: venv
	$(PY) -m bench profile $(PROFILE_ARGS) --out results

tensorboard: venv
	$(PY) -m tensorboard.main --logdir $(TRACES) --host 127.0.0.1 --port $(PORT)

report: venv
	@test -n "$(RUN)" || { echo "usage: make report RUN=results/<run_id>" >&2; exit 2; }
	$(PY) -m bench report $(RUN)

# The default CPU sweep: summary, result files and report paths are printed; the last line is the run dir.
bench: venv
	$(PY) -m bench sweep --config $(CONFIG) $(BENCH_ARGS)

# Training to a loss (docs/training.md): loss-curve parity within each family, time to the target loss; exit 1
# when a curve leaves its family baseline's. TRAIN_ARGS adds flags, e.g. TRAIN_ARGS='--task adding --dtype float64'.
TRAIN_CONFIG ?= bench/configs/train.toml
TRAIN_ARGS ?=
train: venv
	$(PY) -m bench train --config $(TRAIN_CONFIG) $(TRAIN_ARGS)

show: venv
	$(PY) -m bench show $(RUN)

# How background load and the thread count change timings here (the reason for the default thread count).
noise-check: venv
	$(PY) -m bench.experiments.noise_check

# What the store costs a sweep: 10,000 and 100,000 finished cases of 100 samples appended, then compacted.
STORE_ROWS ?= 10000 100000
bench-store: venv
	$(PY) -m bench.experiments.bench_store --rows $(STORE_ROWS)

# On a CUDA machine: the GPU sweep, kept as reference data under results/reference/<gpu-name>/
# (measurements, run.json with the exact command, and the report beside them).
gpu-reference: venv
	@gpu=$$($(PY) -c 'import torch, re; print(re.sub(r"[^A-Za-z0-9]+", "-", torch.cuda.get_device_name()).strip("-"))') \
	  || { echo "gpu-reference: no CUDA device" >&2; exit 2; }; \
	$(PY) -m bench sweep --config bench/configs/gpu_reference.toml --out results/reference --run-id $$gpu --no-report $(BENCH_ARGS) \
	  && $(PY) -m bench report results/reference/$$gpu --out results/reference/$$gpu/report

# On a CUDA machine: the persistent Triton kernel's CUDA tests (cuDNN + float64 reference, registers and grid
# against the SMs), then its sweep against lstm.native (bench/configs/triton.toml) with the report (docs/gpus.md).
gpu-triton: venv
	$(PY) -m pytest tests/test_triton_persistent.py -q -s -m cuda -rs
	$(PY) -m bench sweep --config bench/configs/triton.toml --out results $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)

# Regression gate: measure BASE and this tree in the same job, compare, exit 1 on regression. ROUNDS processes
# each load both trees' implementations and time them side by side; the test counts one ratio per process
# (8 is the least that can reach p < 0.01). CI_BENCH_ARGS=--separate measures each tree in sweeps of its own.
BASE ?= origin/main
ROUNDS ?= 16
THRESHOLD ?= 0.05
REPS ?=
CI_CONFIG ?= bench/configs/quick.toml
CI_BENCH_ARGS ?=

ci-bench: venv
	$(PY) -m bench ci --base $(BASE) --config $(CI_CONFIG) --rounds $(ROUNDS) --threshold $(THRESHOLD) $(CI_BENCH_ARGS)

# The instructions lane of the gate: BASE and this tree counted under Valgrind in one process, decided on a
# tolerance (docs/instructions.md). Deterministic where time is noisy; blind to memory, caches and threads.
ci-instructions: venv valgrind
	$(PY) -m bench ci --base $(BASE) --config $(CI_CONFIG) --clock instructions $(CI_BENCH_ARGS)

# How good the gate is on this machine: A/A false alarms and detection of known slowdowns. Slow: by default as
# many jobs as 300 A/A and 100 per-slowdown case-decisions need (75 with the quick config, hours; docs/gate-validation.md).
validate-gate: venv
	$(PY) -m bench.experiments.validate_gate $(if $(REPS),--reps $(REPS)) --rounds $(ROUNDS) --config $(CI_CONFIG)
