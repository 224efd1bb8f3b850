# shellcheck shell=bash
# stack.sh's kafka: Apache Kafka in KRaft mode from Maven Central: one node or a cluster,
# plaintext or SASL_SSL, the contract and dead-letter topics and the ACLs.
# Sourced by deploy/local/stack.sh, whose settings and helpers it uses; not run alone.

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
