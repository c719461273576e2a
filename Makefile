# Quick start: `make run` serves the dashboard on the sample shop; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := sample_data/shop.db
PORT ?= 8501

.PHONY: run test install sample bench clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/.installed

$(SAMPLE): | $(BIN)/.installed
	$(BIN)/python cli.py sample --users 50000 --events 2000000 --seed 7 --out $(SAMPLE)

sample: $(SAMPLE)

run: install $(SAMPLE)
	$(BIN)/streamlit run app.py --server.port $(PORT)

test: install
	$(BIN)/python -m pytest

bench: install $(SAMPLE)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(SAMPLE)
