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
# torch first and pinned in every command: the 2.13.0 CPU wheel lies on disk, an unpinned torch pulls
# gigabytes of CUDA. timm comes without its dependencies: only its ImageNet label files are read.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install torch==2.13.0 -e '.[test]'
	$(BIN)/pip install --no-deps timm==1.0.31
	touch $@

# The command lands in .venv/bin, not on PATH: say so, and how to reach it, every time.
install: $(VENV)/.installed
	@echo "reverie is installed as $(BIN)/reverie; to type just 'reverie' in a shell, run there:  . $(BIN)/activate"

run: install
	$(BIN)/reverie keys ensure --data $(DATA)
	$(BIN)/reverie serve --host $(HOST) --port $(PORT) --data $(DATA)

# The suite twice: on the embedded stack (SQLite + files) and on the distributed one (PostgreSQL + pgvector
# and SeaweedFS S3 started from their wheels, every server's indexing in a separate worker process). Both
# always run to the end, so one failure never hides the other stack's result.
# The two stacks run side by side, each into its own log (printed when both are done): each pass leaves
# a core idle much of the time (servers starting, waits for indexing), and CI must hold both in 30 minutes.
# The models are exported (and Whisper base joined) first, once, so the two passes never write them at once.
TEST_LOGS := build/test-logs
test: install
	@mkdir -p $(TEST_LOGS)
	@$(BIN)/python -c 'from pathlib import Path; from reverie.models.export import ensure_exported; \
		from reverie.models.speech import joined_base; ensure_exported(Path(".model-cache")); joined_base(Path(".model-cache"))'
	@echo "make test: the embedded and the distributed stack side by side; logs in $(TEST_LOGS)/"
	@embedded=0; distributed=0; \
	$(BIN)/python -m pytest > $(TEST_LOGS)/embedded.log 2>&1 & e=$$!; \
	REVERIE_TEST_STACK=distributed $(BIN)/python -m pytest > $(TEST_LOGS)/distributed.log 2>&1 & d=$$!; \
	wait $$e || embedded=$$?; wait $$d || distributed=$$?; \
	echo "===== embedded stack (SQLite + files) ====="; cat $(TEST_LOGS)/embedded.log; \
	echo "===== distributed stack (PostgreSQL + pgvector + S3, separate workers) ====="; cat $(TEST_LOGS)/distributed.log; \
	echo "make test: embedded stack exit $$embedded, distributed stack exit $$distributed"; \
	test $$embedded -eq 0 -a $$distributed -eq 0

bench: install
	$(BIN)/python bench/upload.py

clean:
	rm -rf $(VENV) build src/*.egg-info
