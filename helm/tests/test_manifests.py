"""What a reviewer checks in the rendered manifests: every container hardened, probed, sized
and pinned; labels and selectors that match; settings the services really read; a config
change that rolls the Pods; toggles that render only their own objects."""

import shutil
import subprocess
import tomllib

import pytest
import yaml

from conftest import CHART, PROFILES, render, tool

ROOT = CHART.parent.parent

SERVICES = {"order-service": "ORDER", "payment-service": "PAYMENT",
            "shipping-service": "SHIPPING"}
WORKLOADS = ("Deployment", "StatefulSet", "Job", "Pod")


def pod_spec(obj):
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


def pod_labels(obj):
    return obj["metadata"]["labels"] if obj["kind"] == "Pod" \
        else obj["spec"]["template"]["metadata"]["labels"]


def containers(obj):
    spec = pod_spec(obj)
    return spec.get("initContainers", []) + spec["containers"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def service_deployment(rendered, service):
    return rendered.get("Deployment", f"rel-orderflow-{service}")


def selected(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("profile", PROFILES)
def test_every_container_is_restricted_sized_and_pinned(renders, profile):
    for obj in renders[profile].of_kind(*WORKLOADS):
        spec = pod_spec(obj)
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        for c in containers(obj):
            at = f"{where} container {c['name']}"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, at
            assert sc["capabilities"]["drop"] == ["ALL"], at
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", at
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), at
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), at
            image = c["image"]
            name, _, tag = image.rpartition(":")
            assert "@sha256:" in image or (name and tag and tag != "latest"), at


