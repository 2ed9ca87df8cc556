# Two entry points: `make demo` (the main job) and `make test` (the full suite). Both set up .venv first.
VENV := .venv
PY := $(VENV)/bin/python
DEMO := build/demo
PYTEST_WORKERS ?= 2

.PHONY: setup demo test lint clean

# compileall: with PYTHONDONTWRITEBYTECODE set (as on our CI machines) Python never caches bytecode,
# so every pipeline stage would recompile each module it imports, about half of its time.
$(VENV)/.installed: requirements-test.txt Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip uv
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements-test.txt
	$(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null
	touch $@

setup: $(VENV)/.installed

# Generate a level-2 classification project with every default, then run its whole pipeline.
demo: setup
	rm -rf $(DEMO)
	$(VENV)/bin/cookiecutter --no-input -o $(DEMO) . mlops_level=2
	cd $(DEMO)/demo-model && git init -q -b main && git add -A \
		&& git -c user.name=demo -c user.email=demo@example.com commit -qm "Generated project"
	cd $(DEMO)/demo-model && PATH=$(CURDIR)/$(VENV)/bin:$$PATH PYTHONPATH=src dvc repro
	@echo "Demo project: $(DEMO)/demo-model (metrics/metrics.json, reports/gate.json, reports/drift.html)"

# The venv's bin/ goes first on PATH: tests call its tools (dvc, act, shellcheck, hadolint) by name.
test: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m pytest -n $(PYTEST_WORKERS) --maxschedchunk 1 --durations=15 tests

bench: setup  # benchmarks/README.md: full run (root, Docker; waits for a quiet machine) -> benchmarks/RESULTS.md
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m benchmarks.run --out benchmarks/RESULTS.md --json build/bench/results.json

lint: setup
	$(VENV)/bin/ruff check hooks scripts tests benchmarks

clean:
	rm -rf $(VENV) build
