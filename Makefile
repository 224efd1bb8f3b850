# Developer and CI entry points.
#
# The local stack (PostgreSQL, Kafka, Apicurio Registry and the three
# services) is run by deploy/local/stack.sh; its header lists the environment
# variables (ORDERFLOW_STACK, ORDERFLOW_PORT_OFFSET, *_PORT, ...), which pass
# straight through make.
#
#   make up | down | status      whole stack (C="kafka registry" narrows it)
#   make logs [C=kafka]          tail the logs
#   make infra                   postgres, kafka, registry only
#   make test [TEST_ARGS=...]    infra, then fmt check, clippy, cargo test
#   make bench | fmt | clippy

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
# Each recipe runs in one shell (the test env stays loaded; -e stops at the
# first failing step).
.ONESHELL:
.DEFAULT_GOAL := help

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
STACK := $(ROOT)/deploy/local/stack.sh
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo
# Components for up/down/logs, e.g. make logs C=kafka
C ?=
# Extra arguments for cargo test, e.g. TEST_ARGS="-- --nocapture"
TEST_ARGS ?=

# Loads ORDERFLOW_TEST_KAFKA, ORDERFLOW_TEST_REGISTRY,
# ORDERFLOW_TEST_DATABASE_URL and ORDERFLOW_STACK_SCRIPT (one source: stack.sh env).
TEST_ENV = eval "$$($(STACK) env)"

.PHONY: help up down status logs infra env test bench fmt clippy

help:
	@sed -n '1,14s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

up:
	$(STACK) up $(C)

down:
	$(STACK) down $(C)

status:
	@$(STACK) status

logs:
	@$(STACK) logs $(C)

infra:
	$(STACK) up postgres kafka registry

env:
	@$(STACK) env

test: infra
	$(TEST_ENV)
	cd $(ROOT)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	# The end-to-end tests run the service binaries as processes.
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace $(TEST_ARGS)

bench: infra
	$(TEST_ENV)
	cd $(ROOT)
	$(CARGO) bench -p orderflow-tests

fmt:
	cd $(ROOT) && $(CARGO) fmt --all

clippy:
	cd $(ROOT) && $(CARGO) clippy --workspace --all-targets -- -D warnings
