# shellcheck shell=bash
# stack.sh's services: order-service, payment-service and shipping-service: built with cargo,
# started against the stack.
# Sourced by deploy/local/stack.sh, whose settings and helpers it uses; not run alone.

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
