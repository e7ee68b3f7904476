# Two entry points: `make demo` and `make test`. Each creates ./.venv and
# installs the pinned dependencies it needs (only once; re-run when the
# requirement files change).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_FLAGS ?= --disable-pip-version-check -q

.PHONY: demo test install install-test bench clean

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

bench: install-test
	$(BIN)/python benchmarks/recover_speed.py

clean:
	rm -rf $(VENV) visualmic-demo
