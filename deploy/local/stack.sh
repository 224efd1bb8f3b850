#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# stack.sh: runs the orderflow stack as plain local processes (no Docker).
#
# Usage:
#   deploy/local/stack.sh <command> [component...]
#
# Components, in dependency order (no component means all of them, but `up`,
# `start` and `restart` without a name leave the optional jaeger out):
#   postgres  kafka  registry  jaeger  order-service  payment-service  shipping-service
#
# Kafka cluster (KAFKA_BROKERS=3): the brokers are the components kafka-1,
# kafka-2, kafka-3 in place of kafka, and `kafka` names all of them. Each is a
# KRaft node in combined mode (broker and controller in one JVM: three JVMs,
# not six, on a small machine; the controller quorum survives one lost node),
# with its own pid file (run/kafka-2.pid), log (logs/kafka-2.log) and data
# (kafka-2/). Broker i listens on KAFKA_PORT + 2(i-1), its controller on
# KAFKA_CONTROLLER_PORT + 2(i-1): 9092/9093, 9094/9095, 9096/9097. A chaos
# harness takes one away and brings it back with
#   stack.sh kill kafka-2     (SIGKILL)  or  stack.sh stop kafka-2  (graceful)
#   stack.sh up kafka-2       (returns once it serves again)
# The replication factor is then 3 and min.insync.replicas 2 (topics and
# broker default), so the cluster stays writable with two brokers of three.
#
# Secured Kafka (KAFKA_SECURITY=sasl_ssl): clients connect over TLS with
# SASL/SCRAM-SHA-512 only (a plaintext client is refused). The stack makes a
# CA and a broker certificate with openssl (kafka-tls/ca.pem is what clients
# trust), a password per user (kafka-secrets/<user>.password, mode 600), and
# formats the brokers with those SCRAM credentials. Users: admin (super user:
# the stack, tests), order, payment, shipping (one per service) and orderflow
# (the CLI). The StandardAuthorizer grants each service only its own topics,
# consumer groups and dead-letter topics (see setup_kafka_acls). The brokers'
# controller listener takes TLS with a client certificate (the broker's) only.
# A stack keeps the mode it was made with (kafka.mode); `destroy` it to change.
#
# jaeger (optional) is the Jaeger all-in-one trace store: OTLP/gRPC on 4317,
# OTLP/HTTP on 4318, UI and query API on http://127.0.0.1:16686. While it runs,
# every service the stack starts exports its traces to it, and `up` restarts a
# running service whose export does not match (started before or after jaeger).
#
# Commands:
#   up        Install/fetch/build what is missing, start what is not running, and
#             return once every requested component is healthy. Idempotent: what
#             runs stays, and a second `up` only re-checks health and setup (a
#             running service whose binary was rebuilt is restarted). A component
#             not healthy within ORDERFLOW_HEALTH_TIMEOUT fails the run (exit 1,
#             its log's path and last 30 lines) and is left running to inspect.
#   start     Same as up (kept as the counterpart of stop).
#   stop      Graceful stop, reverse dependency order: SIGTERM (SIGINT, i.e. "fast
#             shutdown", for postgres), wait up to ORDERFLOW_STOP_TIMEOUT seconds,
#             then SIGKILL the process and its children WITH A WARNING.
#   kill      SIGKILL the component's process and all its children immediately.
#   restart   stop, then start.
#   down      stop (all components unless some are named).
#   status    One line per component: name, running/stopped, pid, address, e.g.
#             "kafka  running  pid 1234  127.0.0.1:9092 (controller ...)". Exit 0.
#   logs      tail -n 200 of the component's log (all logs when none is named).
#   env       Print `export` lines for the tests (ORDERFLOW_TEST_KAFKA, ...) and the
#             services' URLs (ORDERFLOW_ORDER_URL, ..._PAYMENT_URL, ..._SHIPPING_URL).
#   destroy   down, then delete the stack's state folder (data, logs, pids).
#   kafka-topics ARGS...
#             Kafka's kafka-topics tool (TopicCommand) from the stack's Kafka jars,
#             e.g. `kafka-topics --bootstrap-server 127.0.0.1:9092 --list`; on a
#             secured stack, `--command-config .local/stacks/<stack>/kafka-admin.properties`.
#   kafka-acls ARGS...
#             Kafka's kafka-acls tool (AclCommand), e.g. `kafka-acls --bootstrap-server
#             127.0.0.1:9092 --command-config <that file> --list`.
#   build-deps
#             Install from apt what building the services needs beyond a Rust and C
#             toolchain (perl and make: the OpenSSL built for librdkafka's TLS and SCRAM).
#
# Health: postgres = pg_isready + the databases orders, payments, shipping,
# registry exist; kafka = TopicCommand --list answers through that broker (so
# it is unfenced), then the topics (and on a secured stack the ACLs) exist;
# registry = GET /apis/ccompat/v7/subjects is 200, global compatibility is
# BACKWARD and a breaking schema change is really rejected (HTTP 409);
# services = GET /health/ready is 200.
#
# Layout (everything under the git-ignored $ROOT/.local/):
#   .local/cache/                       shared by all stacks: Kafka jars, Apicurio
#   .local/stacks/<stack>/logs/<c>.log  component output (appended per start)
#   .local/stacks/<stack>/run/<c>.pid   pid of the component's main process
#   .local/stacks/<stack>/{postgres,kafka,registry}/   data and rendered config
#   .local/stacks/<stack>/kafka-{1,2,3}/ a cluster's brokers (KAFKA_BROKERS=3)
#   .local/stacks/<stack>/kafka.mode    the Kafka mode the stack was made with
#   .local/stacks/<stack>/kafka-tls/, kafka-secrets/, kafka-admin.properties
#                                       a secured stack's CA, broker certificate,
#                                       user passwords, admin client config
#
# PostgreSQL refuses to run as root, so as root it runs as the `postgres` OS
# user. If that user cannot reach the state folder (e.g. the clone is under
# /root, mode 700), the data directory lives in
# /var/lib/orderflow/<first 16 hex of sha256(state folder)>/postgres and
# .local/stacks/<stack>/postgres is a symlink to it (`destroy` removes both).
#
# Environment:
#   ORDERFLOW_STACK          stack name = state folder (default: default)
#   ORDERFLOW_PORT_OFFSET    added to every default port (default: 0), so
#                            ORDERFLOW_STACK=chaos ORDERFLOW_PORT_OFFSET=100
#                            runs a second stack beside the default one
#   PG_PORT (5432)  KAFKA_PORT (9092)  KAFKA_CONTROLLER_PORT (9093)
#   REGISTRY_PORT (8090)  REGISTRY_MANAGEMENT_PORT (8091, Quarkus health/metrics)
#   JAEGER_UI_PORT (16686)  JAEGER_OTLP_GRPC_PORT (4317)  JAEGER_OTLP_HTTP_PORT (4318)
#   JAEGER_QUERY_GRPC_PORT (16685)  JAEGER_HEALTH_PORT (13133)
#   ORDER_PORT (8080)  PAYMENT_PORT (8081)  SHIPPING_PORT (8082)
#   ORDER_GRPC_PORT (50051, order-service's gRPC API)
#                            individual overrides; defaults shown before offset
#   ORDERFLOW_HEALTH_TIMEOUT seconds `up` waits per component (default: 120)
#   ORDERFLOW_STOP_TIMEOUT   seconds `stop` waits before SIGKILL (default: 30)
#   KAFKA_TOPIC_PARTITIONS   partitions of the created topics (default: 6)
#   KAFKA_SKIP_TOPICS=1      do not create the contract topics (tests that make their own;
#                            a secured stack still grants the ACLs of KAFKA_NAMESPACE)
#   KAFKA_BROKERS            1 (default: one node, component kafka) or 2-9 (a cluster:
#                            kafka-1..kafka-N); remembered by the stack
#   KAFKA_SECURITY           plaintext (default) or sasl_ssl; remembered by the stack
#   KAFKA_NAMESPACE          prefix of the topics, consumer groups and ACLs the stack
#                            makes and its services use (default: none)
#   KAFKA_REPLICATION_FACTOR topics and internal topics (default: 1; 3 with 3+ brokers);
#                            at 3 or more, min.insync.replicas is 2
#   KAFKA_CONTRACT_RETENTION_MS retention.ms of orders/payments/shipments when created
#                            (default: -1, kept forever: a replay rebuilds from them)
#   KAFKA_DLQ_RETENTION_MS   retention.ms of the <group>.dlq topics when created
#                            (default: 90 days, longer than any redrive window)
#   KAFKA_HEAP_OPTS          default: -Xms256m -Xmx1G (per broker of a cluster: -Xms128m -Xmx512m)
#   REGISTRY_HEAP_OPTS       default: -Xms128m -Xmx512m
#   REGISTRY_JAVA_HOME       JDK for Apicurio (needs Java >= APICURIO_MIN_JAVA from
#                            versions.env; default: the first such JDK in JAVA_HOME
#                            or /usr/lib/jvm/*)
#   CARGO_TARGET_DIR         where the service binaries are (default: $ROOT/target)
#   ORDERFLOW_CACHE          tools built from source once per machine, outside the
#                            clone: jaeger (default: /var/cache/orderflow)
#   ORDERFLOW_SKIP_BUILD=1   skip `cargo build --bins` when the binaries exist
#   ORDERFLOW_PROFILE        cargo profile of the services: debug (default) or
#                            release (what to measure by hand with)
#   RUST_LOG                 passed to the services (default: info)
#
# Versions are pinned in deploy/local/versions.env. All addresses are 127.0.0.1.
# Only apt, Maven, cargo and (for jaeger) the Go module proxy download anything.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT_PATH="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=versions.env
source "$SCRIPT_DIR/versions.env"

