"""deploy/kubernetes, rendered as `kubectl apply -k` renders each overlay, against the
Kubernetes API schemas (offline: kubernetes-validate bundles them), and kept consistent with
the service and with compose.yaml: real setting names, the commands `make run` and the
Dockerfile use, the probes' routes, the ports the metrics are served on."""

import json
import re
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from app.run import api_args
from app.services.readiness import HEARTBEAT_STALE_BEATS
from app.settings import PROJECT_ROOT, ProviderMode, Settings
from tests.deploy.kustomize import Object, build, load_all

KUBERNETES = PROJECT_ROOT / "deploy" / "kubernetes"
OVERLAYS = ["dev", "prod"]
# The oldest Kubernetes release still supported upstream when this was written: the manifests
# use nothing newer, so they apply to the clusters people run.
KUBERNETES_VERSION = "1.31"
COMPOSE = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
SETTINGS = {name.upper() for name in Settings.model_fields}


def rendered(overlay: str) -> list[Object]:
    return build(KUBERNETES / "overlays" / overlay)


def find(objects: list[Object], kind: str, name: str) -> Object:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def container(objects: list[Object], kind: str, name: str) -> dict[str, Any]:
    (only,) = find(objects, kind, name)["spec"]["template"]["spec"]["containers"]
    return only


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_manifest_is_valid_against_the_kubernetes_schemas(overlay: str) -> None:
    """Strict: a field Kubernetes does not know (a typo, a wrong indent) fails too."""
    objects = rendered(overlay)
    assert {o["kind"] for o in objects} >= {
        "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job",
        "ConfigMap", "NetworkPolicy", "Namespace",
    }  # fmt: skip
    # prod's Secret is made from the template (tested below), never kept in the repository.
    assert ("Secret" in {o["kind"] for o in objects}) is (overlay == "dev")
    errors = []
    for obj in objects:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD's kind: test_the_service_monitor_scrapes_the_metrics_ports
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {exc.path}")
    assert errors == []


def test_the_secret_template_is_a_valid_secret_and_names_only_settings() -> None:
    (secret,) = load_all(KUBERNETES / "secret.template.yaml")
    kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)
    assert set(secret["stringData"]) - SETTINGS == set()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "INSTAGRAM_API_KEYS"} <= set(
        secret["stringData"]
    )


def test_the_kustomize_reader_refuses_what_it_does_not_render(tmp_path: Path) -> None:
    """The manifests are rendered by tests/deploy/kustomize.py; a kustomization using a
    field it does not implement fails here instead of being rendered differently."""
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(ValueError, match="namePrefix"):
        build(tmp_path)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_the_manifests_give_is_a_real_setting_and_starts(overlay: str) -> None:
    """ConfigMap and Secret keys are setting names (a misspelt one would be silently
    ignored), and together they make settings the service accepts: prod's, with the
    template's Secret, start in live mode."""
    objects = rendered(overlay)
    config = find(objects, "ConfigMap", "viewledger")["data"]
    secret = (
        find(objects, "Secret", "viewledger")["stringData"]
        if overlay == "dev"
        else load_all(KUBERNETES / "secret.template.yaml")[0]["stringData"]
    )
    assert set(config) - SETTINGS == set()
    assert set(secret) - SETTINGS == set()
    values = {k.lower(): v for k, v in {**config, **secret}.items() if v != ""}
    if overlay == "prod":
        # Which proxies to trust depends on the cluster: prod's is a placeholder the service
        # refuses, so the operator must fill it in (the base trusts none).
        with pytest.raises(ValidationError, match="trusted_proxies"):
            Settings(_env_file=None, **values)
        values["trusted_proxies"] = "10.244.1.0/24"
    else:
        assert "TRUSTED_PROXIES" not in config
    settings = Settings(_env_file=None, **values)
    expected = ProviderMode.LIVE if overlay == "prod" else ProviderMode.SANDBOX
    assert settings.provider_mode is expected
    # Every pod reads both.
    for kind, name in [
        ("Deployment", "viewledger-api"),
        ("Deployment", "viewledger-worker"),
        ("Job", "viewledger-migrate"),
    ]:
        sources = container(objects, kind, name)["envFrom"]
        assert sources == [
            {"configMapRef": {"name": "viewledger"}},
            {"secretRef": {"name": "viewledger"}},
        ]


