"""Service settings, read once at start-up from the environment (prefix `SMARTCHARGE_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTCHARGE_")

    max_session_slots: int = Field(
        default=200_000,
        description="Largest problem one request may pose, as sessions x slots (413 above).",
    )
    max_time_limit_s: float = Field(
        default=30.0, description="Cap on a request's options.time_limit_s."
    )
