"""A tiny run of the benchmark (segmentdb + raw hnswlib, 500 records): it runs and reports.

No timed assertions (CI machines vary); it checks that every measure is present and sane for
both systems, in the JSON and in the markdown, so a broken measure or adapter fails here.
"""

from __future__ import annotations

import json
import math

from bench import report, run


def test_smoke_run_reports_every_measure(tmp_path):
    json_path, markdown_path = tmp_path / "smoke.json", tmp_path / "benchmarks.md"

    assert run.main(["--mode", "smoke", "--systems", "segmentdb,hnswlib",
                     "--json", str(json_path), "--markdown", str(markdown_path)]) == 0

    document = json.loads(json_path.read_text())
    assert set(document["results"]) == {"segmentdb", "hnswlib"}
    assert document["machine"]["nproc"] >= 1 and document["versions"]["hnswlib"]
    for key, result in document["results"].items():
        for field in document["measures"]:
            value = result.get(field)
            assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (key, field, value)
        for field in document["measures"]:
            if "recall" in field:
                assert 0.5 <= result[field] <= 1.0, (key, field, result[field])
        assert result["peak_rss_mib"], key

    scenario = document["budget"]
    assert scenario["answered_fraction"] == 1.0 and scenario["worker_peak_rss_mib"]
    assert scenario["p50_ms"] > 0 and scenario["p7_met"] in (True, False)
    assert scenario["evictions"] > 0, "the budget scenario must actually force evictions"
    assert {t["id"] for t in document["targets"]} == {f"P{i}" for i in range(1, 9)}

    text = markdown_path.read_text()
    assert "## Memory-budget scenario" in text and "## Issue 4 targets" in text
    for _field, label, _fmt in report.measures_of(document["config"]):
        assert f"| {label} |" in text
    assert "Ratios to raw hnswlib" in text and "segmentdb" in text