def test_the_processes_start_as_make_run_compose_and_the_dockerfile_start_them() -> None:
    objects = rendered("prod")
    api = container(objects, "Deployment", "viewledger-api")
    assert ["python", *api["command"]] == ["python", *api_args("0.0.0.0", 8000)[1:]]
    assert api["command"] == api_args("0.0.0.0", 8000)[1:] == COMPOSE["services"]["api"]["command"]
    # The image's CMD is the same command, flag for flag (--no-proxy-headers included).
    (cmd,) = re.findall(r"^CMD (\[.*\])$", (PROJECT_ROOT / "Dockerfile").read_text(), re.M)
    shell, dash_c, line = json.loads(cmd)
    assert [shell, dash_c] == ["sh", "-c"]
    expected = api_args("${API_HOST}", 8000)[1:]
    expected[expected.index("8000")] = "${API_PORT:-8000}"
    assert line.split() == expected
    worker = container(objects, "Deployment", "viewledger-worker")
    assert worker["command"] == ["python", "-m", "app.workers.main"]
    assert worker["command"] == COMPOSE["services"]["worker"]["command"]
    assert "app.workers.main" in (PROJECT_ROOT / "app" / "run.py").read_text()
    migrate = container(objects, "Job", "viewledger-migrate")
    assert migrate["command"] == COMPOSE["services"]["migrate"]["command"]
    # A new worker waits for the release's migration (compose: depends_on the migrate run).
    pod = find(objects, "Deployment", "viewledger-worker")["spec"]["template"]["spec"]
    (wait,) = pod["initContainers"]
    assert wait["command"][:5] == ["python", "-m", "app.cli", "db", "wait"]
    assert wait["image"] == worker["image"]
    assert wait["envFrom"] == worker["envFrom"]
    assert wait["securityContext"] == worker["securityContext"]


async def test_the_api_probes_ask_the_service_s_health_routes(client: httpx.AsyncClient) -> None:
    api = container(rendered("prod"), "Deployment", "viewledger-api")
    probes = [api[p]["httpGet"] for p in ("readinessProbe", "livenessProbe", "startupProbe")]
    assert [p["path"] for p in probes] == ["/health/ready", "/health/live", "/health/live"]
    assert {p["port"] for p in probes} == {"http"}
    for probe in probes:
        assert (await client.get(probe["path"])).status_code == 200


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_viewledger_pods_run_as_non_root_on_a_read_only_root_with_a_writable_tmp(
    overlay: str,
) -> None:
    objects = rendered(overlay)
    for kind, name in [
        ("Deployment", "viewledger-api"),
        ("Deployment", "viewledger-worker"),
        ("Job", "viewledger-migrate"),
    ]:
        pod = find(objects, kind, name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user
        assert pod["automountServiceAccountToken"] is False
        (only,) = pod["containers"]
        assert only["securityContext"]["readOnlyRootFilesystem"] is True
        assert only["securityContext"]["allowPrivilegeEscalation"] is False
        assert {"name": "tmp", "mountPath": "/tmp"} in only["volumeMounts"]
        (tmp,) = [v for v in pod["volumes"] if v["name"] == "tmp"]
        assert set(tmp) == {"name", "emptyDir"}
        assert set(only["resources"]) == {"requests", "limits"}
    assert "USER viewledger" in (PROJECT_ROOT / "Dockerfile").read_text()
    assert "--uid 10001" in (PROJECT_ROOT / "Dockerfile").read_text()


def test_grace_periods_match_compose() -> None:
    objects = rendered("prod")
    for service, name in [("api", "viewledger-api"), ("worker", "viewledger-worker")]:
        pod = find(objects, "Deployment", name)["spec"]["template"]["spec"]
        grace = seconds(COMPOSE["services"][service]["stop_grace_period"])
        assert pod["terminationGracePeriodSeconds"] == grace, service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_port_takes_connections_only_from_the_ingress_and_monitoring_namespaces(
    overlay: str,
) -> None:
    """Anyone else reaching port 8000 directly would skip the ingress (and, were it inside
    TRUSTED_PROXIES, could choose its own client address)."""
    policy = find(rendered(overlay), "NetworkPolicy", "viewledger-api")
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}
        for name in ("ingress-nginx", "monitoring")
    ]


