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
#   make test [TEST_ARGS=...]    infra, then fmt check, clippy, cargo test, bench smoke runs,
#                                chart and image checks
#   make bench | fmt | clippy
#   make chaos [CHAOS_SEED=n] [CHAOS_SECS=s]   faults under load on a private stack, then an oracle
#   make chaos-short             the fixed-seed short chaos run CI runs after make test
#   make chart-check             helm lint, schema validation and tests of the chart
#   make scripts-check           shellcheck over every script, and the scripts' own tests
#   make images | images-check   service images (podman); run them against the stack
#   make kind-up | kind-down     orderflow on a kind cluster (needs Docker or podman)
#   make grpcurl                 the grpcurl the gRPC tests call (cached outside the clone)
#   make api-check               schemathesis, every check, against the three running services

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

.PHONY: help up down status logs infra env test bench fmt clippy chart-check images \
	images-check kind-up kind-down api-check chaos chaos-short scripts-check

# --- gRPC: grpcurl -----------------------------------------------------------------------
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
	@sed -n '1,/^$$/s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

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
	$(MAKE) --no-print-directory scripts-check
	$(TEST_ENV)
	cd $(ROOT)
	$(STACK) build-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	# The end-to-end tests run the service binaries as processes.
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace $(TEST_ARGS)
	# One tiny run of each bench on the debug build, so they keep compiling and working
	# (figures not judged; the full benches are make bench).
	BENCH_SMOKE=1 $(CARGO) test -p orderflow-tests --benches
	# The REST contract: each service fuzzed from its generated OpenAPI document.
	$(MAKE) --no-print-directory api-check
	# Kubernetes delivery: the Helm chart, and the service images against the stack.
	$(MAKE) --no-print-directory chart-check
	$(MAKE) --no-print-directory images-check

# One results file per run; each bench appends its table (tests/benches/common/report.rs).
bench: infra
	$(TEST_ENV)
	cd $(ROOT)
	$(STACK) build-deps
	export BENCH_RESULTS=$(ROOT)/bench/results/$$(date -u +%Y-%m-%d-%H%M).json
	$(CARGO) bench -p orderflow-tests

# --- Chaos ----------------------------------------------------------------------------------
# A steady order load on a private stack (ports + CHAOS_OFFSET; a three-broker Kafka cluster
# unless CHAOS_ARGS="--brokers 1", secured with SASL/SCRAM over TLS, a user per service, unless
# CHAOS_ARGS="--security plaintext") while a seeded schedule kills, stops and pauses service
# instances, a Kafka broker, PostgreSQL and the registry, and adds and removes instances; then
# an oracle checks every order (tests/src/bin/chaos/). The seed is
# printed (random when CHAOS_SEED is empty) so a failing run can be replayed; the last line is
# `chaos: seed <n>, <orders> orders, <faults> faults, violations: <v>`, non-zero exit when v > 0.
CHAOS_SEED ?=
CHAOS_SECS ?= 600
CHAOS_OFFSET ?= 3000
CHAOS_ARGS ?=

chaos:
	cd $(ROOT)
	$(CARGO) build --workspace --bins
	"$${CARGO_TARGET_DIR:-$(ROOT)/target}/debug/chaos" $(if $(CHAOS_SEED),--seed $(CHAOS_SEED)) \
	  --secs $(CHAOS_SECS) --offset $(CHAOS_OFFSET) $(CHAOS_ARGS)

# Long enough for the schedule's first round, every fault kind once, on one plaintext broker:
# three brokers take longer to start and to restart, and a secured stack's start also makes a
# CA and SCRAM users. With its private stack's start it is still a long step, so CI runs it as
# a step of its own after `make test` instead of inside it.
chaos-short:
	$(MAKE) --no-print-directory chaos CHAOS_SEED=12 CHAOS_SECS=240 \
	  CHAOS_ARGS="--brokers 1 --security plaintext"

fmt:
	cd $(ROOT) && $(CARGO) fmt --all

clippy:
	$(STACK) build-deps
	cd $(ROOT) && $(CARGO) clippy --workspace --all-targets -- -D warnings

