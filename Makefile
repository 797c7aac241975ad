# Two entry points for a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv lint check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Set up, initialise a home if needed, and run the gateway (stand-in upstream when no provider key).
run: $(STAMP)
	$(BIN)/zdr init --if-missing
	$(BIN)/zdr serve

## Set up and run every gate: lint, types, policy check, tests.
test: $(STAMP)
	bash scripts/check.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
