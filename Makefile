# The two commands: `make demo` and `make test`. Both install what they need (uv, then the
# locked environment) on a machine that has only Python 3.11, make and git.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
STATE := $(CURDIR)/var
UV := $(shell command -v uv 2>/dev/null || echo $(STATE)/tools/bin/uv)
VENV := $(CURDIR)/.venv

export DAGSTER_HOME := $(STATE)/dagster_home
export DAGSTER_DISABLE_TELEMETRY := 1
export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
# OpenMP threads wait without spinning: the platform runs several processes at once
# (ml_assets/environment.py says what spinning cost).
export OMP_WAIT_POLICY := PASSIVE
export UV_PYTHON := $(PYTHON)

.PHONY: help install browser postgres prometheus demo test test-fast test-images serve ui lint format docs clean

help:
	@echo "make demo   - install, then run flight_delays end to end (clears var/ state first)"
	@echo "make test   - install, then run the test suite"
	@echo "make test-images - build the platform and bento images with podman, run them"
	@echo "make serve  - serve the champion's bento on http://127.0.0.1:3100"
	@echo "make ui     - Dagster UI on http://127.0.0.1:3000"
	@echo "make lint   - ruff and mypy"
	@echo "make docs   - regenerate docs/config-reference.md from the config models"
	@echo "make clean  - delete the platform's local state under var/"
	@echo "make bench-quality - platform champion vs FLAML, fixed XGBoost, logistic (2013)"

$(STATE)/tools/bin/uv:
	$(PYTHON) -m venv $(STATE)/tools
	$(STATE)/tools/bin/pip install --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

$(DAGSTER_HOME)/dagster.yaml: configs/dagster/local.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp $< $@

install: $(VENV)/.synced $(DAGSTER_HOME)/dagster.yaml

# The browser test (tests/test_ui_browser.py) drives Debian's Chromium through Playwright;
# `playwright install` is never used (it downloads its own browser build).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		chromium fonts-liberation

browser: $(CHROMIUM)

# The production-profile tests start a real PostgreSQL server (Debian's package).
POSTGRES := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))

postgres:
ifeq ($(POSTGRES),)
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
endif

# The image tier: the platform image (Dockerfile) and a champion's bento image
# (bentos/Dockerfile) built and run with podman (Debian's packages). No registry image can
# be pulled here, so the base is Debian bookworm made from Debian's archive with mmdebstrap
# (cached in var/images) and imported; elsewhere BASE_IMAGE=python:3.11-slim works as is.
# EXTRA_CA (the host's bundle when it has one) is trusted by the builds' downloads, for a
# TLS-intercepting proxy. podman's defaults fail on these machines: deploy/images/containers.conf.
IMAGES := $(STATE)/images
BASE_IMAGE ?= localhost/mlap-base:bookworm
PLATFORM_IMAGE ?= localhost/mlap-platform:test
EXTRA_CA ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
, := ,
PODMAN_ENV := CONTAINERS_CONF=$(CURDIR)/deploy/images/containers.conf
BUILD_FLAGS := --network host --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	$(if $(EXTRA_CA),--secret id=extra_ca$(,)src=$(EXTRA_CA))

.PHONY: podman base-image platform-image

podman:
	@command -v podman >/dev/null && command -v mmdebstrap >/dev/null || { \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends podman buildah runc mmdebstrap; }

$(IMAGES)/base.tar: | podman
	@mkdir -p $(IMAGES)
	$(SUDO) mmdebstrap --variant=minbase --format=tar --include=python3,python3-venv,ca-certificates \
		bookworm $@.tmp
	mv $@.tmp $@

# Imported once per machine (podman's store outlives the clone); only a missing image
# needs the tarball.
base-image: podman
	@$(PODMAN_ENV) podman image exists $(BASE_IMAGE) || { \
		$(MAKE) --no-print-directory $(IMAGES)/base.tar && \
		$(PODMAN_ENV) podman import $(IMAGES)/base.tar $(BASE_IMAGE); }

platform-image: base-image
	@start=$$(date +%s); \
	$(PODMAN_ENV) podman build $(BUILD_FLAGS) -t $(PLATFORM_IMAGE) . && \
	echo "platform image $(PLATFORM_IMAGE): built in $$(( $$(date +%s) - start )) s," \
		"$$($(PODMAN_ENV) podman image inspect --format '{{.Size}}' $(PLATFORM_IMAGE)) bytes"

test-images: install postgres platform-image
	MLAP_BASE_IMAGE=$(BASE_IMAGE) MLAP_PLATFORM_IMAGE=$(PLATFORM_IMAGE) MLAP_EXTRA_CA=$(EXTRA_CA) \
		$(VENV)/bin/python -m pytest --images tests/images

# The demo starts from an empty state so that it tells the same story every time: over the
# previous demo's state every replayed day would already have its run.
demo: clean install
	$(VENV)/bin/mlap demo

# A real Prometheus scrapes the served champion in tests/test_prometheus_served.py.
PROMETHEUS := /usr/bin/prometheus

$(PROMETHEUS):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus

prometheus: $(PROMETHEUS)

# One worker per core (pytest-xdist); each test file runs whole on one worker
# (tests/conftest.py: pytest_xdist_make_scheduler).
test: install browser postgres prometheus
	$(VENV)/bin/python -m pytest -n auto

test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow"

serve: install
	$(VENV)/bin/mlap serve flight_delays

ui: install
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

docs: install
	$(VENV)/bin/mlap config-reference > docs/config-reference.md

# Everything the platform wrote under var/ (not the uv bootstrap nor the screenshots).
clean:
	rm -rf $(addprefix $(STATE)/,dagster_home lake landing mlflow locks audit alerts bentoml)

.PHONY: bench-serving
# BentoML vs bare FastAPI vs `mlflow models serve` vs in-process, on this machine; writes
# benchmarks/serving/RESULTS.md. Waits (up to 10 min) for a quiet machine first.
bench-serving: install
	$(VENV)/bin/python -m benchmarks.serving.run --max-load 1.0

.PHONY: bench-quality
# The champion vs logistic, a fixed XGBoost and FLAML on 2013 splits of flight_delays;
# writes benchmarks/quality/RESULTS.md. FLAML comes from the `bench` group (not in `install`).
bench-quality: install
	$(UV) run --frozen --group bench python -m benchmarks.quality
