#!/usr/bin/env bash
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
# shellcheck source=deploy/local/versions.env disable=SC1091 # scripts-check runs without -x; the file only sets versions
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

component_address() {
  case $1 in
    postgres) echo "127.0.0.1:$PG_PORT" ;;
    kafka | kafka-*) echo "127.0.0.1:$(broker_port "$1")" ;;
    registry) echo "http://127.0.0.1:$REGISTRY_PORT" ;;
    jaeger) echo "http://127.0.0.1:$JAEGER_UI_PORT" ;;
    order-service) echo "http://127.0.0.1:$ORDER_PORT (gRPC 127.0.0.1:$ORDER_GRPC_PORT)" ;;
    payment-service) echo "http://127.0.0.1:$PAYMENT_PORT" ;;
    shipping-service) echo "http://127.0.0.1:$SHIPPING_PORT" ;;
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
# postgres
# ---------------------------------------------------------------------------

# Runs a command as the OS user that owns the cluster (postgres when we are root).
as_pg() {
  if ((EUID == 0)); then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

psql_q() {
  PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" \
    -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

install_postgres() {
  if [[ ! -x $PG_BIN/postgres ]]; then
    # Don't let the Debian package create (and start) a system cluster on 5432.
    if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
      apt_install postgresql-common
    fi
    as_root sed -ri 's/^#? *create_main_cluster *=.*/create_main_cluster = false/' \
      /etc/postgresql-common/createcluster.conf
    apt_install "postgresql-$POSTGRES_MAJOR"
  fi
  [[ -x $PG_BIN/postgres ]] || die "postgres: $PG_BIN/postgres missing after apt-get install"
}

# The data directory postgres itself uses (symlink resolved).
pg_data_dir() {
  local link="$STATE_DIR/postgres"
  if [[ -L $link ]]; then readlink -m "$link"; else echo "$link"; fi
}

pg_external_dir() {
  echo "/var/lib/orderflow/$(printf '%s' "$STATE_DIR" | sha256sum | cut -c1-16)"
}

init_postgres() {
  local link="$STATE_DIR/postgres" data pwfile
  if [[ ! -e $link && ! -L $link ]]; then
    if ((EUID == 0)) && ! runuser -u postgres -- test -x "$STATE_DIR" 2>/dev/null; then
      data="$(pg_external_dir)/postgres"
      say "postgres: user 'postgres' cannot reach $STATE_DIR; data goes to $data (symlinked)"
      mkdir -p "$data"
      ln -s "$data" "$link"
    else
      mkdir -p "$link"
    fi
  fi
  data=$(pg_data_dir)
  [[ -f $data/PG_VERSION ]] && return 0

  say "postgres: initdb in $data"
  mkdir -p "$data"
  ((EUID == 0)) && chown postgres:postgres "$data"
  chmod 700 "$data"
  # The password file sits beside the data dir, where the postgres user can read it.
  pwfile=$(mktemp "$(dirname "$data")/.pgpw.XXXXXX")
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  ((EUID == 0)) && chown postgres "$pwfile"
  if ! as_pg "$PG_BIN/initdb" -D "$data" -U "$PG_USER" --pwfile="$pwfile" \
      --auth=scram-sha-256 --encoding=UTF8 --no-locale >>"$LOG_DIR/postgres.log" 2>&1; then
    rm -f "$pwfile"
    fail_component postgres "initdb failed"
  fi
  rm -f "$pwfile"
  # TCP on 127.0.0.1 with a password only; the unix socket is disabled at start.
  cat >"$data/pg_hba.conf" <<'EOF'
# Written by deploy/local/stack.sh: password (SCRAM) logins over 127.0.0.1 only.
# TYPE  DATABASE  USER  ADDRESS        METHOD
host    all       all   127.0.0.1/32   scram-sha-256
EOF
  ((EUID == 0)) && chown postgres:postgres "$data/pg_hba.conf"
  return 0
}

start_postgres() {
  local data
  data=$(pg_data_dir)
  local cmd=("$PG_BIN/postgres" -D "$data"
    -c port="$PG_PORT"
    -c listen_addresses=127.0.0.1
    -c unix_socket_directories=
    -c max_connections=400
    -c shared_buffers=256MB
    -c logging_collector=off)
  if ((EUID == 0)); then
    # setpriv exec()s (unlike runuser/su, which fork and SIGKILL on SIGTERM),
    # so the recorded pid is the postmaster itself.
    cmd=(setpriv --reuid=postgres --regid=postgres --init-groups "${cmd[@]}")
  fi
  launch postgres / "${cmd[@]}"
}

probe_postgres() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; }

setup_postgres() {
  local existing db
  existing=$(psql_q -c 'SELECT datname FROM pg_database') ||
    fail_component postgres "cannot log in as $PG_USER on 127.0.0.1:$PG_PORT"
  for db in "${DATABASES[@]}"; do
    if ! grep -qxF "$db" <<<"$existing"; then
      say "postgres: creating database $db"
      psql_q -c "CREATE DATABASE \"$db\"" || fail_component postgres "CREATE DATABASE $db failed"
    fi
  done
  existing=$(psql_q -c 'SELECT datname FROM pg_database')
  for db in "${DATABASES[@]}"; do
    grep -qxF "$db" <<<"$existing" || fail_component postgres "database $db missing"
  done
}

# ---------------------------------------------------------------------------
# kafka
# ---------------------------------------------------------------------------

# Runs Maven against deploy/local/kafka/pom.xml; shows its output only on failure.
mvn_quiet() {
  local out rc=0
  out=$(mktemp)
  mvn -q -B -Dstyle.color=never -f "$SCRIPT_DIR/kafka/pom.xml" "$@" >"$out" 2>&1 || rc=$?
  ((rc == 0)) || sed 's/^/    /' "$out" >&2
  rm -f "$out"
  return "$rc"
}

fetch_kafka() {
  [[ -f $KAFKA_HOME/.complete ]] && return 0
  local tmp
  say "kafka: resolving Kafka $KAFKA_VERSION jars with Maven into $KAFKA_HOME"
  tmp=$(mktemp -d "$CACHE_DIR/.kafka.XXXXXX")
  if ! mvn_quiet dependency:copy-dependencies \
      -DoutputDirectory="$tmp/libs" -DincludeScope=runtime \
      -Dkafka.version="$KAFKA_VERSION" -Dscala.binary.version="$SCALA_BINARY_VERSION" \
      -Dlog4j.version="$LOG4J_VERSION"; then
    rm -rf "$tmp"
    die "kafka: Maven could not resolve the Kafka jars"
  fi
  touch "$tmp/.complete"
  rm -rf "$KAFKA_HOME"
  mv "$tmp" "$KAFKA_HOME"
}

install_kafka() {
  need_cmd java openjdk-17-jre-headless
  need_cmd mvn maven
  [[ -f $KAFKA_HOME/.complete ]] || with_cache_lock fetch_kafka
}

# Short-lived Kafka CLI JVM (StorageTool, TopicCommand, AclCommand): small heap, C1 only.
KAFKA_TOOL=(java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
  -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2-tools.properties"
  -cp "$KAFKA_HOME/libs/*")
kafka_tool() { timeout 120 "${KAFKA_TOOL[@]}" "$@"; }

# Secured mode: what the stack makes once and keeps (destroy removes it).
KAFKA_TLS="$STATE_DIR/kafka-tls"
KAFKA_SECRETS="$STATE_DIR/kafka-secrets"
# Client settings of the admin user, for Kafka's Java tools (--command-config).
KAFKA_ADMIN_PROPERTIES="$STATE_DIR/kafka-admin.properties"
secured() { [[ $KAFKA_SECURITY == sasl_ssl ]]; }

# Where the tools connect: all brokers, or one (TOOL_BOOTSTRAP=host:port).
TOOL_BOOTSTRAP=""
tool_connection() {
  echo --bootstrap-server "${TOOL_BOOTSTRAP:-$(kafka_bootstrap)}"
  if secured; then echo --command-config "$KAFKA_ADMIN_PROPERTIES"; fi
}

topics() {
  # shellcheck disable=SC2046 # tool_connection prints separate arguments (no spaces in them)
  timeout 120 "${KAFKA_TOOL[@]}" org.apache.kafka.tools.TopicCommand $(tool_connection) "$@"
}

acls() {
  # shellcheck disable=SC2046 # tool_connection prints separate arguments (no spaces in them)
  timeout 120 "${KAFKA_TOOL[@]}" org.apache.kafka.tools.AclCommand $(tool_connection) "$@"
}

user_password() { cat "$KAFKA_SECRETS/$1.password"; }

# A CA, one certificate for every broker (CN=orderflow-broker, valid for
# 127.0.0.1 and localhost), and a random password per user; each made once.
make_kafka_secrets() {
  local user
  need_cmd openssl openssl
  mkdir -p "$KAFKA_SECRETS" "$KAFKA_TLS"
  chmod 700 "$KAFKA_SECRETS" "$KAFKA_TLS"
  for user in "${KAFKA_USERS[@]}"; do
    [[ -s $KAFKA_SECRETS/$user.password ]] && continue
    (umask 077 && openssl rand -hex 24 >"$KAFKA_SECRETS/$user.password")
  done
  [[ -s $KAFKA_TLS/broker.pem ]] && return 0
  say "kafka: making a CA and the broker certificate in $KAFKA_TLS"
  (
    cd "$KAFKA_TLS"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=orderflow local CA ($STACK)" \
      -keyout ca.key -out ca.pem
    # PKCS#8 (what Kafka's PEM key store reads), unencrypted: the file is mode 600.
    openssl req -newkey rsa:2048 -nodes -subj "/CN=orderflow-broker" -keyout broker.key -out broker.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile broker.ext -out broker.crt
    cat broker.key broker.crt ca.pem >broker.pem.tmp
    mv broker.pem.tmp broker.pem
    chmod 644 ca.pem
  ) >>"$LOG_DIR/kafka-tls.log" 2>&1 || die "kafka: openssl could not make the certificates (see $LOG_DIR/kafka-tls.log)"
}

write_admin_properties() {
  (umask 077 && cat >"$KAFKA_ADMIN_PROPERTIES" <<PROPS
# Written by deploy/local/stack.sh: the admin user's client settings.
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(user_password admin)";
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS/ca.pem
PROPS
  )
}

# Refuses to run Kafka in another mode than the one its data was made in.
check_kafka_mode() {
  if [[ -n $RECORDED_BROKERS && ($RECORDED_BROKERS != "$KAFKA_BROKERS" || $RECORDED_SECURITY != "$KAFKA_SECURITY") ]]; then
    die "stack '$STACK' was made with KAFKA_BROKERS=$RECORDED_BROKERS KAFKA_SECURITY=$RECORDED_SECURITY, not $KAFKA_BROKERS/$KAFKA_SECURITY; \`stack.sh destroy\` it first or pick another ORDERFLOW_STACK"
  fi
  printf 'KAFKA_BROKERS=%s\nKAFKA_SECURITY=%s\n' "$KAFKA_BROKERS" "$KAFKA_SECURITY" >"$KAFKA_MODE_FILE"
}

broker_state() { echo "$STATE_DIR/$1"; }

controller_voters() {
  local b voters=()
  for b in "${BROKERS[@]}"; do voters+=("$(broker_id "$b")@127.0.0.1:$(broker_controller_port "$b")"); done
  (IFS=,; echo "${voters[*]}")
}

render_kafka_config() {
  local comp=$1 state port listener=PLAINTEXT controller_protocol=PLAINTEXT
  state=$(broker_state "$comp")
  port=$(broker_port "$comp")
  if secured; then listener=SASL_SSL controller_protocol=SSL; fi
  mkdir -p "$state/data"
  (
    umask 077 # a secured broker's file holds the admin password
    sed -e "s|@NODE_ID@|$(broker_id "$comp")|g" \
        -e "s|@CONTROLLER_VOTERS@|$(controller_voters)|g" \
        -e "s|@LISTENER@|$listener|g" \
        -e "s|@CONTROLLER_PROTOCOL@|$controller_protocol|g" \
        -e "s|@KAFKA_PORT@|$port|g" \
        -e "s|@KAFKA_CONTROLLER_PORT@|$(broker_controller_port "$comp")|g" \
        -e "s|@KAFKA_DATA_DIR@|$state/data|g" \
        -e "s|@KAFKA_TOPIC_PARTITIONS@|$KAFKA_TOPIC_PARTITIONS|g" \
        -e "s|@KAFKA_REPLICATION_FACTOR@|$KAFKA_REPLICATION_FACTOR|g" \
        -e "s|@KAFKA_MIN_ISR@|$KAFKA_MIN_ISR|g" \
        "$SCRIPT_DIR/kafka/server.properties.in"
    if secured; then
      sed -e "s|@ADMIN_PASSWORD@|$(user_password admin)|g" -e "s|@TLS_DIR@|$KAFKA_TLS|g" \
        "$SCRIPT_DIR/kafka/server-sasl-ssl.properties.in"
    fi
  ) >"$state/server.properties"
}

format_kafka_storage() {
  local comp=$1 state id_file id scram=() user
  state=$(broker_state "$comp")
  [[ -f $state/data/meta.properties ]] && return 0
  # One cluster id for all nodes of the stack.
  id_file="$STATE_DIR/kafka/cluster.id"
  ((KAFKA_BROKERS > 1)) && id_file="$STATE_DIR/kafka-cluster.id"
  mkdir -p "$(dirname "$id_file")"
  if [[ ! -s $id_file ]]; then
    kafka_tool kafka.tools.StorageTool random-uuid >"$id_file.tmp" && mv "$id_file.tmp" "$id_file"
  fi
  id=$(<"$id_file")
  if secured; then
    # The SCRAM credentials go into the metadata log's bootstrap records, so the
    # brokers know every user before the first client (or broker) logs in.
    for user in "${KAFKA_USERS[@]}"; do
      scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(user_password "$user")]")
    done
  fi
  say "$comp: formatting storage (cluster id $id)"
  kafka_tool kafka.tools.StorageTool format --ignore-formatted -t "$id" \
      -c "$state/server.properties" "${scram[@]}" >>"$LOG_DIR/$comp.log" 2>&1 ||
    fail_component "$comp" "StorageTool format failed"
}

