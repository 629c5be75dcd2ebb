# Two commands on a fresh machine with only Python: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
DATA ?= ./data

.PHONY: install run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# The stamp makes `make run` cheap after the first install, and redoes it when the deps change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/reverie keys ensure --data $(DATA)
	$(BIN)/reverie serve --host $(HOST) --port $(PORT) --data $(DATA)

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/upload.py

clean:
	rm -rf $(VENV) build src/*.egg-info
