#!/usr/bin/env bash
# tools.sh: installs, on first use, the tools of the Kubernetes checks and image builds, and
# prints where they are. Everything lands under ORDERFLOW_TOOLS (outside the clone), so fresh
# clones and CI runs on the same machine reuse it.
#
# Usage: deploy/tools.sh <tool>
#   helm3         helm v3 built from the Go module proxy; prints its path
#   helm4         helm v4, likewise
#   kubeconform   kubeconform, likewise
#   kind          kind, likewise (for `make kind-up`; not used by the checks)
#   python        a Python venv with kubernetes-validate, pytest and PyYAML; prints its python
#   schemathesis  schemathesis (the REST API fuzzer of `make api-check`) in a venv of its own,
#                 so its dependencies never move the chart tests' pins; prints its executable
#   schemas VER   kubernetes-validate's strict JSON schemas of Kubernetes VER (e.g. 1.30)
#                 with their $id/$ref rewritten to local files, as kubeconform reads them;
#                 prints the folder
#   engine        the container engine that builds and runs the images, chosen by whether it
#                 works: IMAGE_ENGINE when set (docker or podman, an error when it does not
#                 work), else a Docker engine that answers `docker info`, else podman
#                 (installed when missing); prints its name. Every script that builds or runs
#                 images asks this, so they all follow one rule
#   podman        podman, buildah and skopeo from apt, and a containers.conf these machines
#                 need; prints the CONTAINERS_CONF path
#   containerd    containerd and ctr from apt (the images' archive check)
#   `shellcheck`  shellcheck from apt (`make scripts-check`); prints its path
#   base-image    the image debian:bookworm-slim in podman's store: no registry is
#                 reachable here, so it is `debootstrap --variant=minbase bookworm`, imported
#                 once from a tarball kept under ORDERFLOW_TOOLS
#
# Environment:
#   ORDERFLOW_TOOLS   cache folder (default: /var/cache/orderflow/tools)
#   IMAGE_ENGINE      docker or podman: the engine `engine` must choose (default: see there)
#   GOPATH, GOMODCACHE, GOCACHE default to folders beside it (/var/cache/orderflow/go).

set -euo pipefail

TOOLS=${ORDERFLOW_TOOLS:-/var/cache/orderflow/tools}
GO_CACHE=$(dirname "$TOOLS")/go
HELM3_VERSION=v3.22.0
HELM4_VERSION=v4.3.1
KUBECONFORM_VERSION=v0.7.0
KIND_VERSION=v0.33.0
PY_REQUIREMENTS=(kubernetes-validate==1.37.0 pytest==9.2.0 pyyaml==6.0.3)
SCHEMATHESIS_REQUIREMENTS=(schemathesis==4.32.5)

