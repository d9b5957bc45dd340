# One command to run, one to test. Everything installs into ./.venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run once demo test lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)            ## start the daemon on rasd.yaml (polls the shipped real feeds)
	$(BIN)/rasd run

once: $(STAMP)           ## one poll cycle, then exit
	$(BIN)/rasd once

demo: $(STAMP)           ## offline demo on bundled real news
	$(BIN)/rasd demo

test: $(STAMP)           ## the whole suite, lint included
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(STAMP)           ## the benchmarks of bench/README.md (several minutes)
	$(BIN)/python bench/bench_match.py
	$(BIN)/python bench/bench_parse.py
	$(BIN)/python bench/bench_dedup.py
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_poll.py
	$(BIN)/python bench/bench_resent.py
	if command -v valgrind >/dev/null; then $(BIN)/python bench/bench_instructions.py; \
	else echo "bench_instructions.py skipped: valgrind is not installed"; fi

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
