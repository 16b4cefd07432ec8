# Task runner. The README's two commands are `make demo` and `make test`; both set up first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(CURDIR)

# Keep every tool's state inside the checkout (nothing under ~/.ape, ~/.solcx, ~/.cache).
export APE_DATA_FOLDER := $(ROOT)/.ape-data
export SOLCX_BINARY_PATH := $(ROOT)/.solcx
export PIP_CACHE_DIR := $(ROOT)/.cache/pip
export npm_config_cache := $(ROOT)/.cache/npm
export HYPOTHESIS_STORAGE_DIRECTORY := $(ROOT)/.hypothesis
export PATH := $(ROOT)/.venv/bin:$(ROOT)/node_modules/@foundry-rs/anvil-linux-amd64/bin:$(ROOT)/node_modules/.bin:$(PATH)
export PYTHONUNBUFFERED := 1

APE_TEST_ARGS ?=
# TEST_WORKERS: pytest-xdist workers, each with its own anvil (ape-foundry's host: auto), a module
# per worker, the devnet/browser modules together on one (tests/conftest.py). Two by default: on
# this 2-core machine the whole suite took 584 s serial and 305 s on two workers (idle machine,
# 2026-12-02; the serial run used ~0.9 of a core on average, waiting on anvil, subprocesses and the
# browser). TEST_WORKERS=0 runs serially (one anvil, in file order).
TEST_WORKERS ?= 2
XDIST_ARGS := $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadgroup)

TESTS ?= tests

.PHONY: quick help setup setup-browser demo demo-once test lint lint-py lint-sol compile gas gas-compare slither bench gpu-check fuzz frontend lock clean

help:
	@echo "make demo      run the local devnet demo (chain, contracts, oracle, page); Ctrl-C stops it"
	@echo "make test      lint + every test (contracts, oracle, browser) on real anvil chains (two xdist workers; TEST_WORKERS=0 serial)"
	@echo "make quick TESTS=tests/test_x.py   one test file, no set-up or lint (seconds, after the first make test)"
	@echo "make gas       print the gas table per operation"
	@echo "make gas-compare  our gas vs reference implementations + floors (writes contracts/GAS_COMPARE.md)"
	@echo "make slither  static analysis (slither) of the contracts against contracts/SLITHER_TRIAGE.md"
	@echo "make bench     oracle benchmarks (challenge check cost, CPU GEMM, 100-provider epoch on anvil)"
	@echo "make gpu-check on a GPU machine: inventory, benchmarks vs torch.matmul, challenge, inference (--dry in CI)"
	@echo "make fuzz      long stateful fuzzing run (HYPOTHESIS_PROFILE=long; FUZZ_EXAMPLES=N to size it)"
	@echo "make compile   compile the contracts (offline, solc-js stand-in)"
	@echo "make lint      ruff + import layers (no cycles; oracle never imports scripts/tests) + Solidity warnings-as-errors"

setup:
	@toolchain/setup.sh

setup-browser:
	@toolchain/setup.sh --browser

compile: setup
	ape compile

demo: setup
	python -m scripts.devnet --block-time 2 $(DEMO_ARGS)

demo-once: setup
	python -m scripts.devnet --once

test: setup-browser
	@$(MAKE) --no-print-directory lint
	ape test tests $(XDIST_ARGS) $(APE_TEST_ARGS)

# The developer's quick loop: one file (or a -k selection), no set-up check, no lint.
#   make quick TESTS=tests/test_token.py      (or, from an activated .venv: ape test tests/test_token.py)
quick:
	ape test $(TESTS) $(APE_TEST_ARGS)

lint: lint-py lint-sol

lint-py:
	ruff check .
	ruff format --check .
	python toolchain/import_layers.py

lint-sol:
	node toolchain/lint-sol.cjs

gas: setup
	ape run gas_report

gas-compare: setup
	ape run gas_compare

slither: setup
	python toolchain/slither.py

bench: setup
	python -m oracle.benchmarks.run
	python -m scripts.bench_epoch

# The GPU path measured in one run (scripts/gpu_check.sh; GPU_CHECK_ARGS=--dry for the CPU stand-in).
gpu-check:
	scripts/gpu_check.sh $(GPU_CHECK_ARGS)

# Long fuzzing run: thousands of random operation sequences over the governed protocol, invariants
# checked after every step; counts in test-artifacts/fuzz-stats.json (tests/FUZZING.md).
fuzz: setup
	HYPOTHESIS_PROFILE=long ape test tests/test_fuzz_protocol.py -s -q

frontend: setup
	npx vite build frontend

lock:
	.venv/bin/pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt
	npm install --package-lock-only --no-audit --no-fund

clean:
	rm -rf .build contracts/.cache frontend/dist .devnet test-artifacts
