"""Build, run and stop the gateway's gRPC server.

SERVING as soon as it listens: the gateway holds no state to load, and a call that
reaches a worker that is not up yet fails with UNAVAILABLE, which clients retry.
"""

from __future__ import annotations

import logging
import sys
from typing import Optional

import grpc

from gateway.admin_servicer import AdminServicer
from gateway.auth_interceptor import AuthInterceptor, CollectionTenants, metadata_lookup
from gateway.auth_tokens import TokenSource
from gateway.collection_servicer import CollectionServicer
from gateway.config import GatewayConfig
from gateway.embedding_pool import EmbeddingPool
from gateway.record_embedding import RecordEmbedder
from gateway.record_servicer import RecordServicer
from gateway.system_servicer import SystemServicer
from gateway.tenancy_servicer import TenancyServicer
from gateway.transfer_servicer import TransferServicer
from gateway.worker_clients import WorkerClients
from segmentdb import internal_auth, metrics, serving
from segmentdb.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    collection_service_pb2,
    collection_service_pb2_grpc,
    record_service_pb2,
    record_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
    tenancy_service_pb2,
    tenancy_service_pb2_grpc,
    transfer_service_pb2,
    transfer_service_pb2_grpc,
)

log = logging.getLogger(__name__)

# More threads than a worker: most of a gateway call's time is spent waiting on a worker.
MAX_CONCURRENT_CALLS = 64

SERVICE_NAMES = [
    system_service_pb2.DESCRIPTOR.services_by_name["SystemService"].full_name,
    tenancy_service_pb2.DESCRIPTOR.services_by_name["TenancyService"].full_name,
    collection_service_pb2.DESCRIPTOR.services_by_name["CollectionService"].full_name,
    record_service_pb2.DESCRIPTOR.services_by_name["RecordService"].full_name,
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    transfer_service_pb2.DESCRIPTOR.services_by_name["TransferService"].full_name,
]


def build_server(config: GatewayConfig) -> tuple[serving.Served, WorkerClients]:
    """Start the gateway (NOT_SERVING until the caller calls set_serving(True)).

    Raises ValueError (naming the flag) for an unusable tokens, TLS or internal token file.
    """
    served, workers, _api = build_servers(config)
    return served, workers


def build_servers(config: GatewayConfig) -> tuple[serving.Served, WorkerClients,
                                                  Optional[HttpApi]]:
    """build_server plus, when --http-port is on, Chroma's HTTP API over the SAME servicer
    instances and authentication (bound, not yet started: HttpApi.start())."""
    internal_token = (internal_auth.read_token_file(config.internal_token_file)
                      if config.internal_token_file else None)
    tokens = TokenSource(config.auth_tokens_file) if config.auth_tokens_file else None
    credentials = config.tls.credentials() if config.tls else None
    workers = WorkerClients(config.metadata_address, config.vector_worker_addresses,
                            config.max_message_bytes, internal_token=internal_token,
                            tls=config.internal_tls,
                            vector_worker_names=config.vector_worker_names)
    # No process starts here: the pool spawns its model processes on the first text.
    workers.embedding_pool = EmbeddingPool(config.embedding_processes,
                                           config.embedding_threads, config.embedding_max_batch)
    embedder = RecordEmbedder(workers, workers.embedding_pool)
    interceptors = []
    auth = None
    if tokens is not None:
        tenants = CollectionTenants(metadata_lookup(workers.metadata))
        auth = AuthInterceptor(tokens, tenants)
        interceptors.append(auth)
    system = SystemServicer(config)
    tenancy = TenancyServicer(workers)
    collections = CollectionServicer(workers)
    records = RecordServicer(config, workers, embedder)
    admin = AdminServicer(workers, allow_reset=config.allow_reset)

    def register(server: grpc.Server) -> list[str]:
        system_service_pb2_grpc.add_SystemServiceServicer_to_server(system, server)
        tenancy_service_pb2_grpc.add_TenancyServiceServicer_to_server(tenancy, server)
        collection_service_pb2_grpc.add_CollectionServiceServicer_to_server(collections, server)
        record_service_pb2_grpc.add_RecordServiceServicer_to_server(records, server)
        admin_service_pb2_grpc.add_AdminServiceServicer_to_server(admin, server)
        transfer_service_pb2_grpc.add_TransferServiceServicer_to_server(
            TransferServicer(config, workers), server)
        return SERVICE_NAMES

    try:
        served = serving.build_server(
            register,
            host=config.host,
            port=config.port,
            max_message_bytes=config.max_message_bytes,
            max_workers=MAX_CONCURRENT_CALLS,
            reflection=True,
            interceptors=interceptors,
            credentials=credentials,
        )
    except BaseException:
        workers.close()
        raise
    api = None
    if config.http_port is not None:
        try:
            api = HttpApi(config, (system, tenancy, collections, records, admin), auth)
        except OSError as exc:
            served.server.stop(0)
            workers.close()
            raise OSError(f"--http-port: cannot listen on {config.http_host}:"
                          f"{config.http_port} ({exc.strerror or exc}); pick another port, or "
                          "--http-port 0 to turn the HTTP API off") from None
    return served, workers, api


