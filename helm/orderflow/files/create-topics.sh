#!/usr/bin/env bash
# The topic Job: creates each topic unless it exists, through the Kafka admin API
# (kafka-topics.sh). Idempotent: `--if-not-exists`, and an existing topic keeps its partitions
# and configs, so the Job can run before every install and upgrade.
#
# Environment: BOOTSTRAP (host:port,...), REPLICATION_FACTOR, TOPICS (one "name partitions
# retention.ms" per line; retention optional), TOPIC_CONFIGS (space-separated key=value, may be empty), COMMAND_CONFIG (a client
# properties file for a secured cluster, optional), KAFKA_TOPICS (the tool; default the
# apache/kafka image's).
set -euo pipefail
kafka=${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}
args=(--bootstrap-server "$BOOTSTRAP")
if [ -n "${COMMAND_CONFIG:-}" ]; then args+=(--command-config "$COMMAND_CONFIG"); fi
configs=()
for config in ${TOPIC_CONFIGS:-}; do configs+=(--config "$config"); done

# The broker may still be starting (the dev profile installs it with the release).
until "$kafka" "${args[@]}" --list >/dev/null; do echo "waiting for Kafka at $BOOTSTRAP"; sleep 3; done
while read -r topic partitions retention; do
  [ -n "$topic" ] || continue
  retention_config=()
  if [ -n "$retention" ]; then retention_config=(--config "retention.ms=$retention"); fi
  "$kafka" "${args[@]}" --create --if-not-exists --topic "$topic" --partitions "$partitions" \
    --replication-factor "$REPLICATION_FACTOR" "${configs[@]}" "${retention_config[@]}"
  echo "topic $topic: present"
done <<<"$TOPICS"
