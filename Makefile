# The two commands the README promises, plus their parts.
# `make demo`: run the product end to end on the embedded default (no cloud, no Docker).
# `make test`: lint, types, import contracts and the whole test suite.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: bootstrap demo up test test-fast docs generate lint typecheck contracts pytest schemas

# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (CI, containers) every
# process would otherwise compile its imports again (seconds per service started).
bootstrap:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv>=0.5,<1"
	$(UV) sync --frozen --compile-bytecode 2>/dev/null || $(UV) sync --compile-bytecode
	$(UV) run python -m compileall -q -j 0 shared services tools >/dev/null

demo: bootstrap
	$(UV) run warden demo

up: bootstrap
	$(UV) run warden up

lint: bootstrap
	$(UV) run ruff check .

typecheck: bootstrap
	$(UV) run mypy shared/*/src services/*/src tools/*/src

contracts: bootstrap
	$(UV) run lint-imports

pytest: bootstrap
	$(UV) run pytest

test: lint typecheck contracts pytest

# The fast lane: unit, component and contract tests (no whole-stack e2e, no browser, no real-server
# integration runs, no benchmarks), in FAST_WORKERS pytest-xdist processes: every test has its own
# tmp_path, free ports and PostgreSQL schema, and most of the lane waits on servers rather than
# computing (docs/testing.md). `make test` still runs all, in one process.
FAST_WORKERS ?= 2
FAST_LANE := -m "not e2e" --ignore-glob='*/e2e/*' --ignore-glob='*/browser/*' --ignore-glob='*/integration/*' \
	--ignore=tools/bench/tests --ignore=tools/evals/tests/test_evals_end_to_end.py
test-fast: bootstrap
	$(UV) run pytest -q -n $(FAST_WORKERS) $(FAST_LANE)

# Rewrites docker-compose.yml's environments and main.bicep's container environments from the
# process description (warden generate; docs/adr/0008-one-process-description.md).
generate: bootstrap
	$(UV) run warden generate

# Rewrites the README's topology diagram from shared/contracts/.../topology.py (tools/readme_diagram.py),
# and the generated environments with it.
docs: generate
	$(UV) run python tools/readme_diagram.py

schemas: bootstrap
	$(UV) run python -m warden_contracts.schemas --write