# --- The REST contract ------------------------------------------------------------------
# schemathesis (pinned in deploy/tools.sh, in a venv under /var/cache/orderflow/tools) runs
# every check against each service's /openapi.json, which the services generate from their
# code; `deploy/schemathesis/<service>.toml`, where present, holds the few narrow settings,
# each with its reason. It
# starts the whole stack (services included) first. API_CHECK_EXAMPLES bounds the test cases
# per operation and phase, and so how long the three runs take; any failure fails the target.
API_CHECK_EXAMPLES ?= 20

api-check:
	$(STACK) up
	eval "$$($(STACK) env)"
	SCHEMATHESIS=$$($(TOOLS) schemathesis)
	# Its cache of failing cases (replayed first next time) stays in the git-ignored .local/.
	cd $(ROOT)/.local
	failed=0
	for service in order:$$ORDERFLOW_ORDER_URL payment:$$ORDERFLOW_PAYMENT_URL \
	    shipping:$$ORDERFLOW_SHIPPING_URL; do
	  name=$${service%%:*}-service url=$${service#*:}
	  config=$(ROOT)/deploy/schemathesis/$$name.toml
	  echo "== schemathesis $$name: $$url/openapi.json"
	  "$$SCHEMATHESIS" $$([[ -f $$config ]] && echo --config-file "$$config") \
	    run "$$url/openapi.json" --checks all --max-examples $(API_CHECK_EXAMPLES) \
	    --request-timeout 10 --generation-database none --no-color || failed=1
	done
	exit $$failed

# --- Kubernetes delivery: chart checks, images, kind ------------------------------------
# Tools (helm 3 and 4, kubeconform, a Python venv with kubernetes-validate and pytest, the
# Kubernetes schemas, podman and the debootstrapped base image) are installed on first use
# under /var/cache/orderflow/tools by deploy/tools.sh, outside the clone.
TOOLS := $(ROOT)/deploy/tools.sh
IMAGES := $(ROOT)/deploy/docker/images.sh

chart-check:
	HELM3=$$($(TOOLS) helm3); HELM4=$$($(TOOLS) helm4); KUBECONFORM=$$($(TOOLS) kubeconform)
	SCHEMAS_1_30=$$($(TOOLS) schemas 1.30); SCHEMAS_1_35=$$($(TOOLS) schemas 1.35)
	VENV=$$(dirname "$$($(TOOLS) python)")
	export HELM3 HELM4 KUBECONFORM SCHEMAS_1_30 SCHEMAS_1_35
	export KUBERNETES_VALIDATE=$$VENV/kubernetes-validate PYTHONDONTWRITEBYTECODE=1
	cd $(ROOT)/helm/tests
	"$$VENV/pytest" -p no:cacheprovider -q .

# deploy/tests: shellcheck over every tracked shell script (found by its #! line), the
# container engine rule on a made-up machine, and that each script installs the tools it runs.
scripts-check:
	SHELLCHECK=$$($(TOOLS) shellcheck); VENV=$$(dirname "$$($(TOOLS) python)")
	export SHELLCHECK PYTHONDONTWRITEBYTECODE=1
	cd $(ROOT)
	"$$VENV/pytest" -p no:cacheprovider -q deploy/tests

# Release binaries by default; IMAGE_PROFILE=debug reuses `make test`'s build.
images:
	$(IMAGES) build

# The images: saved archives import into containerd under the names the chart asks for (as
# `kind load` does), and as containers on the host network against the local stack they carry
# an order to SHIPMENT_SCHEDULED (tests/tests/images.rs). Debug binaries unless IMAGE_PROFILE
# says otherwise.
images-check: infra
	$(TEST_ENV)
	export IMAGE_PROFILE=$${IMAGE_PROFILE:-debug}
	$(IMAGES) check-archives
	eval "$$($(IMAGES) env)"
	cd $(ROOT)
	$(CARGO) test -p orderflow-tests --test images -- --ignored

kind-up:
	$(ROOT)/deploy/kind/kind.sh up

kind-down:
	$(ROOT)/deploy/kind/kind.sh down
