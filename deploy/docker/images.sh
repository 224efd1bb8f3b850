#!/usr/bin/env bash
# images.sh: builds the service images from binaries built on this (Linux) host, with the
# `prebuilt` target of deploy/docker/Dockerfile, and optionally saves them as archives for
# `kind load image-archive`.
#
# Usage: deploy/docker/images.sh build          build (cargo, then one image per service and
#                                               one of the orderflow tool)
#        deploy/docker/images.sh save DIR       build, then write DIR/<service>.tar
#        deploy/docker/images.sh check-archives  build and save, then import the archives
#                                               into a private containerd (what `kind load
#                                               image-archive` does on each node) and check
#                                               they are found under the names the chart's
#                                               kind profile asks for
#        deploy/docker/images.sh env            `export` lines for the image tests
#                                               (ORDERFLOW_TEST_IMAGE_ENGINE, ..._REPO,
#                                               ..._TAG, CONTAINERS_CONF)
#
# Each image is tagged $IMAGE_REPO/<service>:$IMAGE_TAG, e.g.
# docker.io/orderflow/order-service:0.1.0: the fully qualified name that the chart's
# `orderflow/order-service:0.1.0` means to a kubelet, so an archive loaded into kind is found
# by it (podman would otherwise store a short name under localhost/).
#
# Before building, each binary's shared libraries (ldd) are listed, and each built image is
# started once without settings: it must get as far as its own configuration error, which
# shows that the base image has every library the binary links.
#
# Environment:
#   IMAGE_ENGINE   docker or podman; by default a Docker engine that answers `docker info`,
#                  else podman, installed when missing (deploy/tools.sh engine: the rule every
#                  script that builds or runs images follows)
#   IMAGE_PROFILE  release (default) or debug: the cargo profile of the binaries (CI uses
#                  debug, which `make test` has built already)
#   IMAGE_REPO     default docker.io/orderflow
#   IMAGE_TAG      default: the chart's appVersion
#   CARGO_TARGET_DIR  where cargo builds (default: target in the clone)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SERVICES=(order-service payment-service shipping-service)
# Images beside the services': the `orderflow` debugging and replay tool (run as a Job or
# `kubectl run`; the chart does not deploy it).
TOOLS=(orderflow)
PROFILE=${IMAGE_PROFILE:-release}
REPO=${IMAGE_REPO:-docker.io/orderflow}
TAG=${IMAGE_TAG:-$(sed -n 's/^appVersion: "\(.*\)"$/\1/p' "$ROOT/helm/orderflow/Chart.yaml")}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

say() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $PROFILE == release || $PROFILE == debug ]] || die "IMAGE_PROFILE must be release or debug"
[[ -n $TAG ]] || die "no IMAGE_TAG and no appVersion in helm/orderflow/Chart.yaml"

ENGINE=$("$ROOT/deploy/tools.sh" engine)
if [[ $ENGINE == podman ]]; then
  CONTAINERS_CONF=$("$ROOT/deploy/tools.sh" podman)
  export CONTAINERS_CONF
fi

print_env() {
  printf 'export ORDERFLOW_TEST_IMAGE_ENGINE=%q ORDERFLOW_TEST_IMAGE_REPO=%q ORDERFLOW_TEST_IMAGE_TAG=%q\n' \
    "$ENGINE" "$REPO" "$TAG"
  [[ -z ${CONTAINERS_CONF:-} ]] || printf 'export CONTAINERS_CONF=%q\n' "$CONTAINERS_CONF"
}

