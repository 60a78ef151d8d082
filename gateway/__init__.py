"""The gateway: the only process clients talk to.

Stateless. It validates every public request (`validation`), forwards records and
collections to the metadata worker, routes vector searches to a vector worker by
rendezvous hashing (`routing`, `worker_clients`) and assembles query results (`query`).
"""
