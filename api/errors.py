"""HTTP errors in FastAPI's own 422 shape, so clients parse one format for every bad field."""

from __future__ import annotations

from fastapi import HTTPException


def field_error(loc: list[str | int], msg: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", *loc], "msg": msg, "type": "value_error"}])