say() { printf '[tools] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

apt_install() {
  say "apt-get install $*"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# go_tool <folder> <module/cmd@version> <binary>: `go install` into its own folder.
go_tool() {
  local dir="$TOOLS/$1" bin="$TOOLS/$1/$3"
  if [[ ! -x $bin ]]; then
    command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
    command -v go >/dev/null || { say "go is needed to build $2 (apt-get install golang-go)"; exit 1; }
    say "go install $2 (once; a few minutes)"
    mkdir -p "$dir"
    GOBIN="$dir" GOPATH="${GOPATH:-$GO_CACHE}" GOMODCACHE="${GOMODCACHE:-$GO_CACHE/mod}" \
      GOCACHE="${GOCACHE:-$GO_CACHE/cache}" GOFLAGS=-mod=mod go install "$2" >&2
  fi
  echo "$bin"
}

# venv <folder> <requirement>...: a Python venv under TOOLS holding exactly these pins,
# (re)installed when they change; prints its bin folder.
venv() {
  local venv="$TOOLS/$1" stamp
  shift
  stamp=$(printf '%s\n' "$@" | sha256sum | cut -c1-16)
  if [[ ! -f $venv/.stamp-$stamp ]]; then
    say "Python venv $venv: $*"
    python3 -m venv "$venv" >&2 ||
      { apt_install python3-venv && python3 -m venv "$venv" >&2; }
    "$venv/bin/pip" install -q "$@" >&2
    touch "$venv/.stamp-$stamp"
  fi
  echo "$venv/bin"
}

python_venv() { echo "$(venv venv "${PY_REQUIREMENTS[@]}")/python"; }

# kubernetes-validate's schemas name each other by absolute URLs ($id
# https://kubernetes.io/api/..., $ref /api/_definitions.json#...); kubeconform reads plain
# files, so the references are made relative to the folder.
schemas() {
  local version=$1 python src out
  [[ $version =~ ^1\.[0-9]+$ ]] || { say "schemas: give a Kubernetes version like 1.30"; exit 2; }
  python=$(python_venv)
  out="$TOOLS/k8s-schemas/v$version-strict"
  if [[ ! -f $out/.done ]]; then
    src=$("$python" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')
    src="$src/kubernetes-json-schema/v$version.0-local-strict"
    [[ -d $src ]] || { say "kubernetes-validate has no schemas for $version"; exit 1; }
    say "rewriting the schemas of Kubernetes $version into $out"
    rm -rf "$out" && mkdir -p "$out"
    "$python" - "$src" "$out" <<'PY'
import json, os, sys
src, out = sys.argv[1:]

def local(node):
    if isinstance(node, dict):
        node.pop("$id", None)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("/api/"):
            node["$ref"] = ref[len("/api/"):]
        for value in node.values():
            local(value)
    elif isinstance(node, list):
        for value in node:
            local(value)

for name in os.listdir(src):
    if name.endswith(".json"):
        with open(os.path.join(src, name)) as f:
            schema = json.load(f)
        local(schema)
        with open(os.path.join(out, name), "w") as f:
            json.dump(schema, f)
PY
    touch "$out/.done"
  fi
  echo "$out"
}

containers_conf() {
  local conf="$TOOLS/containers.conf"
  if ! command -v podman >/dev/null || ! command -v buildah >/dev/null || ! command -v skopeo >/dev/null ||
      ! command -v runc >/dev/null; then
    apt_install podman buildah skopeo runc
  fi
  mkdir -p "$TOOLS"
  # crun and systemd cgroups are not usable in these containers-in-a-sandbox machines.
  cat >"$conf.tmp" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  mv "$conf.tmp" "$conf"
  echo "$conf"
}

# A `docker` command may be only the client (these machines ship one with no engine): what
# counts is whether an engine answers.
docker_answers() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

engine() {
  case ${IMAGE_ENGINE:-} in
    "")
      if docker_answers; then
        echo docker
      else
        containers_conf >/dev/null
        echo podman
      fi
      ;;
    docker)
      docker_answers || die "IMAGE_ENGINE=docker, but no Docker engine answers \`docker info\`" \
        "(a docker client alone cannot build): start one, or set IMAGE_ENGINE=podman or unset it"
      echo docker
      ;;
    podman)
      containers_conf >/dev/null
      echo podman
      ;;
    *) die "IMAGE_ENGINE=$IMAGE_ENGINE: must be docker or podman, or unset (a Docker engine that answers, else podman)" ;;
  esac
}

base_image() {
  local tarball="$TOOLS/debian-bookworm-minbase.tar" root
  export CONTAINERS_CONF
  CONTAINERS_CONF=$(containers_conf)
  if podman image exists debian:bookworm-slim; then return 0; fi
  if [[ ! -f $tarball ]]; then
    command -v debootstrap >/dev/null || apt_install debootstrap
    root=$(mktemp -d "$TOOLS/.rootfs.XXXXXX")
    say "debootstrap --variant=minbase bookworm (once; a few minutes)"
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >&2
    # What a slim image leaves out: docs, manuals, locales, apt's lists and caches, logs.
    (cd "$root" && rm -rf usr/share/doc/* usr/share/man/* usr/share/info/* usr/share/locale/* \
      var/lib/apt/lists/* var/cache/apt/*.bin var/cache/apt/archives/*.deb var/log/*)
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  say "podman import $tarball as debian:bookworm-slim"
  podman import --change 'CMD ["/bin/bash"]' "$tarball" debian:bookworm-slim >&2
}

case ${1:-} in
  helm3) go_tool "helm-$HELM3_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM3_VERSION" helm ;;
  helm4) go_tool "helm-$HELM4_VERSION" "helm.sh/helm/v4/cmd/helm@$HELM4_VERSION" helm ;;
  kubeconform)
    go_tool "kubeconform-$KUBECONFORM_VERSION" \
      "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" kubeconform
    ;;
  kind) go_tool "kind-$KIND_VERSION" "sigs.k8s.io/kind@$KIND_VERSION" kind ;;
  python) python_venv ;;
  schemathesis) echo "$(venv venv-schemathesis "${SCHEMATHESIS_REQUIREMENTS[@]}")/schemathesis" ;;
  schemas) schemas "${2:-}" ;;
  engine) engine ;;
  podman) containers_conf ;;
  containerd) command -v containerd >/dev/null || apt_install containerd ;;
  shellcheck)
    command -v shellcheck >/dev/null || apt_install shellcheck
    command -v shellcheck
    ;;
  base-image) base_image ;;
  *) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" >&2; exit 2 ;;
esac
