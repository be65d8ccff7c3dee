"""What each role of key may call: one table, checked for every authenticated request.

- `read`: every GET, and the calls that compute without storing (`what-if`, `optimize`): a
  dashboard, an analyst, the console of someone who may look but not change.
- `ingest`: `read`, and the data a CSMS sends (meter values, sessions as they arrive, change
  and end): what a charge point operator's backend needs, and no more.
- `manage`: everything of its tenant: sites, limits, grid-operator windows, price feeds, weather
  forecasts, keys, the audit log.

A call not in `REQUIRED` needs `read` if it is a GET and `manage` otherwise: a write route
added later is closed to `read` and `ingest` keys until someone decides it belongs to them.
"""

from __future__ import annotations

from typing import Final

READ, INGEST, MANAGE = "read", "ingest", "manage"
ROLES: Final = (READ, INGEST, MANAGE)
_LEVEL = {role: level for level, role in enumerate(ROLES)}

SITE = "/v1/sites/{site_id}"
REQUIRED: Final[dict[tuple[str, str], str]] = {
    ("POST", "/v1/optimize"): READ,
    ("POST", f"{SITE}/what-if"): READ,
    ("POST", f"{SITE}/measurements"): INGEST,
    ("POST", f"{SITE}/sessions"): INGEST,
    ("PATCH", f"{SITE}/sessions/{{session_id}}"): INGEST,
    ("DELETE", f"{SITE}/sessions/{{session_id}}"): INGEST,
    ("POST", f"{SITE}/sessions/{{session_id}}/meter"): INGEST,
    ("GET", "/v1/keys"): MANAGE,
    ("GET", "/v1/audit"): MANAGE,
}

# Calls that change stored state without being a change anyone audits: meter values arrive by
# the thousand (every charger, every minute) and are kept with their own receipt time.
TELEMETRY: Final = frozenset(
    {("POST", f"{SITE}/measurements"), ("POST", f"{SITE}/sessions/{{session_id}}/meter")}
)


def required_role(method: str, route_path: str) -> str:
    method = "GET" if method == "HEAD" else method
    return REQUIRED.get((method, route_path), READ if method == "GET" else MANAGE)


def allows(role: str, method: str, route_path: str) -> bool:
    return _LEVEL.get(role, -1) >= _LEVEL[required_role(method, route_path)]


def forbidden_message(role: str, method: str, route_path: str) -> str:
    needed = required_role(method, route_path)
    allowed = " or ".join(r for r in ROLES if _LEVEL[r] >= _LEVEL[needed])
    return f"this key's role is '{role}': {method} {route_path} needs a key of role {allowed}"
