# shellcheck shell=bash
# stack.sh's registry: Apicurio Registry from Maven Central, on the stack's PostgreSQL, with the
# compatibility rules the contract needs.
# Sourced by deploy/local/stack.sh, whose settings and helpers it uses; not run alone.

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
