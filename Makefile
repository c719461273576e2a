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

# `make bench SIZES=1,2` for a quick run of the suite (millions of events; default 1,2,5,10,20)
bench: install
	$(BIN)/python bench/suite.py $(if $(SIZES),--sizes $(SIZES))

clean:
	rm -rf $(VENV) $(SAMPLE)