class HttpApi:
    """Chroma's HTTP API v2 (gateway.http): its socket bound at construction, starlette and
    uvicorn imported and started by start() (gateway.http.listen says why)."""

    def __init__(self, config: GatewayConfig, servicers: tuple,
                 auth: Optional[AuthInterceptor]):
        from gateway.http.listen import bind

        self._config, self._servicers, self._auth = config, servicers, auth
        self._sock = bind(config.http_host, config.http_port)
        self.port = self._sock.getsockname()[1]
        self.server = None

    def start(self) -> None:
        from gateway.http import server as http_server
        from gateway.http.routes import Servicers

        config = self._config
        app = http_server.build_app(Servicers(*self._servicers), allow_reset=config.allow_reset,
                                    max_body_bytes=config.max_message_bytes, auth=self._auth)
        self.server = http_server.HttpServer(app, self._sock, config.tls, config.shutdown_grace)
        self.server.start()

    def begin_stop(self) -> None:
        if self.server is not None:
            self.server.begin_stop()

    def stop(self, timeout: float) -> None:
        if self.server is not None:
            self.server.stop(timeout)
        else:
            self._sock.close()


def serve(config: GatewayConfig) -> None:
    """Run until SIGTERM/SIGINT: serve, then NOT_SERVING, drain, close channels."""
    serving.configure_logging(config.log_level, config.log_format)
    try:
        served, workers, api = build_servers(config)
    except (OSError, ValueError) as exc:
        log.error("gateway could not start: %s", exc)
        sys.exit(1)
    served.set_serving(True)
    try:
        metrics_port = (None if config.metrics_port is None else
                        metrics.enable("gateway", config.metrics_port, config.metrics_host))
    except OSError as exc:
        log.error("gateway could not serve metrics on %s:%s: %s", config.metrics_host,
                  config.metrics_port, exc)
        served.server.stop(0)
        workers.close()
        sys.exit(1)
    log.info("gateway serving on %s:%d (metadata %s, vector workers %s; %s, %s)%s", config.host,
             served.port, config.metadata_address, ",".join(config.vector_worker_addresses),
             "bearer tokens required" if config.auth_tokens_file else "no authentication",
             _describe_tls(config),
             f"; Chroma HTTP API on http{'s' if config.tls else ''}://{config.http_host}:"
             f"{api.port}/api/v2" if api is not None else "")
    for host in ([config.host] + ([config.http_host] if api is not None else [])):
        if not config.auth_tokens_file and not _loopback(host):
            log.warning("the gateway listens on %s WITHOUT authentication: anyone who reaches "
                        "the port can read and write every tenant; pass --auth-tokens-file "
                        "(and --tls-cert/--tls-key)", host)
            break
    extra = {"http_port": api.port} if api is not None else {}
    # last: tests read the log then
    serving.write_port_file(config.port_file, served.port, metrics_port, **extra)
    if api is not None:
        # After the port file (gateway.http.listen: its import is off the path to the first
        # gRPC answer) and after metrics.enable (its first request is counted).
        api.start()

    def stop_http() -> None:
        if api is not None:
            api.stop(config.shutdown_grace + 5)

    def on_stop() -> None:
        stop_http()
        workers.close()

    serving.wait_for_signal(served, on_stop=on_stop, grace=config.shutdown_grace,
                            on_signal=api.begin_stop if api is not None else None)
    log.info("gateway stopped")


def _loopback(host: str) -> bool:
    return host.startswith(("127.", "unix:")) or host in ("localhost", "::1", "[::1]")


def _describe_tls(config: GatewayConfig) -> str:
    if config.tls is None:
        return "plaintext"
    return "TLS with client certificates required" if config.tls.client_ca else "TLS"
