# Countersign. `make run` and `make test` work on a fresh machine: each creates the virtualenv.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install run test lint typecheck unit bench migrate clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## Run Countersign: against real Slack when SLACK_BOT_TOKEN is set, else the local sandbox.
run: install
	@if [ -n "$$SLACK_BOT_TOKEN" ]; then \
		$(BIN)/countersign db upgrade && exec $(BIN)/countersign serve; \
	else \
		exec $(BIN)/countersign sandbox up; \
	fi

## Lint, type-check and run the whole suite (PostgreSQL tests included when it can be started).
test: install lint
	@url="$${COUNTERSIGN_TEST_PG_URL:-$$(scripts/test-postgres 2>/dev/null || true)}"; \
	if [ -z "$$url" ]; then echo "note: no PostgreSQL here; its tests will be skipped"; fi; \
	COUNTERSIGN_TEST_PG_URL="$$url" $(BIN)/pytest

lint: install
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

migrate: install
	$(BIN)/countersign db upgrade

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache countersign*.db*
