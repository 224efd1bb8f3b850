"""Fixtures of the chart checks: the tools (from `deploy/tools.sh`, named by environment
variables that `make chart-check` sets) and `render`, which runs `helm template` and parses
the manifests."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

CHART = Path(__file__).resolve().parent.parent / "orderflow"
# The values files `make chart-check` checks; None is the chart's defaults.
PROFILES = {"default": None, "kind": "values-kind.yaml", "production": "values-production.yaml"}
KUBE_VERSIONS = ["1.30", "1.35"]
# Kinds of custom resources the chart may render; kubeconform and kubernetes-validate have
# no schema for them.
CRD_KINDS = {"ServiceMonitor"}
# APIs outside Kubernetes itself that the checks pretend the cluster serves.
EXTRA_APIS = ["monitoring.coreos.com/v1"]


def tool(name):
    path = os.environ.get(name)
    if not path:
        pytest.fail(f"{name} is not set: run the checks with `make chart-check`")
    return path


HELMS = {"helm3": "HELM3", "helm4": "HELM4"}


class Rendered:
    """The objects of one `helm template`, with lookups by kind and name."""

    def __init__(self, text):
        self.text = text
        self.objects = [d for d in yaml.safe_load_all(text) if d]

    def of_kind(self, *kinds):
        return [o for o in self.objects if o["kind"] in kinds]

    def get(self, kind, name):
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
        return found[0]

    def keys(self):
        return {(o["kind"], o["metadata"]["name"]) for o in self.objects}


def helm_template(helm="helm3", profile="default", kube="1.35", sets=(), values=(), apis=EXTRA_APIS):
    """`helm template` of the chart; returns the completed process (not checked)."""
    args = [tool(HELMS[helm]), "template", "rel", str(CHART), "--namespace", "shop",
            "--kube-version", f"{kube}.0"]
    if PROFILES[profile]:
        args += ["-f", str(CHART / PROFILES[profile])]
    for v in values:
        args += ["-f", str(v)]
    for s in sets:
        args += ["--set", s]
    for api in apis:
        args += ["--api-versions", api]
    return subprocess.run(args, capture_output=True, text=True)


def render(**kwargs):
    done = helm_template(**kwargs)
    assert done.returncode == 0, done.stderr
    return Rendered(done.stdout)


@pytest.fixture(scope="session")
def renders():
    """helm 3 renders of each profile at the newest Kubernetes version, made once."""
    return {p: render(profile=p) for p in PROFILES}