STACK=${ORDERFLOW_STACK:-default}
OFFSET=${ORDERFLOW_PORT_OFFSET:-0}
[[ $STACK =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || { echo "stack.sh: bad ORDERFLOW_STACK '$STACK'" >&2; exit 2; }
[[ $OFFSET =~ ^[0-9]+$ ]] || { echo "stack.sh: bad ORDERFLOW_PORT_OFFSET '$OFFSET'" >&2; exit 2; }

LOCAL_DIR="$ROOT/.local"
CACHE_DIR="$LOCAL_DIR/cache"
STATE_DIR="$LOCAL_DIR/stacks/$STACK"
LOG_DIR="$STATE_DIR/logs"
RUN_DIR="$STATE_DIR/run"

PG_PORT=${PG_PORT:-$((5432 + OFFSET))}
KAFKA_PORT=${KAFKA_PORT:-$((9092 + OFFSET))}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((9093 + OFFSET))}
REGISTRY_PORT=${REGISTRY_PORT:-$((8090 + OFFSET))}
REGISTRY_MANAGEMENT_PORT=${REGISTRY_MANAGEMENT_PORT:-$((8091 + OFFSET))}
ORDER_PORT=${ORDER_PORT:-$((8080 + OFFSET))}
ORDER_GRPC_PORT=${ORDER_GRPC_PORT:-$((50051 + OFFSET))}
PAYMENT_PORT=${PAYMENT_PORT:-$((8081 + OFFSET))}
SHIPPING_PORT=${SHIPPING_PORT:-$((8082 + OFFSET))}
JAEGER_UI_PORT=${JAEGER_UI_PORT:-$((16686 + OFFSET))}
JAEGER_QUERY_GRPC_PORT=${JAEGER_QUERY_GRPC_PORT:-$((16685 + OFFSET))}
JAEGER_OTLP_GRPC_PORT=${JAEGER_OTLP_GRPC_PORT:-$((4317 + OFFSET))}
JAEGER_OTLP_HTTP_PORT=${JAEGER_OTLP_HTTP_PORT:-$((4318 + OFFSET))}
JAEGER_HEALTH_PORT=${JAEGER_HEALTH_PORT:-$((13133 + OFFSET))}

HEALTH_TIMEOUT=${ORDERFLOW_HEALTH_TIMEOUT:-120}
STOP_TIMEOUT=${ORDERFLOW_STOP_TIMEOUT:-30}

# The Kafka mode a stack was made with, so that `status`, `down` or `kill
# kafka-2` need no variables, and a stack is never started in another mode
# over its data. A stack with Kafka data but no such file is one plaintext node.
KAFKA_MODE_FILE="$STATE_DIR/kafka.mode"
RECORDED_BROKERS="" RECORDED_SECURITY=""
if [[ -f $KAFKA_MODE_FILE ]]; then
  RECORDED_BROKERS=$(sed -n 's/^KAFKA_BROKERS=//p' "$KAFKA_MODE_FILE")
  RECORDED_SECURITY=$(sed -n 's/^KAFKA_SECURITY=//p' "$KAFKA_MODE_FILE")
elif [[ -f $STATE_DIR/kafka/data/meta.properties ]]; then
  RECORDED_BROKERS=1 RECORDED_SECURITY=plaintext
fi
KAFKA_BROKERS=${KAFKA_BROKERS:-${RECORDED_BROKERS:-1}}
KAFKA_SECURITY=${KAFKA_SECURITY:-${RECORDED_SECURITY:-plaintext}}
[[ $KAFKA_BROKERS =~ ^[1-9]$ ]] || { echo "stack.sh: bad KAFKA_BROKERS '$KAFKA_BROKERS' (1-9)" >&2; exit 2; }
[[ $KAFKA_SECURITY =~ ^(plaintext|sasl_ssl)$ ]] ||
  { echo "stack.sh: bad KAFKA_SECURITY '$KAFKA_SECURITY' (plaintext or sasl_ssl)" >&2; exit 2; }
KAFKA_NAMESPACE=${KAFKA_NAMESPACE:-}
[[ $KAFKA_NAMESPACE =~ ^[A-Za-z0-9._-]*$ ]] || { echo "stack.sh: bad KAFKA_NAMESPACE '$KAFKA_NAMESPACE'" >&2; exit 2; }

KAFKA_TOPIC_PARTITIONS=${KAFKA_TOPIC_PARTITIONS:-6}
if ((KAFKA_BROKERS >= 3)); then
  KAFKA_REPLICATION_FACTOR=${KAFKA_REPLICATION_FACTOR:-3}
else
  KAFKA_REPLICATION_FACTOR=${KAFKA_REPLICATION_FACTOR:-$KAFKA_BROKERS}
fi
((KAFKA_REPLICATION_FACTOR <= KAFKA_BROKERS)) ||
  { echo "stack.sh: KAFKA_REPLICATION_FACTOR $KAFKA_REPLICATION_FACTOR is above KAFKA_BROKERS $KAFKA_BROKERS" >&2; exit 2; }
# Writes need 2 in-sync replicas once there are 3: one broker may be lost, no
# acknowledged write rests on one copy.
KAFKA_MIN_ISR=1
((KAFKA_REPLICATION_FACTOR >= 3)) && KAFKA_MIN_ISR=2
KAFKA_CONTRACT_RETENTION_MS=${KAFKA_CONTRACT_RETENTION_MS:--1}
KAFKA_DLQ_RETENTION_MS=${KAFKA_DLQ_RETENTION_MS:-7776000000}
if ((KAFKA_BROKERS == 1)); then
  KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1G}
