# Two entry points: `make demo` and `make test`. Each creates ./.venv and
# installs the pinned dependencies it needs (only once; re-run when the
# requirement files change).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_FLAGS ?= --disable-pip-version-check -q

.PHONY: demo test install install-test bench bench-all lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime-installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_FLAGS) -r requirements.txt
	$(BIN)/python -m pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

$(VENV)/.test-installed: requirements-test.txt $(VENV)/.runtime-installed
	$(BIN)/python -m pip install $(PIP_FLAGS) -r requirements-test.txt
	touch $@

install: $(VENV)/.runtime-installed

install-test: $(VENV)/.test-installed

demo: install
	$(BIN)/visualmic demo

test: install-test
	$(BIN)/python -m pytest -q

# The benchmarks that exist: quality against the Cramer-Rao bound and speed (quick
# versions, a few minutes); bench-all adds memory, the enhancer and the deep models.
bench: install-test
	$(BIN)/python benchmarks/quality.py --quick
	$(BIN)/python benchmarks/speed.py --quick

bench-all: bench
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/enhance.py
	$(BIN)/python benchmarks/models.py

lint: install-test
	cd src && ../$(BIN)/lint-imports --config ../pyproject.toml

clean:
	rm -rf $(VENV) visualmic-demo
