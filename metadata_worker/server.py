"""Build and run the metadata worker's gRPC server.

Order on start: lock the folder, bind and start the server (NOT_SERVING), run migrations
(Store), report SERVING, start the metrics endpoint (when --metrics-port is set), then write
the port file (with the metrics port). On SIGTERM/SIGINT: NOT_SERVING, drain in-flight
calls, stop, close SQLite (releasing the lock), return.
"""

from __future__ import annotations

import logging
import signal

from segmentdb import internal_auth, metrics, serving
from segmentdb.deferred_servicer import DeferredServicer
from segmentdb.internal.v1 import metadata_service_pb2, metadata_service_pb2_grpc

from metadata_worker import store_backup
from metadata_worker.config import Config
from metadata_worker.servicer import MetadataServicer
from metadata_worker.store import Store

log = logging.getLogger(__name__)

SERVICE_NAME = metadata_service_pb2.DESCRIPTOR.services_by_name["MetadataService"].full_name


def build(config: Config) -> tuple[serving.Served, Store]:
    """Lock the folder, bind (NOT_SERVING), open the store (migrations), report SERVING.

    The server binds before the migrations run so that health answers NOT_SERVING while
    they do (a probe sees "starting", not "connection refused"); metadata calls meanwhile
    get UNAVAILABLE. Binding after the folder lock keeps a second worker on the same folder
    from taking over the first one's Unix socket.
    """
    token = (internal_auth.read_token_file(config.internal_token_file)
             if config.internal_token_file else None)
    interceptors = [internal_auth.RequireToken(token)] if token else []
    # Unreadable or non-PEM files fail here, before the folder is locked.
    credentials = config.tls.credentials() if config.tls else None
    starting = DeferredServicer("the metadata worker")

    def register(server):
        metadata_service_pb2_grpc.add_MetadataServiceServicer_to_server(starting, server)
        return [SERVICE_NAME]

    bound: list[serving.Served] = []

    def bind() -> None:
        bound.append(serving.build_server(register, host=config.host, port=config.port,
                                          max_message_bytes=config.max_message_bytes,
                                          interceptors=interceptors,
                                          credentials=credentials))
        log.info("metadata worker listening on %s:%d%s (NOT_SERVING until migrated)",
                 config.host, bound[0].port, " with TLS" if credentials else "")

    try:
        store = Store(config.path, on_locked=bind)
    except BaseException:
        for served in bound:
            served.server.stop(0)
        raise
    served = bound[0]
    try:
        store_backup.remove_leftovers(store)
        starting.ready(MetadataServicer(store, log_retention=config.log_retention))
    except BaseException:
        served.server.stop(0)
        store.close()
        raise
    served.set_serving(True)
    return served, store


def serve(config: Config) -> None:
    """Run until SIGTERM/SIGINT, then shut down cleanly."""
    # A write past RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the process (and
    # with it every in-flight call). Ignored, the write fails with EFBIG instead: SQLite
    # rolls the transaction back and the caller gets StorageFullError. CPython's start-up
    # already ignores it; saying so here keeps that true if we are ever embedded or forked.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    served, store = build(config)
    metrics_port = None
    if config.metrics_port is not None:
        from metadata_worker import storage_metrics

        metrics_port = metrics.enable("metadata-worker", config.metrics_port, config.metrics_host,
                                      lambda: storage_metrics.register(store))
    serving.write_port_file(config.port_file, served.port, metrics_port)
    log.info("metadata worker serving %s on %s:%d", store.db_path, config.host, served.port)
    serving.wait_for_signal(served, store.close, grace=config.shutdown_grace)
    log.info("metadata worker stopped")