else
  KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
fi
REGISTRY_HEAP_OPTS=${REGISTRY_HEAP_OPTS:--Xms128m -Xmx512m}
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PROFILE=${ORDERFLOW_PROFILE:-debug}
case $PROFILE in
  debug) CARGO_PROFILE_ARGS=() ;;
  release) CARGO_PROFILE_ARGS=(--release) ;;
  *) echo "stack.sh: bad ORDERFLOW_PROFILE '$PROFILE' (debug or release)" >&2; exit 2 ;;
esac
ORDERFLOW_CACHE=${ORDERFLOW_CACHE:-/var/cache/orderflow}
JAEGER_BIN="$ORDERFLOW_CACHE/tools/jaeger-$JAEGER_VERSION/jaeger"

PG_BIN="/usr/lib/postgresql/$POSTGRES_MAJOR/bin"
PG_USER=orderflow
PG_PASSWORD=orderflow
# The Kafka cache folder changes whenever the Maven descriptor does.
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION-$(sha256sum <"$SCRIPT_DIR/kafka/pom.xml" | cut -c1-8)"
APICURIO_HOME="$CACHE_DIR/apicurio-registry-$APICURIO_VERSION"

# One node is the component kafka; a cluster's nodes are
# kafka-1..kafka-N, and `kafka` names them all.
if ((KAFKA_BROKERS == 1)); then
  BROKERS=(kafka)
