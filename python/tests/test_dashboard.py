"""The Grafana dashboard (examples/grafana/zkha-dashboard.json) against what Prometheus would
really scrape: a zkha client's endpoint, and the servers of a real ensemble running ZooKeeper's
Prometheus metrics provider (the session's ensemble, started with the kit's ``--prometheus``).
Every metric a query names must be served, with every label it matches or groups by, and every
zkha metric must be on the dashboard. Its shape is checked against Grafana's own schema by
``make test-dashboard`` (tests/grafana)."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Ensemble
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families

import zkha

DASHBOARD = ROOT / "examples" / "grafana" / "zkha-dashboard.json"

# Labels Prometheus adds to every scraped series itself (its target labels), and `up`, the
# series it makes per target: none of them is in an exposition.
SCRAPE_LABELS = {"instance", "job"}
SCRAPE_METRICS = {"up"}

# PromQL words that are not metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
KEYWORDS |= {"and", "or", "unless", "inf", "nan"}

# label -> {sample name -> set of label names}
Served = dict[str, set[str]]


def served(families: Iterator) -> Served:
    out: Served = {}
    for family in families:
        for s in family.samples:
            out.setdefault(s.name, set()).update(s.labels)
    return out


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def parse_query(expr: str) -> tuple[set[str], set[str]]:
    """The metric names and the label names (matched or grouped by) of a PromQL query."""
    labels: set[str] = set()
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        matchers = re.sub(r'"[^"]*"', '""', matchers)
        labels |= set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    for grouping in re.findall(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr
    ):
        labels |= {g.strip() for g in grouping.split(",") if g.strip()}
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    bare = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    names = {
        m.group(1)
        for m in re.finditer(r"([a-zA-Z_:][\w:]*)\s*(\()?", bare)
        if not m.group(2) and m.group(1).lower() not in KEYWORDS
    }
    return names, labels


def queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    out = []

    def walk(panels: list[dict]) -> None:
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                out.append((f"panel {p['title']!r} {t['refId']}", t["expr"]))

    walk(dashboard["panels"])
    for v in dashboard["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"]
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", q)
            assert m, f"variable {v['name']}: {q!r} is not label_values(METRIC, LABEL)"
            out.append((f"variable {v['name']}", f'{m.group(1)}{{{m.group(2)}=~".*"}}'))
    return out


@pytest.fixture(scope="module")
def scrapes(ensemble: Ensemble) -> Iterator[tuple[Served, Served]]:
    """What zkha's endpoint and the ensemble's servers serve while a client leads an election
    and holds a lock, as a Flink JobManager does (labelled with a cluster id)."""
    path = f"/dashboard-{uuid.uuid4().hex[:12]}"
    metrics = zkha.Metrics(port=0, host="127.0.0.1", labels={"cluster_id": "dash"})
    with zkha.Client(ensemble.hosts, 6, metrics=metrics) as c:
        e = c.election(f"{path}/latch", "jm-1")
        e.wait(10)
        with c.lock(f"{path}/lock", timeout=10):
            zk: Served = {}
            for node in ensemble.info["nodes"]:
                port = node.get("metrics_port")
                assert port, f"server {node['id']} has no metrics port: {node}"
                for name, labels in served(
                    text_families(get(f"http://127.0.0.1:{port}/metrics"))
                ).items():
                    zk.setdefault(name, set()).update(labels)
            ours = served(openmetrics_families(get(f"http://{c.metrics_address}/metrics")))
            yield ours, zk
        e.close()


def test_every_query_names_metrics_and_labels_that_are_served(
    scrapes: tuple[Served, Served],
) -> None:
    ours, zk = scrapes
    dashboard = json.loads(DASHBOARD.read_text())
    found = queries(dashboard)
    assert len(found) > 20, found
    missing = []
    for where, expr in found:
        names, labels = parse_query(expr)
        assert names, f"{where}: no metric in {expr!r}"
        for name in names - SCRAPE_METRICS:
            have = ours.get(name, zk.get(name))
            if have is None:
                missing.append(f"{where}: {name} is not served")
                continue
            lacking = labels - have - SCRAPE_LABELS
            # A label grouped by may come from another metric of the same query.
            if lacking and not any(lacking <= ours.get(n, zk.get(n, set())) for n in names):
                missing.append(f"{where}: {name} has no label {sorted(lacking)} ({expr})")
    assert not missing, "\n".join(missing)


def test_every_zkha_metric_and_the_zookeeper_health_is_on_the_dashboard(
    scrapes: tuple[Served, Served],
) -> None:
    ours, zk = scrapes
    shown: set[str] = set()
    for _, expr in queries(json.loads(DASHBOARD.read_text())):
        shown |= parse_query(expr)[0]
    # A histogram counts as shown through its buckets.
    families = {re.sub(r"_(bucket|count|sum|created)$", "", n) for n in ours}
    shown_families = {re.sub(r"_(bucket|count|sum|created)$", "", n) for n in shown}
    missing = families - shown_families
    assert not missing, f"zkha metrics not on the dashboard: {sorted(missing)}"
    # What the issue asks beside them: quorum health, request latency, outstanding requests,
    # sessions (as ZooKeeper's provider names them).
    for name in ["quorum_size", "synced_followers", "readlatency", "updatelatency"]:
        assert name in shown and name in zk, name
    for name in ["outstanding_requests", "global_sessions", "num_alive_connections"]:
        assert name in shown and name in zk, name


def test_the_query_parser_finds_names_and_labels() -> None:
    names, labels = parse_query(
        "histogram_quantile(0.99, sum by (le, cluster_id) "
        '(rate(zkha_operation_latency_seconds_bucket{cluster_id=~"$c"}[$__rate_interval])))'
        ' > bool 0 and on(instance) up{job="zk"}'
    )
    assert names == {"zkha_operation_latency_seconds_bucket", "up"}
    assert labels == {"le", "cluster_id", "instance", "job"}


def test_the_dashboard_is_json_grafana_imports() -> None:
    d = json.loads(DASHBOARD.read_text())
    assert d["uid"] and d["title"] and d["schemaVersion"] >= 36
    ids = []

    def walk(panels: list[dict]) -> None:
        for p in panels:
            ids.append(p["id"])
            walk(p.get("panels", []))
            if p["type"] != "row":
                # Every panel reads the dashboard's Prometheus data source variable.
                assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p
                for t in p["targets"]:
                    assert t["datasource"] == p["datasource"], (p["title"], t)

    walk(d["panels"])
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    assert Path(DASHBOARD).read_text().endswith("\n")
