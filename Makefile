# The two commands: `make dev` (run everything locally) and `make test` (what CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_LOCAL := $(VENV)/.installed-local
STAMP_DEV := $(VENV)/.installed-dev
# checkov pins packaging, aiohttp, boto3 … exactly: it gets a virtualenv of its own, so it
# never decides the application's dependencies (tests/deploy/tools.py finds it there).
CHECKOV_VENV := $(VENV)/checkov
STAMP_CHECKOV := $(CHECKOV_VENV)/.installed

.PHONY: dev test lint typecheck pytest clean chart-test chart-readme image bench fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_LOCAL): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	touch $@ $(STAMP_LOCAL)

$(STAMP_CHECKOV): | $(BIN)/python
	$(BIN)/python -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov>=3.2,<4'
	touch $@

dev: $(STAMP_LOCAL)
	$(BIN)/umbrella dev

test: lint typecheck pytest

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP_DEV)
	$(BIN)/mypy umbrella tests migrations

# One worker per core (each starts its own servers); a test file stays on one worker, so
# the fixtures a module builds once are built once. schemathesis' generated tests do not run
# under pytest-xdist (they are silently left out), so the API fuzz runs on its own after.
pytest: $(STAMP_DEV) $(STAMP_CHECKOV)
	$(BIN)/pytest -q -n auto --dist loadfile --ignore=tests/security/test_fuzz.py
	$(BIN)/pytest -q tests/security/test_fuzz.py

# Every target of the load benchmark at the issue's size, on stacks of its own (see
# `umbrella bench -h`): first gig browse alone on 10,000 gigs, the baseline of the browse
# ratio (its own verdicts do not stop the run, a missing baseline does), then the whole set
# on 1,000,000 gigs judged against it. Results: bench-results/*.json (not committed).
BENCH_RESULTS := bench-results
bench: $(STAMP_LOCAL)
	mkdir -p $(BENCH_RESULTS)
	rm -f $(BENCH_RESULTS)/browse-baseline.json
	$(BIN)/umbrella bench --size small --scenario gig_browse --no-floor --no-analytics \
		--no-broadcast --json $(BENCH_RESULTS)/browse-baseline.json \
		|| test -s $(BENCH_RESULTS)/browse-baseline.json
	$(BIN)/umbrella bench --size large --browse-baseline $(BENCH_RESULTS)/browse-baseline.json \
		--json $(BENCH_RESULTS)/large.json

# The API fuzz of tests/security/test_fuzz.py at length: 150 examples per operation and
# generation mode instead of `make test`'s 5 (about 6 minutes on two cores).
FUZZ_EXAMPLES ?= 150
fuzz: $(STAMP_DEV)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider --timeout=0 \
		tests/security/test_fuzz.py

# The Helm chart, k8s/, the Tiltfile and the Dockerfile, offline (part of `make test`).
chart-test: $(STAMP_DEV) $(STAMP_CHECKOV)
	$(BIN)/pytest -q tests/deploy

# Regenerate the parameter table of charts/umbrella/README.md from values.yaml.
chart-readme: $(STAMP_DEV)
	$(BIN)/python -m tests.deploy.chart_docs

# The production image (needs a docker engine): make image VERSION=1.2.3
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image:
	docker build --build-arg VERSION=$(VERSION) \
		--build-arg REVISION=$$(git rev-parse HEAD) \
		--build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
		-t umbrella:$(VERSION) .

clean:
	rm -rf .umbrella .pytest_cache .mypy_cache .ruff_cache
