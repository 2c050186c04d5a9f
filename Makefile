# The two commands of the README: `make demo` and `make test`. Each creates .venv and installs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/clauseline rules check
	@mkdir -p out
	$(BIN)/clauseline replay examples/demo-log.jsonl --out out/demo-decisions.jsonl --summary
	@echo
	@echo "First decisions, readable (all of them: out/demo-decisions.jsonl):"
	@$(BIN)/clauseline replay examples/demo-log.jsonl --format text 2>/dev/null | head -60

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/replay_bench.py

clean:
	rm -rf $(VENV) out .pytest_cache
