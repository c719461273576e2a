# Quick start: `make run` serves the dashboard (on the configured shop, else the sample shop);
# `make test` runs the linters, the type checker and every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := sample_data/shop.db
PORT ?= 8501

.PHONY: run test lint install install-dev sample bench clean

$(BIN)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . || $(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed
install-dev: $(BIN)/.installed-dev

$(SAMPLE): | $(BIN)/.installed
	$(BIN)/python cli.py sample --users 50000 --events 2000000 --seed 7 --out $(SAMPLE)

sample: $(SAMPLE)

# The dashboard (its shop loaded before the first visitor), the read-only API ([api] port) and
# the report scheduler, stopped together.
run: install $(SAMPLE)
	$(BIN)/python cli.py schedule & scheduler=$$!; \
	$(BIN)/python cli.py api & api=$$!; \
	trap 'kill $$scheduler $$api 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python cli.py serve --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

# Test modules spread over the machine's cores (pytest-xdist), each module on one worker so
# its fixtures are made once and its tests share a database's tables in turn.
TEST_WORKERS ?= auto
# The suite starts the CLI, servers and report builders as processes: with bytecode written
# once (an environment may forbid it, PYTHONDONTWRITEBYTECODE) each start skips compiling
# the package again, 0.4 s of its 1.5 s import.
test: lint
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# `make bench SIZES=1,2` for a quick run of the suite (millions of events; default 1,2,5,10,20)
bench: install-dev
	$(BIN)/python bench/suite.py $(if $(SIZES),--sizes $(SIZES))

clean:
	rm -rf $(VENV) $(SAMPLE)
