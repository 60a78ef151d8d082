"""Chroma's HTTP API v2 served by the gateway (issue 8).

One implementation of every rule, two transports: each route translates Chroma's JSON into
the public segmentdb.v1 request message, calls the SAME gateway servicer method the gRPC
server calls (in-process, no loopback hop), and translates the response (or the
segmentdb.errors class it raised) back into Chroma's JSON and HTTP status.

Modules: server (uvicorn on its own thread, the starlette app), routes (one handler per
route), endpoint (what every route shares: body limit, auth, thread pool, errors, metrics,
request log), context (the servicer-context adapter), codec (JSON -> request messages),
responses (response messages -> Chroma's JSON), http_errors (error class -> status, body).
"""
