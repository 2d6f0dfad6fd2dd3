# Campaign analytics: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## Install what the project needs (Debian packages, tansu, Python test tools); fast when done
	deploy/local/install.sh all

up: ## Start the local stack (tansu broker, ClickHouse) and create the topics
	deploy/local/stack.sh up

down: ## Stop the processor and the local stack
	deploy/local/processor.sh stop
	deploy/local/stack.sh down

status: ## Show what runs
	-deploy/local/stack.sh status
	-deploy/local/processor.sh status

run: ## Stack + processor + demo traffic, then print where to look
	deploy/local/demo.sh

test: ## Install, start what the tests need, run every test, stop what it started
	deploy/local/run-tests.sh

bench: ## Run the benchmarks (see benches/RESULTS.md)
	cargo bench --locked -p benches

lint: ## rustfmt and clippy, warnings are errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format the code
	cargo fmt --all

.PHONY: help setup up down status run test bench lint fmt