build() {
  local service bin stage out libs previous
  # No registry is reachable on these machines: the base is made with debootstrap.
  if [[ $ENGINE == podman ]] && ! podman image exists debian:bookworm-slim; then
    "$ROOT/deploy/tools.sh" base-image
  fi
  local cargo_args=(build --bins -p order-service -p payment-service -p shipping-service -p orderflow-cli)
  local pull=()
  [[ $ENGINE == podman ]] && pull=(--pull=never)
  [[ $PROFILE == release ]] && cargo_args+=(--release)
  say "cargo ${cargo_args[*]}"
  (cd "$ROOT" && cargo "${cargo_args[@]}")
  stage=$(mktemp -d)
  for service in "${SERVICES[@]}" "${TOOLS[@]}"; do
    bin="$TARGET_DIR/$PROFILE/$service"
    libs=$(ldd "$bin")
    [[ $libs != *"not found"* ]] || die "$service: a shared library is missing on this host: $libs"
    say "$service links: $(awk '{print $1}' <<<"$libs" | sort | tr '\n' ' ')"
    rm -rf "${stage:?}"/* && cp "$bin" "$stage/$service"
    say "$ENGINE build $REPO/$service:$TAG ($PROFILE binary)"
    previous=$("$ENGINE" image inspect --format '{{.Id}}' "$REPO/$service:$TAG" 2>/dev/null || true)
    "$ENGINE" build --quiet "${pull[@]}" -f "$ROOT/deploy/docker/Dockerfile" --target prebuilt \
      --build-arg "SERVICE=$service" --build-arg "VERSION=$TAG" \
      --build-arg "REVISION=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
      --build-arg "SOURCE=$(git -C "$ROOT" remote get-url origin 2>/dev/null || echo unknown)" \
      -t "$REPO/$service:$TAG" "$stage" >/dev/null
    # The image this build replaced would stay behind untagged, one per build.
    if [[ -n $previous && $previous != $("$ENGINE" image inspect --format '{{.Id}}' "$REPO/$service:$TAG") ]]; then
      "$ENGINE" rmi "$previous" >/dev/null 2>&1 || true
    fi
    if [[ $service == orderflow ]]; then
      # The tool runs as the image's user and answers its help without any stack.
      out=$("$ENGINE" run --rm --read-only --network none "$REPO/$service:$TAG" --help 2>&1) ||
        die "$service --help failed: $out"
      [[ $out == *"Usage: orderflow"* ]] || die "$service --help printed: $out"
      say "$service: image runs (--help)"
      continue
    fi
    # Started without settings, the service must stop at its configuration, not at the
    # dynamic loader (exit 127, "error while loading shared libraries").
    out=$("$ENGINE" run --rm --read-only --network none "$REPO/$service:$TAG" 2>&1) &&
      die "$service started without settings"
    [[ $out == *"database"* ]] || die "$service did not reach its settings: $out"
    say "$service: image runs (stopped at its settings as expected)"
  done
  rm -rf "$stage"
}

save() {
  local service
  build
  mkdir -p "$1"
  for service in "${SERVICES[@]}" "${TOOLS[@]}"; do
    rm -f "$1/$service.tar"
    "$ENGINE" save -o "$1/$service.tar" "$REPO/$service:$TAG"
    say "saved $1/$service.tar"
  done
}

# A kubelet asks containerd for the chart's image reference fully qualified
# (orderflow/x:1 -> docker.io/orderflow/x:1); a loaded archive must carry that name.
check_archives() {
  local dir want have service image pid
  "$ROOT/deploy/tools.sh" containerd
  dir=$(mktemp -d)
  save "$dir/archives"
  containerd --root "$dir/root" --state "$dir/state" --address "$dir/containerd.sock" \
    >"$dir/containerd.log" 2>&1 &
  pid=$!
  # shellcheck disable=SC2064 # the values are meant to be fixed now
  trap "kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf '$dir'" EXIT
  for _ in $(seq 100); do [[ -S $dir/containerd.sock ]] && break; sleep 0.1; done
  for service in "${SERVICES[@]}"; do
    ctr --address "$dir/containerd.sock" --namespace k8s.io images import --all-platforms \
      "$dir/archives/$service.tar" >/dev/null
  done
  have=$(ctr --address "$dir/containerd.sock" --namespace k8s.io images list --quiet)
  want=$("$("$ROOT/deploy/tools.sh" helm3)" template orderflow "$ROOT/helm/orderflow" \
    --kube-version 1.35.0 -f "$ROOT/helm/orderflow/values-kind.yaml" --set "image.tag=$TAG" |
    sed -n 's#^ *image: \(orderflow/.*\)$#docker.io/\1#p' | sort -u)
  [[ $(wc -l <<<"$want") == "${#SERVICES[@]}" ]] || die "the chart asks for: $want"
  for image in $want; do
    grep -qx "$image" <<<"$have" || die "containerd has no $image after import: $have"
    say "containerd found $image, as a kind node would"
  done
}

case ${1:-} in
  build) build ;;
  env) print_env ;;
  save)
    [[ -n ${2:-} ]] || die "usage: images.sh save DIR"
    save "$2"
    ;;
  check-archives) check_archives ;;
  *) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" >&2; exit 2 ;;
esac
