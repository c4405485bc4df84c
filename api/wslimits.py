"""The WebSocket endpoint's limits, one object (``Services.ws``) so a test or a deployment can
tighten them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WsLimits:
    #: Frames waiting for one slow reader before it is disconnected (``api.outbox``).
    max_queued: int = 2_000
    #: Order frames of one connection waiting for their acks at once.
    max_in_flight: int = 1_000
    max_frame_bytes: int = 65_536
    max_channels: int = 200
    #: A logged-in session silent this long is dropped; a login may ask for 1 to 300 s.
    heartbeat_s: float = 30.0
    max_heartbeat_s: float = 300.0
    max_cancel_all_after_s: float = 3_600.0