start_kafka() {
  local comp=$1 state
  state=$(broker_state "$comp")
  check_kafka_mode
  if secured; then
    make_kafka_secrets
    write_admin_properties
  fi
  render_kafka_config "$comp"
  format_kafka_storage "$comp"
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list of JVM flags
  launch "$comp" "$state" java $KAFKA_HEAP_OPTS \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$state/server.properties"
}

KAFKA_TOPIC_LIST=""
PROBE_BROKER=""
probe_kafka_port() { port_in_use "$(broker_port "$PROBE_BROKER")"; }
# Through this broker alone: it answers once it is unfenced (caught up).
probe_kafka() { KAFKA_TOPIC_LIST=$(TOOL_BOOTSTRAP="127.0.0.1:$(broker_port "$PROBE_BROKER")" topics --list 2>/dev/null); }

setup_kafka() {
  local comp=$1
  ((${KAFKA_SKIP_TOPICS:-0})) || create_kafka_topics "$comp"
  # ACLs need no topic: a test that makes its own topics still gets them.
  if secured; then setup_kafka_acls "$comp"; fi
}

create_kafka_topics() {
  local comp=$1 t missing=() attempt out pid pids retention min_isr=()
  ((KAFKA_MIN_ISR > 1)) && min_isr=(--config "min.insync.replicas=$KAFKA_MIN_ISR")
  for attempt in 1 2 3; do
    missing=()
    for t in "${TOPICS[@]}"; do
      grep -qxF "$KAFKA_NAMESPACE$t" <<<"$KAFKA_TOPIC_LIST" || missing+=("$KAFKA_NAMESPACE$t")
    done
    ((${#missing[@]})) || break
    say "kafka: creating topics ${missing[*]} (partitions $KAFKA_TOPIC_PARTITIONS, replication factor $KAFKA_REPLICATION_FACTOR, min ISR $KAFKA_MIN_ISR)"
    out=$(mktemp -d)
    # One JVM per topic (TopicCommand takes one topic), run in parallel. On a
    # loaded machine a JVM may time out after the broker created its topic, so
    # the outcome is judged by listing the topics, and what is missing is retried.
    pids=()
    for t in "${missing[@]}"; do
      retention=$KAFKA_CONTRACT_RETENTION_MS
      [[ $t == *.dlq ]] && retention=$KAFKA_DLQ_RETENTION_MS
      topics --create --if-not-exists --topic "$t" --partitions "$KAFKA_TOPIC_PARTITIONS" \
        --replication-factor "$KAFKA_REPLICATION_FACTOR" --config "retention.ms=$retention" \
        "${min_isr[@]}" >"$out/$t" 2>&1 &
      pids+=($!)
    done
    # Only these: a bare `wait` would also wait for the components this shell started.
    for pid in "${pids[@]}"; do wait "$pid" || true; done
    cat "$out"/* >>"$LOG_DIR/$comp.log"
    rm -rf "$out"
    KAFKA_TOPIC_LIST=$(topics --list 2>/dev/null) || KAFKA_TOPIC_LIST=""
    ((attempt < 3)) && [[ -z $KAFKA_TOPIC_LIST ]] && say "kafka: topic list failed (attempt $attempt)"
  done
  for t in "${TOPICS[@]}"; do
    grep -qxF "$KAFKA_NAMESPACE$t" <<<"$KAFKA_TOPIC_LIST" ||
      fail_component "$comp" "topic $KAFKA_NAMESPACE$t missing after 3 attempts (see the log)"
  done
}

# What each user may do, one line per AclCommand run: user, operations, then
# resources (t:<topic> or g:<group>, all under KAFKA_NAMESPACE). Read and
# Write imply Describe; Write implies IdempotentWrite (the producers are
# idempotent, not transactional). Nothing else is allowed: no ACL, no access.
KAFKA_ACLS=(
  "order Read t:orders t:payments t:shipments g:order-service g:order-status-projector"
  "order Write t:orders t:order-service.dlq t:order-status-projector.dlq"
  "payment Read t:orders g:payment-service"
  "payment Write t:payments t:payment-service.dlq"
  "shipping Read t:orders t:payments g:shipping-service"
  "shipping Write t:shipments t:shipping-service.dlq"
  # The orderflow tool: reads everything, resets the services' offsets (Read on
  # a group), redrives dead letters into the contract topics.
  "orderflow Read t:orders t:payments t:shipments t:order-service.dlq t:order-status-projector.dlq t:payment-service.dlq t:shipping-service.dlq g:orderflow-cli g:order-service g:order-status-projector g:payment-service g:shipping-service"
  "orderflow Write t:orders t:payments t:shipments"
)

# Grants KAFKA_ACLS in the namespace, once per namespace (a marker in the data
# of the first broker remembers it; ACLs live in the cluster's metadata).
setup_kafka_acls() {
  local comp=$1 marker line user op resource args pids=() pid out failed=0 i=0
  marker="$(broker_state "${BROKERS[0]}")/data/.acls-$(printf '%s' "$KAFKA_NAMESPACE ${KAFKA_ACLS[*]}" | sha256sum | cut -c1-16)"
  [[ -f $marker ]] && return 0
  say "kafka: granting the services' ACLs${KAFKA_NAMESPACE:+ in namespace $KAFKA_NAMESPACE}"
  out=$(mktemp -d)
  for line in "${KAFKA_ACLS[@]}"; do
    read -r user op resource <<<"$line"
    args=(--add --allow-principal "User:$user" --operation "$op")
    for resource in ${line#"$user $op "}; do
      case $resource in
        t:*) args+=(--topic "$KAFKA_NAMESPACE${resource#t:}") ;;
        g:*) args+=(--group "$KAFKA_NAMESPACE${resource#g:}") ;;
      esac
    done
    acls "${args[@]}" >"$out/$i" 2>&1 &
    pids+=($!)
    i=$((i + 1))
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  cat "$out"/* >>"$LOG_DIR/$comp.log"
  rm -rf "$out"
  ((failed == 0)) || fail_component "$comp" "granting the ACLs failed (see the log)"
  touch "$marker"
}

# ---------------------------------------------------------------------------
# registry (Apicurio Registry, SQL storage on the stack's postgres)
# ---------------------------------------------------------------------------

REGISTRY_STATE="$STATE_DIR/registry"
CCOMPAT="http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
REGISTRY_V3="http://127.0.0.1:$REGISTRY_PORT/apis/registry/v3"

fetch_registry() {
  [[ -f $APICURIO_HOME/registry.jar ]] && return 0
  local tmp artifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all"
  say "registry: fetching $artifact with Maven into $APICURIO_HOME"
  tmp=$(mktemp -d "$CACHE_DIR/.apicurio.XXXXXX")
  # dependency:copy takes it from ~/.m2 when present, else from Maven Central.
  if ! mvn_quiet dependency:copy -Dartifact="$artifact" -DoutputDirectory="$tmp/download"; then
    rm -rf "$tmp"
    die "registry: Maven could not fetch $artifact"
  fi
  mkdir "$tmp/app"
  tar -xzf "$tmp/download/"*.tar.gz -C "$tmp/app"
  rm -rf "$tmp/download"
  # A Quarkus app: fast-jar (quarkus-run.jar, 3.1+) or legacy-jar (*-runner.jar
  # with lib/ beside it, 3.0.x). Find the launcher wherever it sits and link it
  # as registry.jar; its manifest class path is relative to its folder.
  local jar
  jar=$(find "$tmp/app" \( -name quarkus-run.jar -o -name '*-runner.jar' \) -print -quit)
  [[ -n $jar ]] || { rm -rf "$tmp"; die "registry: no Quarkus launcher jar in $artifact"; }
  rm -rf "$APICURIO_HOME"
  mv "$(dirname "$jar")" "$APICURIO_HOME"
  ln -s "$(basename "$jar")" "$APICURIO_HOME/registry.jar"
  rm -rf "$tmp"
}

install_registry() {
  need_cmd java openjdk-17-jre-headless
  need_cmd mvn maven
  [[ -f $APICURIO_HOME/registry.jar ]] || with_cache_lock fetch_registry
}

# Picks REGISTRY_JAVA_HOME, else JAVA_HOME, else the first JDK under
# /usr/lib/jvm that is at least APICURIO_MIN_JAVA (17 for Apicurio 3.0.x).
registry_java() {
  local j v
  for j in ${REGISTRY_JAVA_HOME:+"$REGISTRY_JAVA_HOME"} ${JAVA_HOME:+"$JAVA_HOME"} /usr/lib/jvm/*; do
    [[ -x $j/bin/java ]] || continue
    v=$("$j/bin/java" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')
    if [[ $v =~ ^[0-9]+$ ]] && ((v >= APICURIO_MIN_JAVA)); then
      echo "$j/bin/java"
      return 0
    fi
  done
  return 1
}

start_registry() {
  local java
  require_running registry postgres
  java=$(registry_java) ||
    die "registry: Apicurio $APICURIO_VERSION needs Java >= $APICURIO_MIN_JAVA; none found (set REGISTRY_JAVA_HOME)"
  mkdir -p "$REGISTRY_STATE/tmp"
  # Apicurio 3 reads its config from env vars: apicurio.x.y <- APICURIO_X_Y.
  # validate-on-borrow: after a postgres restart the pool drops dead
  # connections instead of failing the first requests with HTTP 500.
  # shellcheck disable=SC2086 # REGISTRY_HEAP_OPTS is a list of JVM flags
  launch registry "$REGISTRY_STATE" env \
    QUARKUS_HTTP_HOST=127.0.0.1 \
    QUARKUS_HTTP_PORT="$REGISTRY_PORT" \
    QUARKUS_MANAGEMENT_HOST=127.0.0.1 \
    QUARKUS_MANAGEMENT_PORT="$REGISTRY_MANAGEMENT_PORT" \
    APICURIO_STORAGE_KIND=sql \
    APICURIO_STORAGE_SQL_KIND=postgresql \
    APICURIO_DATASOURCE_URL="jdbc:postgresql://127.0.0.1:$PG_PORT/registry" \
    APICURIO_DATASOURCE_USERNAME="$PG_USER" \
    APICURIO_DATASOURCE_PASSWORD="$PG_PASSWORD" \
    APICURIO_DATASOURCE_JDBC_INITIAL_SIZE=2 \
    APICURIO_DATASOURCE_JDBC_MIN_SIZE=2 \
    APICURIO_DATASOURCE_JDBC_MAX_SIZE=20 \
    QUARKUS_DATASOURCE_POSTGRESQL_JDBC_VALIDATE_ON_BORROW=true \
    APICURIO_REST_DELETION_GROUP_ENABLED=true \
    APICURIO_REST_DELETION_ARTIFACT_ENABLED=true \
    APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED=true \
    APICURIO_STORAGE_SNAPSHOT_LOCATION="$REGISTRY_STATE/tmp" \
    APICURIO_IMPORT_WORK_DIR="$REGISTRY_STATE/tmp" \
    QUARKUS_LOG_CONSOLE_FORMAT='%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p [%c{3.}] (%t) %s%e%n' \
    "$java" $REGISTRY_HEAP_OPTS -Djava.io.tmpdir="$REGISTRY_STATE/tmp" \
    -jar "$APICURIO_HOME/registry.jar"
}

probe_registry() { [[ $(http_code "$CCOMPAT/subjects") == 200 ]]; }

SR_JSON='Content-Type: application/vnd.schemaregistry.v1+json'

setup_registry() {
  local body code
  # Global compatibility BACKWARD through the Confluent-compatible API. In
  # Apicurio 3 this writes the global COMPATIBILITY rule (table global_rules),
  # the same one as POST /apis/registry/v3/admin/rules.
  code=$(http_code -X PUT -H "$SR_JSON" --data '{"compatibility":"BACKWARD"}' "$CCOMPAT/config")
  [[ $code == 200 ]] || fail_component registry "PUT $CCOMPAT/config returned HTTP $code"
  body=$(curl -s --max-time 5 "$CCOMPAT/config" || true)
  [[ $body == *'"compatibilityLevel":"BACKWARD"'* ]] ||
    fail_component registry "GET $CCOMPAT/config reads back '$body', expected BACKWARD"

  code=$(breaking_change_code)
  if [[ $code != 409 ]]; then
    # A registry whose ccompat config does not reach the native rule: set the
    # native global rule explicitly and try again.
    warn "registry: breaking schema change got HTTP $code despite BACKWARD; setting the native global rule"
    code=$(http_code -X PUT -H 'Content-Type: application/json' \
      --data '{"ruleType":"COMPATIBILITY","config":"BACKWARD"}' "$REGISTRY_V3/admin/rules/COMPATIBILITY")
    [[ $code == 200 || $code == 204 ]] ||
      http_code -X POST -H 'Content-Type: application/json' \
        --data '{"ruleType":"COMPATIBILITY","config":"BACKWARD"}' "$REGISTRY_V3/admin/rules" >/dev/null
    code=$(breaking_change_code)
  fi
  [[ $code == 409 ]] ||
    fail_component registry "a BACKWARD-incompatible schema was answered with HTTP $code, expected 409"
}

# Proves the rule is enforced: registers a throwaway subject, then tries a
# breaking version (a new field without default) and prints the HTTP status
# of that attempt (409 = rejected, as it should be). Deletes the subject.
breaking_change_code() {
  local subject="stackcheck-$RANDOM$RANDOM" code
  local v1='{"schema":"{\"type\":\"record\",\"name\":\"Check\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}"}'
  local v2='{"schema":"{\"type\":\"record\",\"name\":\"Check\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"},{\"name\":\"b\",\"type\":\"string\"}]}"}'
  code=$(http_code -X POST -H "$SR_JSON" --data "$v1" "$CCOMPAT/subjects/$subject/versions")
  [[ $code == 200 ]] || fail_component registry "registering throwaway subject $subject returned HTTP $code"
  code=$(http_code -X POST -H "$SR_JSON" --data "$v2" "$CCOMPAT/subjects/$subject/versions")
  http_code -X DELETE "$CCOMPAT/subjects/$subject" >/dev/null
  http_code -X DELETE "$CCOMPAT/subjects/$subject?permanent=true" >/dev/null
  echo "$code"
}

# ---------------------------------------------------------------------------
# jaeger (optional): the all-in-one trace store, built once per machine from
# the Go module proxy into $ORDERFLOW_CACHE/tools (a module of its own whose
# only tool is Jaeger's main package, so Jaeger's go.mod pins its dependencies)
# ---------------------------------------------------------------------------

build_jaeger() {
  local dir=${JAEGER_BIN%/*}
  [[ -x $JAEGER_BIN ]] && return 0
  mkdir -p "$dir/module"
  export GOMODCACHE=${GOMODCACHE:-$ORDERFLOW_CACHE/go/mod} GOCACHE=${GOCACHE:-$ORDERFLOW_CACHE/go/cache} GOFLAGS=-mod=mod
  say "jaeger: building Jaeger $JAEGER_VERSION with go into $JAEGER_BIN (once per machine; minutes)"
  (
    cd "$dir/module"
    [[ -f go.mod ]] || go mod init orderflow.local/tools/jaeger >/dev/null 2>&1
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" &&
      go build -o "$JAEGER_BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger &&
      mv "$JAEGER_BIN.tmp" "$JAEGER_BIN"
  ) >"$dir/build.log" 2>&1 || die "jaeger: go build failed; see $dir/build.log"
}

install_jaeger() {
  [[ -x $JAEGER_BIN ]] && return 0
  command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"
  need_cmd go golang-go
  mkdir -p "$ORDERFLOW_CACHE/tools"
  (
    flock -w 1800 8 || die "timed out waiting for $ORDERFLOW_CACHE/tools/.jaeger.lock"
    build_jaeger
  ) 8>"$ORDERFLOW_CACHE/tools/.jaeger.lock"
}

start_jaeger() {
  local dir="$STATE_DIR/jaeger"
  mkdir -p "$dir"
  sed -e "s/@UI_PORT@/$JAEGER_UI_PORT/" -e "s/@QUERY_GRPC_PORT@/$JAEGER_QUERY_GRPC_PORT/" \
    -e "s/@OTLP_GRPC_PORT@/$JAEGER_OTLP_GRPC_PORT/" -e "s/@OTLP_HTTP_PORT@/$JAEGER_OTLP_HTTP_PORT/" \
    -e "s/@HEALTH_PORT@/$JAEGER_HEALTH_PORT/" \
    "$SCRIPT_DIR/jaeger/config.yaml.in" >"$dir/config.yaml"
  launch jaeger "$dir" "$JAEGER_BIN" --config "$dir/config.yaml"
}

probe_jaeger() { [[ $(http_code "http://127.0.0.1:$JAEGER_UI_PORT/api/services") == 200 ]]; }

# The OTLP endpoint services export to: Jaeger's while it runs, none otherwise.
otlp_endpoint() {
  running_pid jaeger >/dev/null && echo "http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT"
  return 0
}

# Whether a running service exports to where otlp_endpoint says.
exports_as_configured() {
  local pid=$1 current
  current=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | sed -n 's/^OTEL_EXPORTER_OTLP_ENDPOINT=//p')
  [[ $current == "$(otlp_endpoint)" ]]
}

# ---------------------------------------------------------------------------
# order-service, payment-service, shipping-service
# ---------------------------------------------------------------------------

SERVICES_BUILT=0

# librdkafka's TLS and SASL/SCRAM come from an OpenSSL built from source with
# the services (rdkafka's ssl-vendored): its Configure needs make and a full
# perl (Debian's perl-base lacks modules it uses).
install_build_deps() {
  need_cmd make make
  perl -MIPC::Cmd -MFile::Compare -e 1 2>/dev/null || apt_install perl
  perl -MIPC::Cmd -MFile::Compare -e 1 2>/dev/null || die "perl still lacks IPC::Cmd after installing perl"
}

service_bin() { echo "$CARGO_TARGET_DIR/$PROFILE/$1"; }

service_port() {
  case $1 in
    order-service) echo "$ORDER_PORT" ;;
    payment-service) echo "$PAYMENT_PORT" ;;
    shipping-service) echo "$SHIPPING_PORT" ;;
  esac
}

install_service() {
  local s need=0
  ((SERVICES_BUILT)) && return 0
  # cargo is incremental: building on every `up` costs little when nothing
  # changed and picks up every change (a running service whose binary changed
  # is restarted). ORDERFLOW_SKIP_BUILD=1 uses the binaries as they are.
  need=1
  if [[ ${ORDERFLOW_SKIP_BUILD:-0} == 1 ]]; then
    need=0
    for s in order-service payment-service shipping-service; do
      [[ -x $(service_bin "$s") ]] || need=1
    done
  fi
  ((need)) || return 0
  command -v cargo >/dev/null 2>&1 || PATH="$HOME/.cargo/bin:$PATH"
  command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust, or put ~/.cargo/bin on PATH)"
  install_build_deps
  say "building the services: cargo build --bins ${CARGO_PROFILE_ARGS[*]} (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --bins "${CARGO_PROFILE_ARGS[@]}") ||
    die "cargo build --bins failed"
  SERVICES_BUILT=1
}

start_service() {
  local name=$1 prefix db bin
  case $name in
    order-service) prefix=ORDER db=orders ;;
    payment-service) prefix=PAYMENT db=payments ;;
    shipping-service) prefix=SHIPPING db=shipping ;;
  esac
  require_running "$name" postgres registry
  require_a_broker "$name"
  bin=$(service_bin "$name")
  [[ -x $bin ]] || die "$name: $bin does not exist (run: stack.sh up $name)"
  local otlp=() endpoint
  endpoint=$(otlp_endpoint)
  [[ -n $endpoint ]] && otlp=(OTEL_EXPORTER_OTLP_ENDPOINT="$endpoint" OTEL_SERVICE_NAME="$name")
  local kafka=(ORDERFLOW__KAFKA__BOOTSTRAP_SERVERS="$(kafka_bootstrap)"
    ORDERFLOW__KAFKA__NAMESPACE="$KAFKA_NAMESPACE")
  if secured; then
    # The service's own user (order, payment, shipping) under its own prefix.
    kafka+=(ORDERFLOW__KAFKA__SECURITY_PROTOCOL=SASL_SSL
      ORDERFLOW__KAFKA__SASL_MECHANISM=SCRAM-SHA-512
      ORDERFLOW__KAFKA__SSL_CA_LOCATION="$KAFKA_TLS/ca.pem"
      "${prefix}__KAFKA__SASL_USERNAME=${name%-service}"
      "${prefix}__KAFKA__SASL_PASSWORD_FILE=$KAFKA_SECRETS/${name%-service}.password")
  fi
  launch "$name" "$ROOT" env "${otlp[@]}" "${kafka[@]}" \
    ORDERFLOW__REGISTRY__URL="$CCOMPAT" \
    "${prefix}__DATABASE__URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$db" \
    "${prefix}__HTTP__HOST=127.0.0.1" \
    "${prefix}__HTTP__PORT=$(service_port "$name")" \
    ORDER__GRPC__PORT="$ORDER_GRPC_PORT" \
    RUST_LOG="${RUST_LOG:-info}" \
    "$bin"
}

SERVICE_PROBE_PORT=""
probe_service() { [[ $(http_code "http://127.0.0.1:$SERVICE_PROBE_PORT/health/ready") == 200 ]]; }

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
      ORDERFLOW_ORDER_URL ORDERFLOW_PAYMENT_URL ORDERFLOW_SHIPPING_URL; do
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
