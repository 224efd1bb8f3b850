#!/usr/bin/env bash
# kind.sh: orderflow on a local kind cluster, in one command.
#
# Usage: deploy/kind/kind.sh up     create the cluster if missing (deploy/kind/cluster.yaml),
#                                   build the service images, load them into the nodes,
#                                   `helm upgrade --install --wait` with the kind profile,
#                                   then `helm test` (an order to SHIPMENT_SCHEDULED)
#        deploy/kind/kind.sh down   delete the cluster
#
# Needs a Docker engine, or podman with KIND_EXPERIMENTAL_PROVIDER=podman (chosen when no
# Docker engine answers, as deploy/tools.sh engine decides; IMAGE_ENGINE overrides), and a registry the nodes can pull the infrastructure images
# from (apache/kafka, apicurio/apicurio-registry, postgres, python). kind and helm are
# installed on first use by deploy/tools.sh. The API is then at http://127.0.0.1:30080.
#
# Environment: KIND_CLUSTER (default orderflow), ORDERFLOW_K8S_NAMESPACE (default
# orderflow), IMAGE_PROFILE (default release), HELM_TIMEOUT (default 15m).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER=${KIND_CLUSTER:-orderflow}
NAMESPACE=${ORDERFLOW_K8S_NAMESPACE:-orderflow}
RELEASE=orderflow

say() { printf '[kind] %s\n' "$*" >&2; }

# One rule for every script that builds or runs images (deploy/tools.sh engine).
IMAGE_ENGINE=$("$ROOT/deploy/tools.sh" engine)
export IMAGE_ENGINE
[[ $IMAGE_ENGINE == docker ]] || export KIND_EXPERIMENTAL_PROVIDER=podman
KIND=$("$ROOT/deploy/tools.sh" kind)
HELM=$("$ROOT/deploy/tools.sh" helm3)

up() {
  local archives service
  if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    say "cluster $CLUSTER exists"
  else
    say "creating cluster $CLUSTER ($IMAGE_ENGINE)"
    "$KIND" create cluster --name "$CLUSTER" --config "$ROOT/deploy/kind/cluster.yaml" --wait 5m
  fi
  archives=$(mktemp -d)
  trap 'rm -rf "$archives"' EXIT
  "$ROOT/deploy/docker/images.sh" save "$archives"
  for service in order-service payment-service shipping-service; do
    "$KIND" load image-archive "$archives/$service.tar" --name "$CLUSTER"
  done
  say "helm upgrade --install $RELEASE (namespace $NAMESPACE)"
  "$HELM" upgrade --install "$RELEASE" "$ROOT/helm/orderflow" \
    --kube-context "kind-$CLUSTER" --namespace "$NAMESPACE" --create-namespace \
    -f "$ROOT/helm/orderflow/values-kind.yaml" --wait --timeout "${HELM_TIMEOUT:-15m}"
  "$HELM" test "$RELEASE" --kube-context "kind-$CLUSTER" --namespace "$NAMESPACE" --logs
  say "orderflow runs: http://127.0.0.1:30080 (see: helm status $RELEASE -n $NAMESPACE)"
}

case ${1:-} in
  up) up ;;
  down) "$KIND" delete cluster --name "$CLUSTER" ;;
  *) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" >&2; exit 2 ;;
esac
