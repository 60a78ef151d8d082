"""The benchmark's embedding-throughput scenario (bench/embedding.py) runs and reports sane
numbers: a real `segmentdb serve` embedding 200 texts, and sentence-transformers in-process.
Slow (two model loads, ~1 minute): `make test-slow`. No timed assertions."""

from __future__ import annotations

import json
import math

import pytest

from bench import embedding, run


@pytest.mark.slow
def test_embedding_scenario_reports_every_number(tmp_path):
    out = tmp_path / "embedding.json"
    assert run.main(["--mode", "smoke", "--embedding-only", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["texts"] == 200
    for field in ("server_texts_per_s", "server_4_clients_texts_per_s", "server_model_load_s",
                  "in_process_same_threads_texts_per_s", "in_process_all_threads_texts_per_s"):
        assert isinstance(result[field], float) and math.isfinite(result[field]) and result[field] > 0
    text = "\n".join(embedding.markdown(result))
    assert "## Embedding throughput" in text and "texts/s" in text
