"""Build and run the metadata worker's gRPC server.

Order on start: lock the folder and run migrations (Store), bind and start the server,
report SERVING, then write the port file. On SIGTERM/SIGINT: NOT_SERVING, drain
in-flight calls, stop, close SQLite (releasing the lock), return.
"""

from __future__ import annotations

import logging
import signal

from segmentdb import internal_auth, serving
from segmentdb.internal.v1 import metadata_service_pb2, metadata_service_pb2_grpc

from metadata_worker import store_backup
from metadata_worker.config import Config
from metadata_worker.servicer import MetadataServicer
from metadata_worker.store import Store

log = logging.getLogger(__name__)

SERVICE_NAME = metadata_service_pb2.DESCRIPTOR.services_by_name["MetadataService"].full_name


def build(config: Config) -> tuple[serving.Served, Store]:
    """Open the store (lock + migrations) and start serving it; returns SERVING."""
    token = (internal_auth.read_token_file(config.internal_token_file)
             if config.internal_token_file else None)
    interceptors = [internal_auth.RequireToken(token)] if token else []
    store = Store(config.path)
    try:
        store_backup.remove_leftovers(store)
        servicer = MetadataServicer(store, log_retention=config.log_retention)

        def register(server):
            metadata_service_pb2_grpc.add_MetadataServiceServicer_to_server(servicer, server)
            return [SERVICE_NAME]

        served = serving.build_server(register, host=config.host, port=config.port,
                                      max_message_bytes=config.max_message_bytes,
                                      interceptors=interceptors)
    except BaseException:
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
    serving.write_port_file(config.port_file, served.port)
    log.info("metadata worker serving %s on %s:%d", store.db_path, config.host, served.port)
    serving.wait_for_signal(served, store.close)
    log.info("metadata worker stopped")
