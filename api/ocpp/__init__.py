"""The OCPP edge: `SetChargingProfile` payloads per charger (`payloads`), their limits and
coarsening (`limits`), the fail-safe default profiles (`defaults`), what changed between two
plans (`delta`) and the official-schema and semantic checks every payload passes (`validation`).
"""

from smartcharge.api.ocpp.delta import Delta, profile_delta
from smartcharge.api.ocpp.payloads import build_ocpp_messages, profile_id
from smartcharge.api.ocpp.validation import OcppPayloadError, validate_ocpp_message

__all__ = [
    "Delta",
    "OcppPayloadError",
    "build_ocpp_messages",
    "profile_delta",
    "profile_id",
    "validate_ocpp_message",
]
