# labelspace: `make demo`, `make test` and `make test-all` each do all set-up first (idempotent).
# `make test` runs the fast suite (tests not marked slow); `make test-all` (and CI) runs them all.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.labelspace-installed

.PHONY: setup system venv demo test test-all lint bench pretrained clean

setup: system venv

system:
	@bash scripts/setup-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "labelspace needs Python >= 3.11"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]' -c constraints.txt
	@touch $(STAMP)

demo: setup
	$(BIN)/labelspace demo

test: setup
	$(BIN)/python -m pytest -m "not slow"

test-all: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/poincare.py

pretrained: setup
	$(BIN)/python scripts/build_pretrained.py

clean:
	rm -rf $(VENV) build *.egg-info
