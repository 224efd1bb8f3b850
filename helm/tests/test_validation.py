"""The chart against the tools a cluster would apply: `helm lint --strict` (helm 3 and 4),
the rendered objects against the strict Kubernetes API schemas of 1.30 and 1.35 (kubeconform
and kubernetes-validate), and the values schema rejecting bad values files."""

import json
import subprocess

import pytest

from conftest import (CHART, CRD_KINDS, HELMS, KUBE_VERSIONS, PROFILES, helm_template,
                      render, tool)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("helm", HELMS)
def test_lint_strict(helm, profile):
    args = [tool(HELMS[helm]), "lint", "--strict", str(CHART), "--kube-version", "1.35.0"]
    if PROFILES[profile]:
        args += ["-f", str(CHART / PROFILES[profile])]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_kubeconform_strict(kube, tmp_path):
    # Every profile rendered by both helms, in one kubeconform run (it compiles each schema
    # once per run, which is most of its time).
    rendered = {}
    for helm in HELMS:
        for profile in PROFILES:
            path = tmp_path / f"{helm}-{profile}.yaml"
            rendered[str(path)] = render(helm=helm, profile=profile, kube=kube)
            path.write_text(rendered[str(path)].text)
    schemas = tool(f"SCHEMAS_{kube.replace('.', '_')}")
    done = subprocess.run(
        [tool("KUBECONFORM"), "-strict", "-output", "json", "-summary", "-verbose",
         "-schema-location", schemas + "/{{.ResourceKind}}{{.KindSuffix}}.json",
         "-skip", ",".join(sorted(CRD_KINDS)), *rendered],
        capture_output=True, text=True)
    report = json.loads(done.stdout)
    problems = [r for r in report["resources"]
                if not (r["status"] == "statusValid"
                        or (r["status"] == "statusSkipped" and r["kind"] in CRD_KINDS))]
    assert done.returncode == 0 and not problems, json.dumps(problems, indent=2) + done.stderr
    # Every object of every file was looked at, none silently passed over.
    for path, objects in rendered.items():
        checked = [r for r in report["resources"] if r["filename"] == path]
        assert len(checked) == len(objects.objects), path


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("profile", PROFILES)
def test_kubernetes_validate_strict(profile, kube, tmp_path):
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(render(profile=profile, kube=kube).text)
    done = subprocess.run(
        [tool("KUBERNETES_VALIDATE"), "--strict", "--quiet", "-k", f"{kube}.0", str(manifest)],
        capture_output=True, text=True)
    lines = (done.stdout + done.stderr).splitlines()
    # Only the declared custom resources may lack a schema.
    unexpected = [line for line in lines
                  if not any(f"kind {kind} " in line for kind in CRD_KINDS)]
    assert done.returncode == 0 and not unexpected, "\n".join(lines)


def test_helm3_and_helm4_render_the_same_objects():
    for profile in PROFILES:
        assert render(helm="helm3", profile=profile).objects == \
            render(helm="helm4", profile=profile).objects, profile


def test_rendering_is_deterministic():
    first, second = render(profile="production"), render(profile="production")
    assert first.text == second.text


BAD_VALUES = {
    "a string where a number belongs": ("services:\n  order:\n    replicas: two\n",
                                        "replicas"),
    "a misspelt key": ("kafka:\n  bootstrapServer: kafka:9092\n", "bootstrapServer"),
    "a bad broker list": ("kafka:\n  bootstrapServers: kafka\n", "bootstrapServers"),
    "an image tagged latest": ("topics:\n  image:\n    tag: latest\n", "'latest'"),
    "service images tagged latest": ("image:\n  tag: latest\n", "'latest'"),
    "no database Secret outside the dev profile": ("database:\n  existingSecret: \"\"\n",
                                                   "existingSecret"),
    "an unknown security protocol": ("kafka:\n  security:\n    protocol: TLS\n", "protocol"),
}


@pytest.mark.parametrize("case", BAD_VALUES)
@pytest.mark.parametrize("helm", HELMS)
def test_schema_rejects_bad_values_with_a_clear_message(helm, case, tmp_path):
    text, key = BAD_VALUES[case]
    values = tmp_path / "values.yaml"
    values.write_text(text)
    done = helm_template(helm=helm, values=[values])
    assert done.returncode != 0, f"{case} was accepted"
    assert "schema" in done.stderr and key in done.stderr, done.stderr


# Values the schema allows but the services would refuse at start: the chart names them.
BAD_SECURITY = {
    "a SASL protocol without a user": (["kafka.security.protocol=SASL_SSL"],
                                       "kafka.security.users.order.username is required"),
    "a user without its password Secret": (
        ["kafka.security.protocol=SASL_PLAINTEXT"] + [
            f"kafka.security.users.{s}.username={s}" for s in ("order", "payment", "shipping")],
        "kafka.security.users.order.passwordSecret.name is required"),
    "a CA over plaintext": (["kafka.security.caSecret.name=ca"],
                            "kafka.security.caSecret needs kafka.security.protocol SSL"),
    "a user without SASL": (["kafka.security.protocol=SSL",
                             "kafka.security.users.payment.username=payment"],
                            "kafka.security.users.payment needs kafka.security.protocol SASL"),
    "security on the dev profile's broker": (["dev.enabled=true", "kafka.security.protocol=SSL"],
                                             "the dev profile's broker is PLAINTEXT"),
}


@pytest.mark.parametrize("case", BAD_SECURITY)
def test_inconsistent_kafka_security_fails_naming_the_value(case):
    sets, message = BAD_SECURITY[case]
    done = helm_template(sets=sets)
    assert done.returncode != 0, f"{case} was accepted"
    assert message in done.stderr, done.stderr