else
  BROKERS=()
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do BROKERS+=("kafka-$i"); done
fi
COMPONENTS=(postgres "${BROKERS[@]}" registry jaeger order-service payment-service shipping-service)
# Started only when named.
OPTIONAL_COMPONENTS=(jaeger)
DATABASES=(orders payments shipping registry)
TOPICS=(orders payments shipments
        order-service.dlq order-status-projector.dlq payment-service.dlq shipping-service.dlq)
# Secured mode: the SCRAM users (admin is the super user the stack and tests use).
KAFKA_USERS=(admin order payment shipping orderflow)

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

say() { printf '[stack %s] %s\n' "$STACK" "$*" >&2; }
warn() { printf '[stack %s] WARNING: %s\n' "$STACK" "$*" >&2; }
die() { printf '[stack %s] ERROR: %s\n' "$STACK" "$*" >&2; exit 1; }

# usage [exit code]: prints the header comment (to stderr unless the code is 0).
usage() {
  local code=${1:-2}
  if ((code == 0)); then
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$SCRIPT_PATH"
  else
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$SCRIPT_PATH" >&2
  fi
  exit "$code"
}

# Fails the run for one component: names it, shows where its log is and the
# end of that log.
fail_component() {
  local comp=$1 msg=$2 log="$LOG_DIR/$1.log"
  printf '[stack %s] ERROR: %s: %s\n' "$STACK" "$comp" "$msg" >&2
  if [[ -f $log ]]; then
    printf '[stack %s] log: %s (last 30 lines follow)\n' "$STACK" "$log" >&2
    tail -n 30 "$log" | sed 's/^/    /' >&2
  else
    printf '[stack %s] log: %s (does not exist)\n' "$STACK" "$log" >&2
  fi
  exit 1
}

as_root() { if ((EUID == 0)); then "$@"; else sudo "$@"; fi; }

