"""The OCPP edge (1.6J, 2.0.1, and 2.1 with V2G set-points; phases per period from 2.0.1 on):
`SetChargingProfile` payloads per charger (`payloads`), their limits and coarsening (`limits`),
the fail-safe default profiles (`defaults`), which profiles a CSMS must (re-)send after a
re-plan (`delta`) and the official-schema and semantic checks every payload passes
(`validation`).
"""

from smartcharge.api.ocpp.delta import Delta, Sent, profile_delta, record_sent
from smartcharge.api.ocpp.payloads import build_ocpp_messages, pending_transactions, profile_id
from smartcharge.api.ocpp.validation import OcppPayloadError, validate_ocpp_message

__all__ = [
    "Delta",
    "OcppPayloadError",
    "Sent",
    "build_ocpp_messages",
    "pending_transactions",
    "profile_delta",
    "profile_id",
    "record_sent",
    "validate_ocpp_message",
]
