# Set-up and the two README commands. The pipeline order lives in dvc.yaml only.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# Keep DVC from phoning home; this machine may have no network beyond package registries.
export DVC_NO_ANALYTICS := 1

.PHONY: report test setup setup-test system-deps-test lint kernel clean-venv

## make report: set up everything, then regenerate data, models and reports with dvc repro
report: setup kernel
	dvc repro
	@echo
	@echo "Reports: $(CURDIR)/reports/index.html"

## make test: set up what the tests need, then run the whole test suite
test: setup-test kernel
	@set +e; pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests - that is a failure here"; exit 1; fi; \
	exit $$rc

lint: setup-test
	ruff check src tests benchmarks notebooks scripts
	ruff format --check src tests benchmarks notebooks scripts

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip uv

# uv installs the pinned versions from requirements.lock (repeatable installs).
$(VENV)/.installed: pyproject.toml requirements.lock | $(VENV)/bin/python
	$(BIN)/uv pip install --python $(VENV)/bin/python -q -c requirements.lock -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/uv pip install --python $(VENV)/bin/python -q -c requirements.lock -e '.[test,spark]'
	touch $@

setup: $(VENV)/.installed

setup-test: $(VENV)/.installed-test system-deps-test

# The Jupyter kernel the report notebooks name in their metadata.
kernel: $(VENV)/share/jupyter/kernels/churnlab/kernel.json

$(VENV)/share/jupyter/kernels/churnlab/kernel.json: | $(VENV)/.installed
	$(VENV)/bin/python -m ipykernel install --sys-prefix --name churnlab --display-name "Python (churnlab)"

# Spark tests need a Java runtime; browser tests need Debian's chromium.
system-deps-test:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing default-jre-headless"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

clean-venv:
	rm -rf $(VENV)