APT_UPDATED=0
apt_install() {
  if ((APT_UPDATED == 0)); then
    say "apt-get update"
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  say "apt-get install -y $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# need_cmd <command> <apt package>: installs the package if the command is missing.
need_cmd() {
  command -v "$1" >/dev/null 2>&1 || apt_install "$2"
  command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" 2>/dev/null || true; }

is_component() {
  local c
  for c in "${COMPONENTS[@]}"; do [[ $c == "$1" ]] && return 0; done
  return 1
}

is_optional() {
  local c
  for c in "${OPTIONAL_COMPONENTS[@]}"; do [[ $c == "$1" ]] && return 0; done
  return 1
}

# resolve_components <action> [component...]: prints the requested components
# in dependency order, one per line. None named means all of them, less the
# optional ones when starting.
resolve_components() {
  local action=$1 c a found
  shift
  for a in "$@"; do
    [[ $a == kafka ]] && continue # every broker of a cluster
    is_component "$a" || die "unknown component '$a' (known: ${COMPONENTS[*]})"
  done
  for c in "${COMPONENTS[@]}"; do
    if (($# == 0)); then
      [[ $action =~ ^(up|start|restart)$ ]] && is_optional "$c" && continue
      echo "$c"
      continue
    fi
    found=0
    for a in "$@"; do [[ $a == "$c" || ($a == kafka && $c == kafka-*) ]] && found=1; done
    ((found)) && echo "$c"
  done
  return 0
}

is_broker() { [[ $1 == kafka || $1 == kafka-[1-9] ]]; }

# The node id of a broker component: 1 for the single kafka, i for kafka-i.
broker_id() { if [[ $1 == kafka ]]; then echo 1; else echo "${1#kafka-}"; fi; }
broker_port() { echo $((KAFKA_PORT + 2 * ($(broker_id "$1") - 1))); }
broker_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($(broker_id "$1") - 1))); }

# host:port of every broker, what clients bootstrap from.
kafka_bootstrap() {
  local b list=()
  for b in "${BROKERS[@]}"; do list+=("127.0.0.1:$(broker_port "$b")"); done
  (IFS=,; echo "${list[*]}")
}

# Where a component answers, from its ports (component_port).
component_address() {
  local ports
  read -ra ports <<<"$(component_port "$1")"
  case $1 in
    postgres | kafka | kafka-*) echo "127.0.0.1:${ports[0]}" ;;
    order-service) echo "http://127.0.0.1:${ports[0]} (gRPC 127.0.0.1:${ports[1]})" ;;
    *) echo "http://127.0.0.1:${ports[0]}" ;;
  esac
}

component_port() {
  case $1 in
    postgres) echo "$PG_PORT" ;;
    kafka | kafka-*) echo "$(broker_port "$1") $(broker_controller_port "$1")" ;;
    registry) echo "$REGISTRY_PORT $REGISTRY_MANAGEMENT_PORT" ;;
    jaeger) echo "$JAEGER_UI_PORT $JAEGER_QUERY_GRPC_PORT $JAEGER_OTLP_GRPC_PORT $JAEGER_OTLP_HTTP_PORT $JAEGER_HEALTH_PORT" ;;
    order-service) echo "$ORDER_PORT $ORDER_GRPC_PORT" ;;
    payment-service) echo "$PAYMENT_PORT" ;;
    shipping-service) echo "$SHIPPING_PORT" ;;
  esac
}

# ---------------------------------------------------------------------------
# Process bookkeeping
#
# Every process is started in its own session (setsid), so its pid is also its
# process group id, and with STACK_SH_ID=<state dir>#<component> in its
# environment. A pid file only counts if that pid is alive AND carries this
# marker, which makes stale pid files (and recycled pids) harmless.
# ---------------------------------------------------------------------------

pid_file() { echo "$RUN_DIR/$1.pid"; }
marker() { echo "$STATE_DIR#$1"; }

# Prints the pid of the running component, or fails.
running_pid() {
  local f pid
  f=$(pid_file "$1")
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF "STACK_SH_ID=$(marker "$1")" || return 1
  echo "$pid"
}

# Removes the pid file if it points at nothing (says so).
clear_stale_pid() {
  local f
  f=$(pid_file "$1")
  if [[ -e $f ]] && ! running_pid "$1" >/dev/null; then
    say "$1: removing stale pid file ($(cat "$f" 2>/dev/null || true))"
    rm -f "$f"
  fi
}

# launch <component> <working dir> <command...>
# Starts the command detached (own session, stdin /dev/null, output appended to
# the component log) and records its pid.
launch() {
  local comp=$1 cwd=$2 log pidf i
  shift 2
  log="$LOG_DIR/$comp.log"
  pidf=$(pid_file "$comp")
  rm -f "$pidf"
  printf '\n===== %s  stack.sh: starting %s (stack %s) =====\n' "$(date '+%F %T')" "$comp" "$STACK" >>"$log"
  (
    cd "$cwd"
    # bash writes its own pid, then exec()s the real command under that pid.
    # shellcheck disable=SC2016 # $$ and $0 are for the inner bash
    exec env STACK_SH_ID="$(marker "$comp")" \
      setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidf" "$@"
  ) </dev/null >>"$log" 2>&1 8>&- 9>&- &
  for ((i = 0; i < 100; i++)); do
    [[ -s $pidf ]] && return 0
    sleep 0.1
  done
  fail_component "$comp" "process did not start"
}

