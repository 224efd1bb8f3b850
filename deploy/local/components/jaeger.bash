# shellcheck shell=bash
# stack.sh's jaeger: Jaeger all-in-one (optional), built once per machine from the Go module
# proxy.
# Sourced by deploy/local/stack.sh, whose settings and helpers it uses; not run alone.

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
