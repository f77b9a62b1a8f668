# Two commands a learner needs (see README.md):
#   make course   set everything up from a fresh clone and run phases 01-05 in order
#   make test     set everything up and run the tests
# Both create .venv, install requirements.txt into it and provision + verify MNIST.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: course test setup data bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

data: setup
	$(PY) -m common.data

course: data
	$(PY) 01_explore_mnist.py
	$(PY) 02_simple_nn.py
	$(PY) 03_train_model.py
	$(PY) 04_improved_model.py
	$(PY) 05_understand_model.py
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