@pytest.mark.parametrize("profile", PROFILES)
def test_long_running_containers_have_three_probes(renders, profile):
    for obj in renders[profile].of_kind("Deployment", "StatefulSet"):
        for c in pod_spec(obj)["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in c, f"{obj['metadata']['name']}/{c['name']} has no {probe}"


@pytest.mark.parametrize("profile", PROFILES)
def test_services_probe_live_and_ready_on_their_port(renders, profile):
    for service in SERVICES:
        deployment = service_deployment(renders[profile], service)
        spec = pod_spec(deployment)
        [c] = spec["containers"]
        assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert c["startupProbe"]["httpGet"]["path"] == "/health/live"
        # order-service also serves its gRPC API.
        expected_ports = {"http", "grpc"} if service == "order-service" else {"http"}
        assert {p["name"] for p in c["ports"]} == expected_ports
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        # The only writable place is the tmp volume.
        writable = [m for m in c["volumeMounts"] if not m.get("readOnly")]
        assert [m["mountPath"] for m in writable] == ["/tmp"]
        # Longer than the services' 10 s drain of in-flight requests.
        assert spec["terminationGracePeriodSeconds"] > 10
        assert spec["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"] == \
            deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("profile", PROFILES)
def test_labels_and_selectors_match(renders, profile):
    rendered = renders[profile]
    for obj in rendered.objects:
        labels = obj["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                    "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of"):
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"
    workloads = rendered.of_kind("Deployment", "StatefulSet")
    for w in workloads:
        assert selected(w["spec"]["selector"]["matchLabels"], pod_labels(w)), w["metadata"]
    for svc in rendered.of_kind("Service"):
        matches = [w for w in workloads if selected(svc["spec"]["selector"], pod_labels(w))]
        assert len(matches) == 1, f"Service {svc['metadata']['name']} selects {len(matches)}"
        ports = {p["name"] for c in pod_spec(matches[0])["containers"] for p in c["ports"]}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, svc["metadata"]["name"]
    for obj in rendered.of_kind("PodDisruptionBudget", "NetworkPolicy"):
        selector = obj["spec"].get("selector") or obj["spec"]["podSelector"]
        assert len([w for w in workloads
                    if selected(selector["matchLabels"], pod_labels(w))]) == 1, obj["metadata"]
    for hpa in rendered.of_kind("HorizontalPodAutoscaler"):
        rendered.get("Deployment", hpa["spec"]["scaleTargetRef"]["name"])
    for ingress in rendered.of_kind("Ingress"):
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        svc = rendered.get("Service", backend["name"])
        assert backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}
    for monitor in rendered.of_kind("ServiceMonitor"):
        scraped = [s for s in rendered.of_kind("Service")
                   if all(s["metadata"]["labels"].get(e["key"]) in e["values"]
                          for e in monitor["spec"]["selector"]["matchExpressions"])]
        assert {s["metadata"]["labels"]["app.kubernetes.io/component"] for s in scraped} \
            == set(SERVICES)


@pytest.mark.parametrize("profile", PROFILES)
def test_service_accounts_mount_no_token(renders, profile):
    accounts = renders[profile].of_kind("ServiceAccount")
    assert {a["metadata"]["name"] for a in accounts} == \
        {f"rel-orderflow-{s}" for s in SERVICES}
    assert all(a["automountServiceAccountToken"] is False for a in accounts)


@pytest.mark.parametrize("profile", PROFILES)
def test_services_get_the_settings_they_read(renders, profile):
    rendered = renders[profile]
    config = rendered.get("ConfigMap", "rel-orderflow-config")["data"]
    assert {"ORDERFLOW__KAFKA__BOOTSTRAP_SERVERS", "ORDERFLOW__REGISTRY__URL",
            "ORDERFLOW__KAFKA__NAMESPACE"} <= set(config)
    assert config["ORDERFLOW__REGISTRY__URL"].endswith("/apis/ccompat/v7")
    for service, prefix in SERVICES.items():
        [c] = pod_spec(service_deployment(rendered, service))["containers"]
        env = env_of(c)
        assert env[f"{prefix}__HTTP__HOST"]["value"] == "0.0.0.0"
        assert env[f"{prefix}__HTTP__PORT"]["value"] == str(c["ports"][0]["containerPort"])
        assert env[f"{prefix}_CONFIG"]["value"].startswith("/etc/orderflow/")
        if service == "order-service":
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            assert env["ORDER__GRPC__HOST"]["value"] == "0.0.0.0"
            assert env["ORDER__GRPC__PORT"]["value"] == str(ports["grpc"])
            service_ports = {
                p["name"]: p for p in rendered.get("Service", "rel-orderflow-order-service")["spec"]["ports"]
            }
            assert service_ports["grpc"]["targetPort"] == "grpc"
            assert service_ports["grpc"]["appProtocol"] == "grpc"
        # Credentials only by reference.
        ref = env[f"{prefix}__DATABASE__URL"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] and ref["key"]
        assert c["envFrom"] == [{"configMapRef": {"name": "rel-orderflow-config"}}]


def test_librdkafka_properties_reach_the_settings_file():
    rendered = render(sets=["kafka.properties.security\\.protocol=SSL",
                            "kafka.properties.linger\\.ms=20"])
    toml = rendered.get("ConfigMap", "rel-orderflow-settings")["data"]["orderflow.toml"]
    assert tomllib.loads(toml) == {"kafka": {"properties": {"security.protocol": "SSL",
                                                            "linger.ms": "20"}}}


def assert_logs_in(spec, prefix, username, secret, key):
    """The service container of `spec` logs in as `username` with the password of
    `secret`/`key`, mounted as a file only it reads; its environment holds no password."""
    [c] = spec["containers"]
    env = env_of(c)
    assert env[f"{prefix}__KAFKA__SASL_USERNAME"]["value"] == username
    path = env[f"{prefix}__KAFKA__SASL_PASSWORD_FILE"]["value"]
    assert f"{prefix}__KAFKA__SASL_PASSWORD" not in env
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    mount = mounts["kafka-password"]
    assert mount["readOnly"] and path == f"{mount['mountPath']}/{key}"
    assert volumes["kafka-password"]["secret"] == {
        "secretName": secret, "items": [{"key": key, "path": key}], "defaultMode": 0o440}


SASL_VALUES = ["kafka.security.protocol=SASL_SSL", "kafka.security.saslMechanism=SCRAM-SHA-256",
               "kafka.security.caSecret.name=brokers-ca", "kafka.security.caSecret.key=root.pem"] + [
    f"kafka.security.users.{s}.{k}={v}" for s in ("order", "payment", "shipping")
    for k, v in (("username", f"{s}-user"), ("passwordSecret.name", f"kafka-{s}"),
                 ("passwordSecret.key", "pw"))]


def test_typed_kafka_security_reaches_every_service_as_settings_and_mounted_secrets():
    rendered = render(sets=SASL_VALUES)
    config = rendered.get("ConfigMap", "rel-orderflow-config")["data"]
    assert config["ORDERFLOW__KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["ORDERFLOW__KAFKA__SASL_MECHANISM"] == "SCRAM-SHA-256"
    ca = config["ORDERFLOW__KAFKA__SSL_CA_LOCATION"]
    for service, prefix in SERVICES.items():
        spec = pod_spec(service_deployment(rendered, service))
        short = service.removesuffix("-service")
        assert_logs_in(spec, prefix, f"{short}-user", f"kafka-{short}", "pw")
        [c] = spec["containers"]
        [mount] = [m for m in c["volumeMounts"] if m["name"] == "kafka-ca"]
        assert ca == f"{mount['mountPath']}/root.pem"
        [volume] = [v for v in spec["volumes"] if v["name"] == "kafka-ca"]
        assert volume["secret"]["secretName"] == "brokers-ca"
    # Plaintext by default: no login, no mounted credentials.
    plain = render()
    config = plain.get("ConfigMap", "rel-orderflow-config")["data"]
    assert config["ORDERFLOW__KAFKA__SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert "ORDERFLOW__KAFKA__SASL_MECHANISM" not in config
    for service, prefix in SERVICES.items():
        spec = pod_spec(service_deployment(plain, service))
        assert not {v["name"] for v in spec["volumes"]} & {"kafka-password", "kafka-ca"}
        assert f"{prefix}__KAFKA__SASL_USERNAME" not in env_of(spec["containers"][0])


def test_production_uses_external_infrastructure_and_secret_references(renders):
    rendered = renders["production"]
    assert not rendered.of_kind("StatefulSet", "Secret")
    assert {d["metadata"]["name"] for d in rendered.of_kind("Deployment")} == \
        {f"rel-orderflow-{s}" for s in SERVICES}
    config = rendered.get("ConfigMap", "rel-orderflow-config")["data"]
    assert config["ORDERFLOW__KAFKA__BOOTSTRAP_SERVERS"].count(",") == 2
    for service in SERVICES:
        spec = pod_spec(service_deployment(rendered, service))
        [c] = spec["containers"]
        assert env_of(c)[f"{SERVICES[service]}__DATABASE__URL"]["valueFrom"][
            "secretKeyRef"]["name"] == "orderflow-databases"
        # Each service logs in as its own user, its password from its own Secret.
        assert_logs_in(spec, SERVICES[service], service.removesuffix("-service"),
                       f"orderflow-kafka-{service.removesuffix('-service')}", "password")
        assert "initContainers" not in spec
        assert "replicas" not in service_deployment(rendered, service)["spec"]


def test_dev_profile_runs_kafka_registry_and_postgres_with_four_databases(renders):
    rendered = renders["kind"]
    assert {s["metadata"]["name"] for s in rendered.of_kind("StatefulSet")} == \
        {"rel-orderflow-kafka", "rel-orderflow-postgres"}
    rendered.get("Deployment", "rel-orderflow-registry")
    images = {c["image"].split(":")[0] for o in rendered.of_kind(*WORKLOADS)
              for c in containers(o)}
    assert {"apache/kafka", "apicurio/apicurio-registry", "postgres"} <= images
    init = rendered.get("ConfigMap", "rel-orderflow-postgres-init")["data"]["databases.sql"]
    assert sorted(init.split()) == sorted(
        "CREATE DATABASE orders; CREATE DATABASE payments; CREATE DATABASE shipping; "
        "CREATE DATABASE registry;".split())
    secret = rendered.get("Secret", "rel-orderflow-dev-credentials")["stringData"]
    assert secret["order-database-url"].endswith("@rel-orderflow-postgres:5432/orders")
    config = rendered.get("ConfigMap", "rel-orderflow-config")["data"]
    assert config["ORDERFLOW__KAFKA__BOOTSTRAP_SERVERS"] == "rel-orderflow-kafka:9092"
    kafka = pod_spec(rendered.get("StatefulSet", "rel-orderflow-kafka"))["containers"][0]
    assert env_of(kafka)["KAFKA_PROCESS_ROLES"]["value"] == "broker,controller"


def test_kind_maps_the_order_api_node_port_to_the_host(renders):
    cluster = yaml.safe_load((ROOT / "deploy/kind/cluster.yaml").read_text())
    [control_plane] = [n for n in cluster["nodes"] if n["role"] == "control-plane"]
    assert [n["role"] for n in cluster["nodes"]].count("worker") == 2
    mapped = {m["containerPort"] for m in control_plane["extraPortMappings"]}
    svc = renders["kind"].get("Service", "rel-orderflow-order-service")
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"][0]["nodePort"] in mapped


def test_topics_are_created_by_an_idempotent_hook_with_the_configured_layout(renders):
    job = renders["production"].get("Job", "rel-orderflow-topics")
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert sorted(hooks) == ["pre-install", "pre-upgrade"]
    [c] = pod_spec(job)["containers"]
    # The script tests/tests/topics_job.rs runs against Kafka.
    script = (CHART / "files/create-topics.sh").read_text()
    assert "--if-not-exists" in script
    assert [line.strip() for line in c["command"][-1].splitlines()] == \
        [line.strip() for line in script.splitlines()]
    env = {name: e.get("value") for name, e in env_of(c).items()}
    assert env["REPLICATION_FACTOR"] == "3"
    assert env["TOPIC_CONFIGS"] == "min.insync.replicas=2"
    assert env["BOOTSTRAP"] == rendered_config(renders["production"])[
        "ORDERFLOW__KAFKA__BOOTSTRAP_SERVERS"]
    assert env["TOPICS"].splitlines() == [
        "orders 12 -1", "payments 12 -1", "shipments 12 -1", "order-service.dlq 1 7776000000",
        "order-status-projector.dlq 1 7776000000", "payment-service.dlq 1 7776000000",
        "shipping-service.dlq 1 7776000000"]
    assert env["COMMAND_CONFIG"].endswith("client.properties")
    # The dev profile's broker is part of the release: an ordinary Job there.
    dev_job = renders["kind"].get("Job", "rel-orderflow-topics-r1")
    assert "annotations" not in dev_job["metadata"]
    assert env_of(pod_spec(dev_job)["containers"][0])["REPLICATION_FACTOR"]["value"] == "1"


def rendered_config(rendered):
    return rendered.get("ConfigMap", "rel-orderflow-config")["data"]


def test_namespace_prefixes_every_topic_the_job_and_the_services_use():
    rendered = render(sets=["kafka.namespace=shop."])
    job = rendered.get("Job", "rel-orderflow-topics")
    topics = env_of(pod_spec(job)["containers"][0])["TOPICS"]["value"].splitlines()
    assert all(t.startswith("shop.") for t in topics) and len(topics) == 7
    assert rendered_config(rendered)["ORDERFLOW__KAFKA__NAMESPACE"] == "shop."


def checksums(rendered):
    return {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"]
            for d in rendered.of_kind("Deployment")
            if d["metadata"]["name"].endswith("-service")}


def test_a_config_change_changes_the_checksum_and_nothing_else_does():
    base = checksums(render())
    changed = checksums(render(sets=["config.rustLog=debug"]))
    for name in base:
        assert changed[name]["checksum/config"] != base[name]["checksum/config"], name
    assert checksums(render(sets=["services.order.replicas=5"])) == base
    dev = checksums(render(profile="kind"))
    new_password = checksums(render(profile="kind", sets=["dev.postgres.password=other"]))
    for name in dev:
        assert new_password[name]["checksum/dev-credentials"] != \
            dev[name]["checksum/dev-credentials"]


TOGGLES = {
    "autoscaling.enabled": {"HorizontalPodAutoscaler"},
    "podDisruptionBudget.enabled": {"PodDisruptionBudget"},
    "networkPolicy.enabled": {"NetworkPolicy"},
    "serviceMonitor.enabled": {"ServiceMonitor"},
    "ingress.enabled": {"Ingress"},
}


def without_replicas(objects):
    """The objects with the Deployments' replica counts left out (an HPA owns them)."""
    return [{**o, "spec": {k: v for k, v in o["spec"].items() if k != "replicas"}}
            if o["kind"] == "Deployment" else o for o in objects]


@pytest.mark.parametrize("toggle", TOGGLES)
def test_each_toggle_renders_only_its_own_objects(toggle):
    base = render()
    on = render(sets=[f"{toggle}=true"])
    added = on.keys() - base.keys()
    assert added and {kind for kind, _ in added} == TOGGLES[toggle]
    rest = [o for o in on.objects if (o["kind"], o["metadata"]["name"]) not in added]
    if toggle == "autoscaling.enabled":
        assert without_replicas(rest) == without_replicas(base.objects)
        assert all("replicas" not in d["spec"] for d in on.of_kind("Deployment"))
    else:
        assert rest == base.objects


def test_the_service_monitor_needs_the_prometheus_operator_api():
    assert render(sets=["serviceMonitor.enabled=true"], apis=[]).keys() == \
        render(apis=[]).keys()


def test_helm_test_places_an_order_and_waits_for_shipment_scheduled(renders):
    pod = renders["kind"].get("Pod", "rel-orderflow-test-order-flow")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    [c] = pod["spec"]["containers"]
    # The script tests/tests/images.rs runs against the service images.
    script = (CHART / "files/order-flow-test.py").read_text()
    assert c["command"][:2] == ["python3", "-c"]
    assert [line.strip() for line in c["command"][-1].splitlines()] == \
        [line.strip() for line in script.splitlines()]
    assert env_of(c)["ORDERS"]["value"] == "http://rel-orderflow-order-service:8080"


@pytest.mark.parametrize("profile, api", [
    ("kind", "export ORDERS=http://<node address>:30080"),
    ("production", "export ORDERS=https://orders.example.com"),
    ("default", "port-forward service/rel-orderflow-order-service 8080:8080"),
])
def test_notes_tell_how_to_reach_the_api_and_place_an_order(profile, api, tmp_path):
    # `helm template` leaves NOTES.txt out: render a copy of the chart in which its text is
    # the value of an ordinary template.
    chart = tmp_path / "orderflow"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates/NOTES.txt").read_text()
    (chart / "templates/notes.yaml").write_text(
        '{{- define "notes" }}' + notes + '{{ end }}\nnotes: {{ include "notes" . | quote }}\n')
    values = ["-f", str(CHART / PROFILES[profile])] if PROFILES[profile] else []
    done = subprocess.run(
        [tool("HELM3"), "template", "rel", str(chart), "--kube-version", "1.35.0",
         "--show-only", "templates/notes.yaml", *values],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = yaml.safe_load(done.stdout)["notes"]
    assert api in text
    assert "curl -si -X POST $ORDERS/orders" in text
    assert "helm test rel" in text
