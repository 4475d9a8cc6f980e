# Two commands on a fresh machine: `make run` (the default sweep on real data, quick
# scale, ending in rendered summaries) and `make test`. Both create .venv when missing.
VENV    ?= .venv
PY      := $(VENV)/bin/python
SCALE   ?= quick
WORKERS ?= 2
CONFIG  ?= configs/default.yaml
PYTEST_ARGS ?=

.PHONY: venv browser-deps run test lint format notebooks check-notebooks bench clean-runs

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

run: venv
	$(PY) -m xfactor_lib sweep $(CONFIG) --scale $(SCALE) --workers $(WORKERS)

test: venv browser-deps lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

# ruff: lint rules and formatting, configured in pyproject.toml.
lint: venv
	$(VENV)/bin/ruff check xfactor_lib tests bench notebooks
	$(VENV)/bin/ruff format --check xfactor_lib tests bench notebooks
	$(VENV)/bin/lint-imports

format: venv
	$(VENV)/bin/ruff check --fix xfactor_lib tests bench notebooks
	$(VENV)/bin/ruff format xfactor_lib tests bench notebooks

# Notebooks: the jupytext percent files (notebooks/**/*.py) are the source; this writes
# the paired .ipynb files (no outputs) that papermill and JupyterLab open.
notebooks: venv
	$(VENV)/bin/jupytext --to ipynb --update --update-metadata '{"jupytext": null}' notebooks/*.py notebooks/templates/*.py

# The twins are in sync with their sources (the same check runs inside `make test`).
check-notebooks: venv
	$(PY) -m pytest -q tests/test_notebooks.py

# System packages of the browser test (chromium via apt as root, playwright-core via npm):
# idempotent, quick when installed; where it cannot install, tests/test_browser.py skips.
browser-deps:
	@sh tests/browser/install-deps.sh

bench: venv
	for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f; done

clean-runs:
	rm -rf runs/smoke runs/default
