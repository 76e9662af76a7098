"""deploy/ cannot start here (no container engine), so it is checked with what can run:
its YAML against the shapes Compose and Kubernetes need, Prometheus' own promtool on the
rules and the scrape config, and every dashboard and rule query evaluated by a real
Prometheus scraping a real server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from taskqueue_client import TaskQueueClient

from tests.support.server_process import ServerFactory
from tests.support.waiting import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool")


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def test_compose_services_are_complete() -> None:
    [compose] = load_all(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert set(services) == {"redis", "taskqueue", "prometheus", "grafana"}
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
    assert (DEPLOY / services["taskqueue"]["build"] / "Dockerfile").exists()
    assert "--appendonly" in services["redis"]["command"]


def test_kubernetes_manifest_refers_to_what_it_declares() -> None:
    docs = {doc["kind"]: doc for doc in load_all(DEPLOY / "kubernetes" / "taskqueue.yaml")}
    assert set(docs) == {"Deployment", "Service", "ServiceMonitor"}
    [container] = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["grpc"]["port"] == ports["grpc"]
    assert container["livenessProbe"]["httpGet"]["port"] in ports
    selector = docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert docs["Deployment"]["spec"]["template"]["metadata"]["labels"] == selector
    assert docs["Service"]["spec"]["selector"] == selector
    service_ports = {p["name"] for p in docs["Service"]["spec"]["ports"]}
    assert {p["targetPort"] for p in docs["Service"]["spec"]["ports"]} <= set(ports)
    for endpoint in docs["ServiceMonitor"]["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports


@pytest.mark.skipif(PROMTOOL is None, reason="promtool comes with scripts/env.sh (apt prometheus)")
def test_promtool_accepts_the_rules_and_the_config(tmp_path: Path) -> None:
    assert PROMTOOL is not None
    rules = DEPLOY / "prometheus" / "rules.yml"
    subprocess.run([PROMTOOL, "check", "rules", str(rules)], check=True, capture_output=True)
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["rule_files"] = [str(rules)]  # compose mounts it at /etc/prometheus/rules.yml
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    subprocess.run([PROMTOOL, "check", "config", str(checked)], check=True, capture_output=True)


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "taskqueue.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def rule_queries() -> list[str]:
    [rules] = load_all(DEPLOY / "prometheus" / "rules.yml")
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\btaskqueue_[a-z_]+\b", expr))
    return {re.sub(r"_(bucket|count|sum)$", "", name) for name in names}


def test_every_query_names_a_metric() -> None:
    queries = dashboard_queries() + rule_queries()
    assert queries and all(metric_names(q) or "up{" in q for q in queries)


def test_every_query_names_a_metric_a_real_server_exports(servers: ServerFactory) -> None:
    """The dashboard and the alerts read only what /metrics of a real server carries."""
    server = servers.start(env={"TASKQUEUE_HTTP_PORT": str(free_port())})
    with TaskQueueClient(server.target) as client:
        client.wait(client.enqueue("echo", {}), timeout=30)
    with urllib.request.urlopen(f"http://{server.http_target}/metrics", timeout=10) as reply:
        scrape = reply.read().decode()
    wanted = set().union(*(metric_names(q) for q in dashboard_queries() + rule_queries()))
    assert wanted and {name for name in wanted if name not in scrape} == set()
