"""SystemService: liveness, version and request limits. Answers without the workers."""

from __future__ import annotations

import time

from gateway.config import GatewayConfig
from segmentdb.v1 import system_service_pb2, system_service_pb2_grpc
from segmentdb.version import __version__


class SystemServicer(system_service_pb2_grpc.SystemServiceServicer):
    def __init__(self, config: GatewayConfig):
        self._config = config

    def Heartbeat(self, request, context):
        return system_service_pb2.HeartbeatResponse(nanoseconds=time.time_ns())

    def GetVersion(self, request, context):
        return system_service_pb2.GetVersionResponse(version=__version__)

    def GetLimits(self, request, context):
        return system_service_pb2.GetLimitsResponse(
            max_batch_size=self._config.max_batch_size,
            max_message_bytes=self._config.max_message_bytes,
        )
