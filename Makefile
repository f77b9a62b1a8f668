# Two commands a learner needs (see README.md):
#   make course   set everything up from a fresh clone and run phases 01-05 in order
#   make test     set everything up and run the tests
# Both create .venv, install requirements.txt into it and provision + verify MNIST.
# The first run prints its plan (sizes, times) before anything is downloaded; see
# tools/bootstrap.py. VERBOSE=1 shows pip's whole output; NEED_GB=N overrides the disk check.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PHASES := 01_explore_mnist.py 02_simple_nn.py 03_train_model.py 04_improved_model.py \
          05_understand_model.py

.PHONY: course test setup data bench clean

# Runs every time; installs only when .venv/.installed is missing or older than
# requirements.txt, and otherwise says so in one line.
setup:
	@$(PYTHON) -m tools.bootstrap --venv $(VENV) --goal "$(or $(firstword $(MAKECMDGOALS)),course)" \
	  --phases $(PHASES) $(if $(NEED_GB),--need-gb $(NEED_GB)) $(if $(VERBOSE),--verbose)

data: setup
	$(PY) -m common.data

course: data
	@for script in $(PHASES); do echo "$(PY) $$script"; $(PY) $$script || exit 1; done
	$(PY) -m common.progress

# The tests run offline on data they make themselves; the real-MNIST gates run when the
# data could be provisioned (a failed download only skips them, except under CI=true).
test: setup
	-$(PY) -m common.data
	$(PY) -m pytest

bench: data
	$(PY) -m benchmarks.bench_training
	$(PY) -m benchmarks.bench_own_digits

clean:
	rm -rf $(VENV) .pytest_cache