# wait_until <component> <probe function> <what>: polls the probe once a second
# until it succeeds; fails the component if the process dies or the deadline
# (ORDERFLOW_HEALTH_TIMEOUT) passes.
wait_until() {
  local comp=$1 probe=$2 what=$3 deadline=$((SECONDS + HEALTH_TIMEOUT))
  while :; do
    running_pid "$comp" >/dev/null || fail_component "$comp" "process exited while waiting for: $what"
    "$probe" && return 0
    ((SECONDS < deadline)) || fail_component "$comp" "not healthy after ${HEALTH_TIMEOUT}s (waiting for: $what); left running for inspection, \`stack.sh stop $comp\` stops it"
    sleep 1
  done
}

# Prints the pid and all its descendants (postgres children leave the
# postmaster's process group, so killing the group alone is not enough).
process_tree() {
  local pid=$1 child
  echo "$pid"
  for child in $(pgrep -P "$pid" 2>/dev/null || true); do process_tree "$child"; done
}

# SIGKILLs the process group and every descendant of pid.
kill_tree() {
  local pid=$1
  # shellcheck disable=SC2046 # word splitting of the pid list is intended
  kill -KILL $(process_tree "$pid") 2>/dev/null || true
  kill -KILL -- "-$pid" 2>/dev/null || true
}

stop_signal() { [[ $1 == postgres ]] && echo INT || echo TERM; }

stop_component() {
  local comp=$1 pid sig deadline
  if ! pid=$(running_pid "$comp"); then
    clear_stale_pid "$comp"
    say "$comp: not running"
    return 0
  fi
  sig=$(stop_signal "$comp")
  say "$comp: stopping (SIG$sig to pid $pid, up to ${STOP_TIMEOUT}s)"
  kill -"$sig" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      warn "$comp: still running after ${STOP_TIMEOUT}s; sending SIGKILL to pid $pid and its children"
      kill_tree "$pid"
      sleep 1
      break
    fi
    sleep 0.2
  done
  rm -f "$(pid_file "$comp")"
  say "$comp: stopped"
}

kill_component() {
  local comp=$1 pid i
  if ! pid=$(running_pid "$comp"); then
    clear_stale_pid "$comp"
    say "$comp: not running"
    return 0
  fi
  say "$comp: SIGKILL to pid $pid and its children"
  kill_tree "$pid"
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$(pid_file "$comp")"
}

# Refuses to start a component whose dependency is not running, naming it.
require_running() {
  local comp=$1 dep
  shift
  for dep in "$@"; do
    running_pid "$dep" >/dev/null ||
      die "$comp needs $dep, which is not running in stack '$STACK' (run: stack.sh up $dep)"
  done
}

# Services need one broker of the cluster, not all (a chaos harness may have
# taken one away).
require_a_broker() {
  local b
  for b in "${BROKERS[@]}"; do running_pid "$b" >/dev/null && return 0; done
  die "$1 needs kafka, which is not running in stack '$STACK' (run: stack.sh up kafka)"
}

# Refuses to start on a port something else already listens on.
require_free_ports() {
  local comp=$1 p
  for p in $(component_port "$comp"); do
    port_in_use "$p" && die "$comp: port 127.0.0.1:$p is already in use by another process (ORDERFLOW_PORT_OFFSET / *_PORT pick other ports)"
  done
  return 0
}

# Shared cache lock: two stacks installing at once must not race.
with_cache_lock() {
  mkdir -p "$CACHE_DIR"
  (
    flock -w 900 8 || die "timed out waiting for the cache lock $CACHE_DIR/.lock"
    "$@"
  ) 8>"$CACHE_DIR/.lock"
}

# ---------------------------------------------------------------------------
# Components: one file each, with its install, start, probe and setup
# ---------------------------------------------------------------------------

# shellcheck source=components/postgres.bash
source "$SCRIPT_DIR/components/postgres.bash"
# shellcheck source=components/kafka.bash
source "$SCRIPT_DIR/components/kafka.bash"
# shellcheck source=components/registry.bash
source "$SCRIPT_DIR/components/registry.bash"
# shellcheck source=components/jaeger.bash
source "$SCRIPT_DIR/components/jaeger.bash"
# shellcheck source=components/services.bash
source "$SCRIPT_DIR/components/services.bash"

