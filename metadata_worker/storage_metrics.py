"""The metadata worker's Prometheus gauges, read at scrape time from one read snapshot
(metadata_worker.store_stats): log length, SQLite size, collections and records."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from segmentdb import prometheus_metrics as metrics

from metadata_worker import store_stats
from metadata_worker.store import Store


def register(store: Store) -> metrics.ReadAtScrape:
    def build(read: bool):
        stats = store_stats.storage_stats(store) if read else None
        families = [
            ("segmentdb_log_entries", "Write-ahead log entries kept (not yet purged).",
             "log_entries"),
            ("segmentdb_sqlite_bytes", "Size of chroma.sqlite3 plus its -wal file, in bytes.",
             "sqlite_bytes"),
            ("segmentdb_collections", "Collections in every tenant and database.", "collections"),
            ("segmentdb_records", "Records in every collection.", "records"),
        ]
        for name, documentation, field in families:
            family = GaugeMetricFamily(name, documentation)
            if stats is not None:
                family.add_metric([], getattr(stats, field))
            yield family

    return metrics.register("storage", metrics.ReadAtScrape(build))