def test_the_heartbeat_alert_fires_after_readiness_s_stale_mark_plus_a_scrape_interval() -> None:
    """The alert and /health/ready agree on when a heartbeat is stale: the alert reads the
    figure at each scrape, so it adds one scrape interval to readiness's mark."""
    alerts = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yaml").read_text())
    (rule,) = [
        r
        for group in alerts["groups"]
        for r in group["rules"]
        if r["alert"] == "ViewLedgerWorkerHeartbeatStale"
    ]
    threshold = int(rule["expr"].rsplit(">", 1)[1])
    monitor = find(rendered("prod"), "ServiceMonitor", "viewledger")
    scrape = {seconds(e["interval"]) for e in monitor["spec"]["endpoints"]}
    beat = Settings.model_fields["heartbeat_seconds"].default
    assert threshold == HEARTBEAT_STALE_BEATS * beat + max(scrape)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_metrics_are_scraped_where_they_are_served(overlay: str) -> None:
    """Pod annotations and the Services point at the ports the API and the worker serve
    /metrics on; in prod the ServiceMonitor selects both Services by their port names."""
    objects = rendered(overlay)
    config = find(objects, "ConfigMap", "viewledger")["data"]
    served = {"viewledger-api": 8000, "viewledger-worker": int(config["WORKER_METRICS_PORT"])}
    assert config["WORKER_METRICS_HOST"] == "0.0.0.0"
    for name, port in served.items():
        deployment = find(objects, "Deployment", name)
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert int(annotations["prometheus.io/port"]) == port
        (only,) = template["spec"]["containers"]
        (named,) = only["ports"]
        assert named["containerPort"] == port
        service = find(objects, "Service", name)
        assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
        assert service["spec"]["ports"][0]["targetPort"] == named["name"]
        assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
    if overlay == "dev":
        assert monitors == []  # a dev cluster has no Prometheus Operator: annotations only
        return
    (monitor,) = monitors
    selected = [
        o
        for o in objects
        if o["kind"] == "Service"
        and monitor["spec"]["selector"]["matchLabels"].items() <= o["metadata"]["labels"].items()
    ]
    ports = {p["name"] for s in selected for p in s["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == ports == {"http", "metrics"}
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])


def test_budgets_and_autoscaling_cover_the_deployments_and_keep_one_api_pod() -> None:
    objects = rendered("prod")
    for name in ("viewledger-api", "viewledger-worker"):
        labels = find(objects, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        budget = find(objects, "PodDisruptionBudget", name)["spec"]
        assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert find(objects, "PodDisruptionBudget", "viewledger-api")["spec"]["minAvailable"] >= 1
    hpa = find(objects, "HorizontalPodAutoscaler", "viewledger-api")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "viewledger-api"
    assert hpa["minReplicas"] >= 2
    # The HPA owns the API's count: one in the manifest would reset it at every apply.
    assert "replicas" not in find(objects, "Deployment", "viewledger-api")["spec"]


def test_compose_runs_the_same_topology_with_real_settings() -> None:
    services = COMPOSE["services"]
    assert {"migrate", "api", "worker", "prometheus", "grafana"} <= set(services)
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert "replicas" in services[name]["deploy"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            assert (PROJECT_ROOT / source).exists(), source
        # Prometheus has no authentication and Grafana's password defaults to admin.
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"]), name
    for name in ("migrate", "api", "worker", "sandbox"):
        assert set(services[name]["environment"]) - SETTINGS == set(), name