# ---------------------------------------------------------------------------
# Per-component dispatch
# ---------------------------------------------------------------------------

install_component() {
  case $1 in
    postgres) install_postgres ;;
    kafka | kafka-*) install_kafka ;;
    registry) install_registry ;;
    jaeger) install_jaeger ;;
    *-service) install_service ;;
  esac
}

start_component() {
  case $1 in
    postgres) init_postgres; start_postgres ;;
    kafka | kafka-*) start_kafka "$1" ;;
    registry) start_registry ;;
    jaeger) start_jaeger ;;
    *-service) start_service "$1" ;;
  esac
}

# Waits until the component is healthy and its setup (databases, topics,
# compatibility rule) is in place. Safe to repeat.
ensure_healthy() {
  case $1 in
    postgres)
      wait_until postgres probe_postgres "pg_isready on 127.0.0.1:$PG_PORT"
      setup_postgres
      ;;
    kafka | kafka-*)
      PROBE_BROKER=$1
      wait_until "$1" probe_kafka_port "listener 127.0.0.1:$(broker_port "$1")"
      wait_until "$1" probe_kafka "TopicCommand --list on 127.0.0.1:$(broker_port "$1")"
      setup_kafka "$1"
      ;;
    registry)
      wait_until registry probe_registry "HTTP 200 from $CCOMPAT/subjects"
      setup_registry
      ;;
    jaeger)
      wait_until jaeger probe_jaeger "HTTP 200 from http://127.0.0.1:$JAEGER_UI_PORT/api/services"
      ;;
    *-service)
      SERVICE_PROBE_PORT=$(service_port "$1")
      wait_until "$1" probe_service "HTTP 200 from http://127.0.0.1:$SERVICE_PROBE_PORT/health/ready"
      ;;
  esac
}

up_component() {
  local comp=$1 pid t0=$SECONDS
  install_component "$comp"
  if pid=$(running_pid "$comp") && [[ $comp == *-service ]] &&
      [[ $(readlink "/proc/$pid/exe" 2>/dev/null) != "$(readlink -f "$(service_bin "$comp")")" ]]; then
    # A rebuilt binary shows as "<path> (deleted)"; another path is another profile.
    say "$comp: its binary was rebuilt or ORDERFLOW_PROFILE changed since it started; restarting it"
    stop_component "$comp"
  fi
  if pid=$(running_pid "$comp") && [[ $comp == *-service ]] && ! exports_as_configured "$pid"; then
    say "$comp: jaeger started or stopped since it started; restarting it so its trace export follows"
    stop_component "$comp"
  fi
  if pid=$(running_pid "$comp"); then
    ensure_healthy "$comp"
    say "$comp: already running (pid $pid), healthy"
    return 0
  fi
  launch_component "$comp"
  ensure_healthy "$comp"
  say "$comp: healthy (pid $(running_pid "$comp"), $(component_address "$comp"), $((SECONDS - t0))s)"
}

launch_component() {
  local comp=$1
  clear_stale_pid "$comp"
  require_free_ports "$comp"
  say "$comp: starting"
  start_component "$comp"
}

# A cluster's node is not healthy before a quorum of controllers runs, so `up`
# starts every requested broker that is down before it waits for the first.
launch_brokers() {
  local comp
  for comp in "$@"; do
    [[ $comp == kafka-* ]] || continue
    running_pid "$comp" >/dev/null && continue
    install_component "$comp"
    launch_component "$comp"
  done
}

# One line: name, running/stopped, pid, address[, note]. Fields are separated
# by spaces and always in the same place ("pid -" when stopped).
status_component() {
  local comp=$1 pid state=stopped note=""
  if pid=$(running_pid "$comp"); then
    state=running
  else
    pid=-
    [[ -e $(pid_file "$comp") ]] && note=" (stale pid file)"
  fi
  if is_broker "$comp"; then
    local security=""
    secured && security=", SASL_SSL"
    note=" (controller 127.0.0.1:$(broker_controller_port "$comp")$security)$note"
  fi
  printf '%-17s %-8s pid %-8s %s%s\n' "$comp" "$state" "$pid" "$(component_address "$comp")" "$note"
}

