"""`make bench`'s report (scripts/bench-report): from a saved run's JSON lines it writes a
self-contained HTML page with the failover and peer figures, and the README's figure is
exactly what it makes of the run kept in docs/bench-results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "bench-report"
RUN = ROOT / "docs" / "bench-results" / "2026-11-30-make-bench.jsonl"


def report(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_saved_run_makes_a_self_contained_page_with_both_figures(tmp_path: Path) -> None:
    r = report(tmp_path, str(RUN))
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "report.html").read_text()
    assert (
        page.count("<svg") == 2
        and "<script" not in page
        and "<link" not in page
        and " src=" not in page
    ), "self-contained: no script, nothing fetched"
    # Every Flink version's crash failover on zkha and on built-in HA, and every peer.
    for version in ["1.20.5", "2.0.2", "2.1.3", "2.2.1", "2.3.0"]:
        assert f"Flink {version}: SIGKILL of the leader JobManager" in page
    for name in ["zkha (Rust)", "zkha (C)", "zkha (Python)", "Curator", "kazoo"]:
        assert f">{name}</text>" in page, name
    # The table lists every line of the run.
    lines = [line for line in RUN.read_text().splitlines() if line.strip()]
    assert page.count("<tr><td>") == len(lines)


def test_the_readme_figure_is_the_saved_runs(tmp_path: Path) -> None:
    r = report(tmp_path, str(RUN), "--flink", "2.3.0")
    assert r.returncode == 0, r.stderr
    made = (tmp_path / "failover-timeline.svg").read_text()
    assert made == (ROOT / "docs" / "img" / "failover-flink-2.3.svg").read_text()
    assert (tmp_path / "peers.svg").read_text() == (ROOT / "docs" / "img" / "peers.svg").read_text()
    assert "157 ms" in made and "4018 ms" in made  # zkha and built-in HA, SIGKILL medians


def test_no_benchmark_lines_is_an_error_naming_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("compiling...\nnot json\n")
    r = report(tmp_path, str(empty))
    assert r.returncode == 1 and str(empty) in r.stderr
