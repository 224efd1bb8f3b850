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
#   make grpcurl                 the grpcurl the gRPC tests call (cached outside the clone)

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

# --- gRPC (issue 11) ---------------------------------------------------------------------
# grpcurl, which the gRPC tests run against the service's reflection, is built with
# `go install` into a cache outside the clone (Go from PATH or /usr/local/go). The tests find
# it through ORDERFLOW_TEST_GRPCURL and fail, naming this target, without it.
TOOLS_CACHE ?= /var/cache/orderflow
GRPCURL_VERSION := v1.9.4
GRPCURL := $(TOOLS_CACHE)/tools/grpcurl-$(GRPCURL_VERSION)/grpcurl
export ORDERFLOW_TEST_GRPCURL := $(GRPCURL)

.PHONY: grpcurl
grpcurl: $(GRPCURL)

$(GRPCURL):
	export PATH="$$PATH:/usr/local/go/bin" GOBIN=$(dir $(GRPCURL)) \
	  GOMODCACHE=$(TOOLS_CACHE)/go/mod GOCACHE=$(TOOLS_CACHE)/go/cache GOFLAGS=-modcacherw
	command -v go >/dev/null || { echo "make grpcurl: Go is needed (PATH or /usr/local/go)" >&2; exit 1; }
	go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
# -------------------------------------------------------------------------------------------

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

test: infra grpcurl
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
