"""Build, run and stop a vector worker: gRPC server (VectorService + health), the segment
cache and the channel to the metadata worker.

Start-up binds and reports SERVING at once (segments load lazily, the metadata worker may come
up later); the port file is written after SERVING. SIGTERM: NOT_SERVING, drain in-flight calls,
stop the idle reaper, the write-hint warmer and the log tailer, persist every dirty loaded segment, close the channel.
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc

from segmentdb import internal_auth, metrics, serving
from segmentdb.internal.v1 import vector_service_pb2, vector_service_pb2_grpc
from vector_worker import process_memory
from vector_worker.config import VectorWorkerConfig
from vector_worker.idle_reaper import IdleReaper
from vector_worker.log_tailer import LogTailer
from vector_worker.memory_budget import format_bytes
from vector_worker.metadata_client import MetadataClient
from vector_worker.segment_cache import SegmentCache
from vector_worker.segment_warmer import SegmentWarmer
from vector_worker.working_set import WorkingSet
from vector_worker.servicer import VectorServicer

log = logging.getLogger(__name__)

SERVICE_NAME = vector_service_pb2.DESCRIPTOR.services_by_name["VectorService"].full_name


class VectorWorker:
    """A started worker. `port` is the bound port; `close()` after the server stopped."""

    def __init__(self, config: VectorWorkerConfig):
        self.config = config
        internal_token = (internal_auth.read_token_file(config.internal_token_file)
                          if config.internal_token_file else None)
        Path(config.path, "index").mkdir(parents=True, exist_ok=True)
        self.client = MetadataClient(config.metadata_address, config.max_message_bytes,
                                     internal_token=internal_token,
                                     tls=config.metadata_tls)
        self.cache = SegmentCache(config.path, self.client,
                                  memory_budget=config.memory_budget_bytes,
                                  idle_ttl=config.idle_ttl_seconds)
        self.reaper = IdleReaper(self.cache)
        self.warmer = SegmentWarmer(self.cache)
        self.working_set = (WorkingSet(config.path, config.name, self.cache, self.client,
                                       self.warmer) if config.name else None)
        self.tailer = LogTailer(self.cache, config.tail_interval_seconds,
                                after_tick=self.working_set.record if self.working_set else None)
        servicer = VectorServicer(self.cache, self.warmer)

        def register(server: grpc.Server) -> list[str]:
            vector_service_pb2_grpc.add_VectorServiceServicer_to_server(servicer, server)
            return [SERVICE_NAME]

        self.served = serving.build_server(
            register, host=config.host, port=config.port,
            max_message_bytes=config.max_message_bytes,
            interceptors=[internal_auth.RequireToken(internal_token)] if internal_token else [],
            credentials=config.tls.credentials() if config.tls else None)
        self.port = self.served.port
        self.reaper.start()
        self.tailer.start()
        if self.working_set is not None:
            self.working_set.restore_in_background()
        self.served.set_serving(True)
        self.metrics_port = None
        if config.metrics_port is not None:
            from vector_worker import cache_metrics

            self.metrics_port = metrics.enable(
                "vector-worker", config.metrics_port, config.metrics_host,
                lambda: cache_metrics.register(self.cache))
        serving.write_port_file(config.port_file, self.port, self.metrics_port)
        log.info("vector worker serving on %s:%d (data %s, metadata %s, memory budget %s, "
                 "idle ttl %s, tail interval %s)", config.host, self.port, config.path,
                 config.metadata_address, _describe_budget(config),
                 f"{config.idle_ttl_seconds:g}s" if config.idle_ttl_seconds else "never",
                 f"{config.tail_interval_seconds:g}s" if config.tail_interval_seconds
                 else "off")

    def close(self) -> None:
        """Persist dirty segments and close the channel (the server is already stopped)."""
        self.reaper.stop()
        self.warmer.close()
        self.tailer.stop()  # before the final persist: nothing applies entries after it
        if self.working_set is not None:
            self.working_set.record()  # what to reload after the restart
        saved = self.cache.persist_all()
        self.client.close()
        log.info("vector worker stopped; persisted %d segment(s)", saved)

    def stop(self, grace: float = 5.0) -> None:
        """In-process shutdown (tests): what SIGTERM does."""
        self.served.shutting_down()
        self.served.server.stop(grace).wait()
        self.close()


def _describe_budget(config: VectorWorkerConfig) -> str:
    if not config.memory_budget_bytes:
        return "unlimited"
    return (f"{config.memory_budget_bytes} bytes = "
            f"{format_bytes(config.memory_budget_bytes)} ({config.memory_budget_source})")


def serve(config: VectorWorkerConfig) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code (0 after a clean shutdown)."""
    process_memory.configure_allocator()
    worker = VectorWorker(config)
    serving.wait_for_signal(worker.served, worker.close, grace=config.shutdown_grace)
    return 0
