"""Ids the service stores: a site's, its chargers', circuits', PV arrays' and sessions'.

They travel in URLs (`/v1/sites/{site_id}/sessions/{session_id}`), in OCPP messages and in log
lines, so they are restricted to `[A-Za-z0-9._:-]{1,64}`: what needs no escaping in a path
segment, cannot climb out of one (`../../etc` has slashes), and fits a log line. An id outside
that would be stored and then be unreachable by URL; it is refused with a 422 naming the field.
Stateless problems (`smartcharge optimize`, `POST /v1/optimize`) store nothing and keep any id.
"""

from __future__ import annotations

import re
from typing import Any

from smartcharge.optimizer.problem import FieldError, ProblemError

STORED_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
ID_RULE = "letters, digits and . _ : - only, 1 to 64 characters"


def id_error(value: Any, loc: tuple[str | int, ...]) -> FieldError | None:
    if isinstance(value, str) and STORED_ID.fullmatch(value):
        return None
    shown = value if not isinstance(value, str) or len(value) <= 40 else value[:37] + "..."
    return FieldError(loc=loc, msg=f"{shown!r} is not a valid id: use {ID_RULE}")


def check_site_ids(document: dict[str, Any]) -> None:
    """Every id of a site document (SPEC `site`), else ProblemError naming each bad one."""
    site = document.get("site", {})
    errors = [id_error(site.get("id"), ("site", "id"))]
    for part in ("chargers", "circuits", "pv"):
        for i, item in enumerate(site.get(part) or []):
            errors.append(id_error(item.get("id"), ("site", part, i, "id")))
    _raise([e for e in errors if e is not None])


def check_session_ids(session: dict[str, Any]) -> None:
    errors = [id_error(session.get(name), (name,)) for name in ("id", "charger_id")]
    _raise([e for e in errors if e is not None])


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise ProblemError(errors)
