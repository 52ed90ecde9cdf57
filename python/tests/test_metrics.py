"""Metrics as Prometheus sees them: scraped over HTTP from a client's endpoint and read with
the Prometheus project's own OpenMetrics parser, against a real ensemble."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

import zkha

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(address: str) -> Samples:
    """Every sample at ``http://address/metrics``: (name, labels) -> value."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("application/openmetrics-text")
        text = r.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    found = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_a_leader_closing_shows_in_the_standbys_grants_and_its_revocations(
    hosts: str, path: str
) -> None:
    labels = {"cluster_id": "py-metrics", "component": "tool"}
    served = zkha.Metrics(port=0, host="127.0.0.1", labels=labels | {"who": "a"})
    with (
        zkha.Client(hosts, session_timeout=6, metrics=served) as a,
        zkha.Client(
            hosts, session_timeout=6, metrics=zkha.Metrics(labels=labels | {"who": "b"})
        ) as b,
    ):
        address = a.metrics_address
        assert address is not None and address.startswith("127.0.0.1:")
        assert b.metrics_address is None
        ea = a.election(path, "a")
        ea.wait(10)
        eb = b.election(path, "b")
        before = scrape(address)
        assert value(before, "zkha_grants_total", who="a") == 1
        assert value(before, "zkha_grants_total", who="b") == 0
        assert value(before, "zkha_leading", who="a") == 1
        assert value(before, "zkha_connection_state", who="b", state="connected") == 1
        assert 0 < value(before, "zkha_lease_remaining_seconds", who="a") <= 6
        assert value(before, "zkha_session_timeout_requested_seconds", who="a") == 6
        assert value(before, "zkha_operation_latency_seconds_count", who="a") > 0
        assert value(before, "zkha_grants_total", cluster_id="py-metrics", who="a") == 1

        ea.close()
        eb.wait(10)
        after = scrape(address)
        assert value(after, "zkha_grants_total", who="b") == 1
        assert value(after, "zkha_leading", who="b") == 1
        assert value(after, "zkha_leading", who="a") == 0
        assert value(after, "zkha_revocations_total", who="a", reason="closed") == 1
        assert value(after, "zkha_revocations_total", who="a", reason="node_deleted") == 0
        eb.close()

        m = b.metrics()
        assert m["grants"] == 1 and m["revokes"] == 1
        assert dict(m["revokes_by_reason"])["closed"] == 1
        assert "zkha_grants_total" in zkha.openmetrics_text()


def test_bad_metrics_options_raise_naming_them(hosts: str) -> None:
    with pytest.raises(zkha.InvalidArgumentError, match="metrics host"):
        zkha.Client(hosts, metrics=zkha.Metrics(port=0, host="monitoring"))
    with pytest.raises(zkha.InvalidArgumentError, match="bad-label"):
        zkha.Client(hosts, metrics=zkha.Metrics(labels={"bad-label": "x"}))


def test_the_endpoint_answers_only_metrics(hosts: str) -> None:
    with zkha.Client(hosts, metrics=zkha.Metrics(port=0, host="127.0.0.1")) as c:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://{c.metrics_address}/", timeout=5)
        assert e.value.code == 404
