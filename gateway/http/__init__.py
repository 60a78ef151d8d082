"""Chroma's HTTP API v2 served by the gateway (issue 8).

One implementation of every rule, two transports: each route translates Chroma's JSON into
the public segmentdb.v1 request message, calls the SAME gateway servicer method the gRPC
server calls (in-process, no loopback hop), and translates the response (or the
segmentdb.errors class it raised) back into Chroma's JSON and HTTP status.

Modules: server (uvicorn on its own thread), app (starlette routes), codec (JSON <-> protos),
responses (collections and records as Chroma's JSON), http_errors (error class -> status and
body), call (auth, context adapter, threadpool), observe (metrics + request log).
"""
