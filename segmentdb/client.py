"""`segmentdb.Client`: chromadb's client API over segmentdb's public gRPC API.

One channel per client. Every failed call becomes a `segmentdb.errors` class (keeping
`err.code`); UNAVAILABLE is retried a few times, for idempotent reads only.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any, Callable, Mapping, Optional

import grpc

from segmentdb import embedding_functions, errors, wire
from segmentdb.admin import Admin
from segmentdb.collection import Collection
from segmentdb.types import DEFAULT_DATABASE, DEFAULT_TENANT, Database, EmbeddingFunction, Tenant
from segmentdb.v1 import (
    collection_service_pb2 as coll_pb,
    collection_service_pb2_grpc as coll_grpc,
    record_service_pb2_grpc as record_grpc,
    system_service_pb2 as sys_pb,
    system_service_pb2_grpc as sys_grpc,
    tenancy_service_pb2 as ten_pb,
    tenancy_service_pb2_grpc as ten_grpc,
)

# The client accepts any size: the server's --max-message-size is the limit that applies,
# and it answers RESOURCE_EXHAUSTED with a message we can explain.
# Keepalive as on our servers (segmentdb.serving.KEEPALIVE_OPTIONS, not imported: the SDK
# stays light): a ping after 30 s idle, the connection dropped if unanswered in 10 s.
_UNLIMITED = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1),
              ("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000),
              ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0)]
_RETRY_DELAYS = (0.1, 0.3, 0.9)
_TRANSPORT_TOO_LARGE = re.compile(r"(?:Received|Sent) message larger than max \((\d+) vs\. (\d+)\)", re.I)


# create_collection's default embedding_function: "not given" (the server's default
# function), told apart from an explicit None (no function: legacy), as in chromadb 1.x.
DEFAULT_FUNCTION: Any = type("DefaultEmbeddingFunction", (), {"__repr__": lambda self: "default"})()


class Client:
    """A connection to a segmentdb gateway.

    >>> client = segmentdb.Client("localhost:50051")
    >>> collection = client.get_or_create_collection("docs")
    """

    def __init__(
        self,
        target: str = "localhost:50051",
        token: Optional[str] = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
        timeout: Optional[float] = None,
        *,
        tls: bool = False,
        root_certificates: Optional[bytes] = None,
        certificate_chain: Optional[bytes] = None,
        private_key: Optional[bytes] = None,
    ):
        """`token`: sent as `authorization: Bearer <token>` on every call. TLS when `tls`
        or any PEM is given: `root_certificates` (the CA to trust; default: the system's),
        `certificate_chain` + `private_key` (a client certificate, for mutual TLS)."""
        self.target = target
        self.tenant = tenant
        self.database = database
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        if bool(certificate_chain) != bool(private_key):
            raise errors.InvalidArgumentError(
                "certificate_chain/private_key: a client certificate needs both")
        if tls or root_certificates or certificate_chain:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates,
                                                       private_key=private_key,
                                                       certificate_chain=certificate_chain)
            self._channel = grpc.secure_channel(target, credentials, options=_UNLIMITED)
        else:
            self._channel = grpc.insecure_channel(target, options=_UNLIMITED)
        self._system = sys_grpc.SystemServiceStub(self._channel)
        self._tenancy = ten_grpc.TenancyServiceStub(self._channel)
        self._collections = coll_grpc.CollectionServiceStub(self._channel)
        self._records = record_grpc.RecordServiceStub(self._channel)
        self._admin = Admin(self, self._channel)
        self._limits: Optional[sys_pb.GetLimitsResponse] = None
        self._closed = False

    # ------------------------------------------------------------ calls

    def _call(self, method: Callable, request: Any, idempotent: bool = False) -> Any:
        """Invoke one RPC; raise its segmentdb.errors class on failure."""
        if self._closed:
            raise errors.FailedPreconditionError("this client is closed; create a new one")
        delays = _RETRY_DELAYS if idempotent else ()
        attempt = 0
        while True:
            try:
                return method(request, timeout=self.timeout, metadata=self._metadata)
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.UNAVAILABLE and attempt < len(delays):
                    time.sleep(delays[attempt])
                    attempt += 1
                    continue
                raise self._translate(err) from None

    def _translate(self, err: grpc.RpcError) -> errors.SegmentDBError:
        error = errors.from_rpc_error(err)
        details = err.details() or "" if hasattr(err, "details") else ""
        match = _TRANSPORT_TOO_LARGE.search(details)
        if err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and match:
            size, limit = int(match.group(1)), int(match.group(2))
            batch = "fewer records"
            try:  # best effort: the limits make the message exact, but must not mask the error
                limits = self._limits_response()
                limit, batch = limits.max_message_bytes or limit, f"{limits.max_batch_size} records"
            except errors.SegmentDBError:
                pass
            error = errors.BatchSizeExceededError(
                f"request of {size} bytes is over the server's limit of {limit} bytes; send smaller "
                f"batches (at most {batch} per write) or start the server with a larger "
                "--max-message-size"
            )
        return error

    def _limits_response(self) -> sys_pb.GetLimitsResponse:
        if self._limits is None:
            self._limits = self._call(self._system.GetLimits, sys_pb.GetLimitsRequest(), idempotent=True)
        return self._limits

    # ------------------------------------------------------------ system

    def heartbeat(self) -> int:
        """The server's time in nanoseconds since the epoch."""
        return self._call(self._system.Heartbeat, sys_pb.HeartbeatRequest(), idempotent=True).nanoseconds

    def get_version(self) -> str:
        return self._call(self._system.GetVersion, sys_pb.GetVersionRequest(), idempotent=True).version

    def get_max_batch_size(self) -> int:
        """Most records one add/upsert/update may carry."""
        return self._limits_response().max_batch_size

    def get_max_message_bytes(self) -> int:
        """Largest request the server accepts, in bytes."""
        return self._limits_response().max_message_bytes

    # ------------------------------------------------------------ collections

    def _collection(self, proto, embedding_function: Optional[EmbeddingFunction]) -> Collection:
        return Collection(self, proto, embedding_function)

    def list_collections(self, limit: Optional[int] = None, offset: Optional[int] = None) -> list[Collection]:
        """Collections of the current database, in creation order."""
        request = coll_pb.ListCollectionsRequest(
            tenant=self.tenant, database=self.database,
            limit=_non_negative(limit, "limit"), offset=_non_negative(offset, "offset"),
        )
        response = self._call(self._collections.ListCollections, request, idempotent=True)
        return [self._collection(c, None) for c in response.collections]

    def count_collections(self) -> int:
        request = coll_pb.CountCollectionsRequest(tenant=self.tenant, database=self.database)
        return self._call(self._collections.CountCollections, request, idempotent=True).count

    def create_collection(
        self,
        name: str,
        *,
        configuration: Optional[Mapping[str, Any]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        embedding_function: Any = DEFAULT_FUNCTION,
        data_loader: Any = None,
        get_or_create: bool = False,
        schema: Any = None,
    ) -> Collection:
        """Create a collection (ALREADY_EXISTS → UniqueConstraintError unless get_or_create).

        `embedding_function`: left out, the server embeds texts with the default function;
        a chromadb-style function embeds in this client (and wins); `None`, as in
        chromadb, means no function: the collection records `{"type": "legacy"}` and texts
        need embeddings."""
        _unsupported(data_loader=data_loader, schema=schema)
        explicit_none = embedding_function is None
        if embedding_function is DEFAULT_FUNCTION or explicit_none:
            embedding_function = None
        embedding_function = embedding_function or _configured_function(configuration)
        request = coll_pb.CreateCollectionRequest(
            tenant=self.tenant, database=self.database, name=_name(name),
            metadata=wire.metadata_to_proto(metadata, "metadata"),
            configuration=wire.configuration_to_proto(configuration),
            get_or_create=get_or_create,
        )
        if not request.configuration.HasField("embedding_function") and (
                embedding_function is not None or explicit_none):
            # The collection records what the server can do for other clients (Go, Node,
            # a client without this function): see client_side_spec.
            spec = (embedding_functions.legacy_spec() if explicit_none
                    else client_side_spec(embedding_function))
            request.configuration.embedding_function.CopyFrom(
                embedding_functions.message_from_dict(spec, "embedding_function"))
        response = self._call(self._collections.CreateCollection, request)
        return self._collection(response.collection, embedding_function)

    def get_or_create_collection(
        self,
        name: str,
        *,
        configuration: Optional[Mapping[str, Any]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        embedding_function: Any = DEFAULT_FUNCTION,
        data_loader: Any = None,
        schema: Any = None,
    ) -> Collection:
        return self.create_collection(
            name, configuration=configuration, metadata=metadata,
            embedding_function=embedding_function, data_loader=data_loader,
            get_or_create=True, schema=schema,
        )

    def get_collection(
        self, name: str, embedding_function: Optional[EmbeddingFunction] = None, data_loader: Any = None
    ) -> Collection:
        _unsupported(data_loader=data_loader)
        request = coll_pb.GetCollectionRequest(tenant=self.tenant, database=self.database, name=_name(name))
        response = self._call(self._collections.GetCollection, request, idempotent=True)
        return self._collection(response.collection, embedding_function)

    def get_collection_by_id(
        self, id: uuid.UUID | str, embedding_function: Optional[EmbeddingFunction] = None
    ) -> Collection:
        request = coll_pb.GetCollectionRequest(tenant=self.tenant, database=self.database, id=str(id))
        response = self._call(self._collections.GetCollection, request, idempotent=True)
        return self._collection(response.collection, embedding_function)

    def delete_collection(self, name: str) -> None:
        request = coll_pb.DeleteCollectionRequest(tenant=self.tenant, database=self.database, name=_name(name))
        self._call(self._collections.DeleteCollection, request)

    def import_records(
        self,
        name: str,
        records: Any,
        *,
        metadata: Optional[Mapping[str, Any]] = None,
        configuration: Optional[Mapping[str, Any]] = None,
        dimension: Optional[int] = None,
        import_id: Optional[str] = None,
        mode: str = "insert",
        chunk_size: int = 1000,
        on_progress: Optional[Callable[[int], None]] = None,
    ):
        """Import `records` (an iterable of `segmentdb.transfer.Records` batches) into the
        collection `name`, creating it with `metadata` and `configuration` if it does not
        exist; returns a `segmentdb.transfer.ImportResult`.

        Each chunk of `chunk_size` records commits in one transaction with the import's
        progress and is acknowledged (`on_progress(committed_records)` is called). Run it
        again with the same `import_id` and the same records after an interruption and it
        resumes after the last committed chunk: nothing is written twice. `mode="insert"`
        refuses ids already in the collection (UniqueConstraintError); `"upsert"` replaces
        them. Every record needs its embedding (no server-side embedding function yet).

        >>> from segmentdb.transfer import Records
        >>> batch = Records(ids=["a", "b"], embeddings=np.zeros((2, 8), "float32"),
        ...                 documents=["one", None], metadatas=[{"n": 1}, None])
        >>> result = client.import_records("books", [batch], import_id="books-2024-06-01",
        ...                                configuration={"hnsw": {"space": "cosine"}})
        >>> result.committed_records, result.created
        (2, True)
        """
        from segmentdb import transfer

        return transfer.import_records(
            self, _name(name), records, metadata=metadata, configuration=configuration,
            dimension=dimension, import_id=import_id, mode=mode, chunk_size=chunk_size,
            on_progress=on_progress)

    # ------------------------------------------------------------ tenants and databases

    def set_tenant(self, tenant: str, database: str = DEFAULT_DATABASE) -> None:
        """Use `tenant`/`database` from now on; NotFoundError if either does not exist."""
        self.get_tenant(tenant)
        self.get_database(database, tenant=tenant)
        self.tenant, self.database = tenant, database

    def set_database(self, database: str) -> None:
        self.get_database(database)
        self.database = database

    def create_tenant(self, name: str) -> None:
        self._call(self._tenancy.CreateTenant, ten_pb.CreateTenantRequest(name=name))

    def get_tenant(self, name: str) -> Tenant:
        response = self._call(self._tenancy.GetTenant, ten_pb.GetTenantRequest(name=name), idempotent=True)
        return Tenant(name=response.tenant.name)

    def create_database(self, name: str, tenant: Optional[str] = None) -> None:
        request = ten_pb.CreateDatabaseRequest(tenant=tenant or self.tenant, name=name)
        self._call(self._tenancy.CreateDatabase, request)

    def get_database(self, name: str, tenant: Optional[str] = None) -> Database:
        request = ten_pb.GetDatabaseRequest(tenant=tenant or self.tenant, name=name)
        return _database(self._call(self._tenancy.GetDatabase, request, idempotent=True).database)

    def list_databases(
        self, limit: Optional[int] = None, offset: Optional[int] = None, tenant: Optional[str] = None
    ) -> list[Database]:
        request = ten_pb.ListDatabasesRequest(
            tenant=tenant or self.tenant,
            limit=_non_negative(limit, "limit"), offset=_non_negative(offset, "offset"),
        )
        response = self._call(self._tenancy.ListDatabases, request, idempotent=True)
        return [_database(d) for d in response.databases]

    def delete_database(self, name: str, tenant: Optional[str] = None) -> None:
        request = ten_pb.DeleteDatabaseRequest(tenant=tenant or self.tenant, name=name)
        self._call(self._tenancy.DeleteDatabase, request)

    # ------------------------------------------------------------ operating the service

    def stats(self) -> dict[str, Any]:
        """Each vector worker's segment cache and the metadata worker's storage.

        `{"workers": [{"address", "reachable", "error", "memory_budget_bytes",
        "loaded_bytes", "hits", "misses", "loads", "evictions", ..., "segments": [...]}],
        "storage": {"log_entries", "sqlite_bytes", "collections", "records"}}` — plain
        JSON-serializable values. An unreachable worker has reachable=False and an error.
        """
        return self._admin.stats()

    def reindex(self, collection: Optional[str] = None) -> list[dict[str, Any]]:
        """Rebuild vector indexes from SQLite: the named collection, or every collection of
        the current database. One dict per collection: collection_id, name, records,
        seconds, worker_address. NotFoundError if `collection` does not exist.

        >>> client.reindex("docs")
        [{'collection_id': '...', 'name': 'docs', 'records': 1000, 'seconds': 0.4, ...}]
        """
        if collection is not None:
            _name(collection)
        return self._admin.reindex(self.tenant, self.database, collection)

    def backup(self, path: str, *, force: bool = False, timeout: Optional[float] = None,
               on_progress: Optional[Callable[[str, int, int], None]] = None,
               chunk_bytes: int = 0) -> dict[str, Any]:
        """Take a consistent backup of the whole service (every tenant and database) while it
        keeps serving, and write it to `path` on THIS machine: a data folder, or one archive
        if `path` ends in `.tar`, `.tar.gz` or `.tgz`. `segmentdb serve --path` opens the
        folder (or the unpacked archive) directly; `segmentdb.restore_backup` verifies and
        installs it. Index folders are not included: they are rebuilt on first use.

        >>> client = segmentdb.Client("localhost:50051")
        >>> summary = client.backup("./backups/nightly.tar.gz")
        >>> summary["manifest"]["log_position"], summary["manifest"]["records"]
        (120453, 100000)

        Returns `{"path", "format", "bytes", "seconds", "manifest": {...}}`; the manifest
        (also written as backup-manifest.json) has the snapshot's log position — every write
        acknowledged with a log sequence up to it is in the backup, none after — schema
        version, segmentdb version, created_at and each file's size and sha256.
        `on_progress(phase, done, total)` is called with phase "snapshot" (pages copied on
        the server) then "download" (bytes received). An existing `path` is refused unless
        `force`; nothing is written at `path` unless the whole backup arrived intact.
        `timeout` (seconds) bounds the whole backup; the client's own timeout does not apply.
        `chunk_bytes`: bytes per streamed message (0 = 1 MiB; 64 KiB to 16 MiB).
        """
        return self._admin.backup(path, force=force, timeout=timeout, on_progress=on_progress,
                                  chunk_bytes=chunk_bytes)

    def vacuum(self, min_deleted_fraction: Optional[float] = None) -> dict[str, Any]:
        """Reclaim disk while serving: purge the applied log, rebuild vector indexes whose
        entries are at least `min_deleted_fraction` deleted (default 0.2), VACUUM SQLite.
        Covers the whole service (every tenant and database). Returns bytes before/after
        (sqlite_bytes_*, index_bytes_*, bytes_*), log_entries_*, `segments` (one dict per
        vector segment: rebuilt, live_count, deleted_count, bytes_before/after, error),
        maintenance_run_id and seconds.

        >>> client.vacuum()["bytes_after"]
        1843200
        """
        return self._admin.vacuum(min_deleted_fraction)

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target!r}, tenant={self.tenant!r}, database={self.database!r})"


def HttpClient(
    host: str = "localhost",
    port: int = 50051,
    ssl: bool = False,
    headers: Optional[Mapping[str, str]] = None,
    tenant: str = DEFAULT_TENANT,
    database: str = DEFAULT_DATABASE,
    **_ignored: Any,
) -> Client:
    """chromadb's `HttpClient(host, port)` spelling; it speaks gRPC to the gateway."""
    token = None
    auth = (headers or {}).get("Authorization") or (headers or {}).get("authorization")
    if auth and auth.lower().startswith("bearer "):
        token = auth[len("bearer "):]
    return Client(f"{host}:{port}", token=token, tenant=tenant, database=database, tls=ssl)


def _database(proto) -> Database:
    try:
        database_id: Any = uuid.UUID(proto.id)
    except ValueError:
        database_id = proto.id
    return Database(id=database_id, name=proto.name, tenant=proto.tenant)


def _name(name: Any) -> str:
    if not isinstance(name, str):
        raise errors.InvalidArgumentError(f"name: expected a string, got {type(name).__name__}")
    return name


def _non_negative(value: Optional[int], field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise errors.InvalidArgumentError(f"{field}: expected a non-negative integer, got {value!r}")
    return value


def _unsupported(**arguments: Any) -> None:
    for name, value in arguments.items():
        if value is not None:
            raise errors.InvalidArgumentError(f"{name}: not supported by segmentdb; leave it out")


def client_side_spec(function: EmbeddingFunction) -> dict[str, Any]:
    """What a collection created with a client-side function records on the server.

    As chromadb does: `{"type": "known", "name": f.name(), "config": f.get_config()}` for
    a function that names itself, else "legacy". chromadb's own default (name() ==
    "default": the same all-MiniLM-L6-v2) is the function the server runs; for any other
    the server only records it, and a documents-only write from a client without the
    function fails naming it instead of mixing another model's vectors into the collection.
    """
    name = getattr(function, "name", None)
    try:
        named = name() if callable(name) else None
    except Exception:  # noqa: BLE001 - a third-party function's name() may raise anything
        named = None
    if not isinstance(named, str) or not named:
        return embedding_functions.legacy_spec()
    if named in embedding_functions.KNOWN_FUNCTIONS:
        return {"type": "known", "name": named, "config": {}}
    get_config = getattr(function, "get_config", None)
    try:
        config = get_config() if callable(get_config) else {}
        json.dumps(config)
    except Exception:  # noqa: BLE001 - a config we cannot record is left out, not fatal
        config = {}
    return {"type": "known", "name": named, "config": config if isinstance(config, dict) else {}}


def _configured_function(configuration: Optional[Mapping[str, Any]]) -> Optional[EmbeddingFunction]:
    """chromadb lets `configuration={"embedding_function": ef}` carry the function."""
    if isinstance(configuration, Mapping):
        function = configuration.get("embedding_function")
        if function is not None and callable(function):
            return function
    return None


__all__ = ["Client", "HttpClient"]


def AdminClient(target: str = "localhost:50051", token: Optional[str] = None,
                **kwargs: Any) -> Client:
    """chromadb's `AdminClient` spelling: tenants and databases live on every Client here."""
    return Client(target, token=token, **kwargs)
