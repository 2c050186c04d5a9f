# The two commands of the README: `make demo` and `make test`. Each creates .venv and installs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow install clean bench constraints

# Editable install of clauseline with the PostgreSQL driver and the test tools, at the exact
# versions of constraints.txt (pyproject.toml only declares ranges).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,postgres]'
	touch $(STAMP)

install: $(STAMP)

DEMO_DB := out/demo.db

demo: $(STAMP)
	$(BIN)/clauseline rules check
	@mkdir -p out
	@rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm $(DEMO_DB).key
	$(BIN)/clauseline replay examples/demo-log.jsonl --db sqlite:///$(DEMO_DB) --out out/demo-decisions.jsonl
	@$(BIN)/clauseline replay examples/demo-log.jsonl --format text --explain --out out/demo-decisions.txt 2>/dev/null
	@echo
	@echo "== The rejected lines (deliberately bad), each with its errors =="
	@$(BIN)/python examples/show_rejected.py out/demo-decisions.jsonl
	@echo
	@echo "== Clauses A to W, and how often each rule fired on the demo log =="
	@$(BIN)/clauseline clauses --log examples/demo-log.jsonl
	@echo
	@echo "== Obligations still open in the store (clauseline due) =="
	@$(BIN)/clauseline due --db sqlite:///$(DEMO_DB) --at 2099-01-01T00:00:00Z | grep . || echo "(none: every CCPA request of the log was answered or declined)"
	@echo
	@echo "== Decisions with notices, obligations or violations (first 40 lines) =="
	@$(BIN)/clauseline replay examples/demo-log.jsonl --format text 2>/dev/null \
	  | awk '/^[0-9]/ {head=$$0; shown=0; next} /^    (notice|obligation|violation)/ {if (!shown) print head; shown=1; print}' | head -40
	@echo
	@echo "== One decision, explained: clauseline evaluate --explain examples/disclosure-request.json =="
	@$(BIN)/clauseline evaluate --explain examples/disclosure-request.json
	@echo
	@echo "All decisions: out/demo-decisions.jsonl (JSON Lines), out/demo-decisions.txt (explained)."

# In parallel, one worker per core (pytest-xdist); a test file stays on one worker (loadfile:
# the hostile corpus and the scale tests share fixtures per module).
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n auto --dist loadfile

# The long runs (tests marked slow: huge hostile inputs, long property and differential runs).
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow || [ $$? -eq 5 ]  # 5: none is marked slow

# Issue 23's targets, each beside its reference in one run (bench/README.md); many minutes (1M
# events in memory). A smoke run: $(BIN)/python bench/run.py --quick. The HTTP rows need wrk (a C
# load generator), installed here when missing and apt-get can; else they say it is missing.
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk >/dev/null 2>&1 \
	  || echo "make bench: wrk is not installed and apt-get could not install it: the HTTP rows are skipped"
	$(BIN)/python bench/run.py

# Re-resolve the newest versions inside pyproject.toml's ranges and pin them in constraints.txt.
constraints:
	rm -rf out/lock-venv
	$(PYTHON) -m venv out/lock-venv
	out/lock-venv/bin/pip install --quiet --upgrade pip
	out/lock-venv/bin/pip install --quiet '.[test,postgres]'
	{ sed -n '1,/^$$/p' constraints.txt | grep '^#'; \
	  out/lock-venv/bin/pip freeze --exclude-editable | grep -iv '^clauseline' \
	  | sed 's/^durable_rules==/durable-rules==/'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf out/lock-venv build

clean:
	rm -rf $(VENV) out .pytest_cache
