# Campaign analytics: `make help` lists the targets. The local stack's
# settings (ports, LOCAL_DIR, TANSU_STORAGE, ...) are in deploy/local/env.sh
# and can be overridden from the environment.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# CI builds a fresh clone: keep its build outputs in the cache.
CACHE_DIR ?= $(HOME)/.cache/campaign-analytics
ifneq ($(strip $(CI)),)
CARGO_TARGET_DIR ?= $(CACHE_DIR)/target
export CARGO_TARGET_DIR
# A fresh clone each run: incremental state would only double the cache.
CARGO_INCREMENTAL ?= 0
export CARGO_INCREMENTAL
endif

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## Install what the project needs (Debian packages, tansu, Python test tools); seconds when done
	deploy/local/install.sh all

up: ## Start the local stack (tansu broker, ClickHouse) and create the topics; a no-op when it runs
	deploy/local/stack.sh up

down: ## Stop the query API, the processor and the local stack
	deploy/local/query-api.sh stop
	deploy/local/processor.sh stop
	deploy/local/stack.sh down

status: ## Show what runs, and the topics with their offsets
	-deploy/local/stack.sh status
	-deploy/local/processor.sh status
	-deploy/local/query-api.sh status

run: ## Stack + processor + query API + demo traffic, then print where to look
	deploy/local/demo.sh

test: ## Install, start what the tests need, run every test, stop what it started
	deploy/local/run-tests.sh

dist: ## Operators' tarball dist/campaign-analytics-VERSION-ARCH-linux.tar.gz (release build; PROFILE=debug BUILD=0 packs the debug binaries as built)
	deploy/dist/build.sh

bench: ## Every benchmark (apply, memory, end to end incl. freshness and wrk; about an hour) into benches/RESULTS.md; BENCH_ARGS for pipeline-bench
	benches/run.sh $(BENCH_ARGS)

lint: ## rustfmt and clippy, warnings are errors (and shellcheck, hadolint when installed)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	@if command -v shellcheck >/dev/null; then \
		echo "shellcheck deploy/local/*.sh deploy/dist/*.sh deploy/docker/*.sh .ci/run"; \
		shellcheck -x deploy/local/*.sh deploy/dist/*.sh deploy/docker/*.sh .ci/run; \
	else echo "shellcheck not installed: shell scripts not checked"; fi
	@h=$$(command -v hadolint || . deploy/local/env.sh && echo "$$VENV_DIR/bin/hadolint"); \
	if [ -x "$$h" ]; then echo "hadolint Dockerfile"; "$$h" Dockerfile; \
	else echo "hadolint not installed (make setup installs it): Dockerfile not checked"; fi

fmt: ## Format the code
	cargo fmt --all

.PHONY: help setup up down status run test dist bench lint fmt