print_env() {
  local name value
  for name in ORDERFLOW_TEST_KAFKA ORDERFLOW_TEST_KAFKA_REPLICATION_FACTOR \
      ORDERFLOW_TEST_REGISTRY ORDERFLOW_TEST_DATABASE_URL \
      ORDERFLOW_STACK_SCRIPT ORDERFLOW_STACK ORDERFLOW_PORT_OFFSET \
      ORDERFLOW_ORDER_URL ORDERFLOW_PAYMENT_URL ORDERFLOW_SHIPPING_URL \
      ORDERFLOW_TEST_JAEGER_QUERY ORDERFLOW_TEST_JAEGER_OTLP; do
    case $name in
      # The stack's own services (`make api-check` fuzzes them).
      ORDERFLOW_ORDER_URL) value="http://127.0.0.1:$ORDER_PORT" ;;
      ORDERFLOW_PAYMENT_URL) value="http://127.0.0.1:$PAYMENT_PORT" ;;
      ORDERFLOW_SHIPPING_URL) value="http://127.0.0.1:$SHIPPING_PORT" ;;
      ORDERFLOW_TEST_KAFKA) value="$(kafka_bootstrap)" ;;
      ORDERFLOW_TEST_KAFKA_REPLICATION_FACTOR) value="$KAFKA_REPLICATION_FACTOR" ;;
      ORDERFLOW_TEST_REGISTRY) value="$CCOMPAT" ;;
      ORDERFLOW_TEST_DATABASE_URL) value="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres" ;;
      ORDERFLOW_STACK_SCRIPT) value="$SCRIPT_PATH" ;;
      ORDERFLOW_STACK) value="$STACK" ;;
      ORDERFLOW_PORT_OFFSET) value="$OFFSET" ;;
      # Jaeger's query API and OTLP/HTTP receiver (`OTEL_EXPORTER_OTLP_ENDPOINT`).
      ORDERFLOW_TEST_JAEGER_QUERY) value="http://127.0.0.1:$JAEGER_UI_PORT" ;;
      ORDERFLOW_TEST_JAEGER_OTLP) value="http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT" ;;
    esac
    printf 'export %s=%q\n' "$name" "$value"
  done
}

destroy_stack() {
  local ext=""
  [[ -L $STATE_DIR/postgres ]] && ext=$(pg_external_dir)
  say "deleting $STATE_DIR${ext:+ and $ext}"
  rm -rf -- "$STATE_DIR"
  if [[ -n $ext && $ext == /var/lib/orderflow/* ]]; then
    as_root rm -rf -- "$ext"
    as_root rmdir --ignore-fail-on-non-empty /var/lib/orderflow
  fi
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

main() {
  (($# >= 1)) || usage
  local action=$1 comp
  shift
  case $action in
    kafka-topics | kafka-acls)
      [[ -f $KAFKA_HOME/.complete ]] || die "no Kafka jars yet (run: stack.sh up kafka)"
      # The tool's exit status is the command's.
      if [[ $action == kafka-topics ]]; then
        kafka_tool org.apache.kafka.tools.TopicCommand "$@"
      else
        kafka_tool org.apache.kafka.tools.AclCommand "$@"
      fi
      return
      ;;
    build-deps)
      install_build_deps
      return
      ;;
  esac
  local comps=() reversed=()
  mapfile -t comps < <(resolve_components "$action" "$@")
  ((${#comps[@]})) || exit 2 # resolve_components already complained
  for ((i = ${#comps[@]} - 1; i >= 0; i--)); do reversed+=("${comps[$i]}"); done

  case $action in
    status)
      for comp in "${comps[@]}"; do status_component "$comp"; done
      return 0
      ;;
    logs)
      local files=()
      for comp in "${comps[@]}"; do
        [[ -f $LOG_DIR/$comp.log ]] && files+=("$LOG_DIR/$comp.log")
      done
      ((${#files[@]})) || die "no logs yet in $LOG_DIR"
      tail -n 200 "${files[@]}"
      return 0
      ;;
    env)
      print_env
      return 0
      ;;
    up | start | stop | down | kill | restart | destroy) ;;
    -h | --help | help) usage 0 ;;
    *) echo "stack.sh: unknown command '$action'" >&2; usage ;;
  esac

  # Mutating commands: one at a time per stack.
  mkdir -p "$LOG_DIR" "$RUN_DIR"
  exec 9>"$RUN_DIR/.lock"
  flock -w 600 9 || die "another stack.sh is working on stack '$STACK' (lock $RUN_DIR/.lock)"

  case $action in
    up | start)
      need_cmd curl curl
      launch_brokers "${comps[@]}"
      for comp in "${comps[@]}"; do up_component "$comp"; done
      ;;
    stop | down)
      for comp in "${reversed[@]}"; do stop_component "$comp"; done
      ;;
    kill)
      for comp in "${reversed[@]}"; do kill_component "$comp"; done
      ;;
    restart)
      for comp in "${reversed[@]}"; do stop_component "$comp"; done
      need_cmd curl curl
      launch_brokers "${comps[@]}"
      for comp in "${comps[@]}"; do up_component "$comp"; done
      ;;
    destroy)
      (($# == 0)) || die "destroy works on the whole stack; don't name components"
      for comp in "${reversed[@]}"; do stop_component "$comp"; done
      exec 9>&-
      destroy_stack
      ;;
  esac
}

main "$@"
