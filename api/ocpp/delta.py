"""Which chargers' OCPP profiles changed between two plans, so a CSMS pushes only deltas.

Every re-plan starts at a new slot, so payloads differ in `startSchedule` even when the charger
would do exactly the same. Two profiles are compared as what they make the charger do: the
limit in force at each moment of the new plan, over the time both cover. A profile also counts
as changed when the one on the charger runs out within half the new plan's horizon, so chargers
are refreshed before they fall back to their default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

Message = dict[str, Any]


@dataclass(frozen=True)
class Profile:
    key: tuple[str, str, int]
    header: tuple
    start: datetime
    end: datetime | None
    starts: tuple[datetime, ...]
    limits: tuple[tuple[float, int | None], ...]

    def limit_at(self, moment: datetime) -> tuple[float, int | None] | None:
        if moment < self.start or (self.end is not None and moment >= self.end):
            return None
        current = None
        for start, limit in zip(self.starts, self.limits, strict=True):
            if start > moment:
                break
            current = limit
        return current


def profile_of(message: Message) -> Profile:
    """The charger's view of one `SetChargingProfile` message, for 1.6J or 2.0.1."""
    payload = message["payload"]
    if "csChargingProfiles" in payload:
        profile = payload["csChargingProfiles"]
        schedule = profile["chargingSchedule"]
        profile_id, where = profile["chargingProfileId"], payload["connectorId"]
    else:
        profile = payload["chargingProfile"]
        schedule = profile["chargingSchedule"][0]
        profile_id, where = profile["id"], payload["evseId"]
    start = datetime.fromisoformat(schedule["startSchedule"].replace("Z", "+00:00"))
    duration = schedule.get("duration")
    periods = schedule["chargingSchedulePeriod"]
    return Profile(
        key=(message["charger_id"], profile["chargingProfilePurpose"], profile_id),
        header=(
            where,
            profile["stackLevel"],
            profile["chargingProfileKind"],
            str(profile.get("transactionId")),
            schedule["chargingRateUnit"],
        ),
        start=start,
        end=start + timedelta(seconds=duration) if duration is not None else None,
        starts=tuple(start + timedelta(seconds=p["startPeriod"]) for p in periods),
        limits=tuple((float(p["limit"]), p.get("numberPhases")) for p in periods),
    )


def changed(old: Profile, new: Profile) -> bool:
    if old.header != new.header:
        return True
    runs_out_soon = (
        new.end is not None
        and old.end is not None
        and old.end - new.start < (new.end - new.start) / 2
    )
    if runs_out_soon:
        return True
    window_end = min((e for e in (old.end, new.end) if e is not None), default=None)
    moments = {new.start, *(s for s in (*old.starts, *new.starts) if s > new.start)}
    return any(
        old.limit_at(moment) != new.limit_at(moment)
        for moment in moments
        if window_end is None or moment < window_end
    )


@dataclass
class Delta:
    changed: list[Message]
    cleared: list[dict[str, Any]]
    unchanged: list[str]


def profile_delta(old_messages: list[Message], new_messages: list[Message]) -> Delta:
    """The new messages a charger needs, and the old profiles no plan holds any more."""
    old = {profile.key: profile for profile in map(profile_of, old_messages)}
    delta = Delta(changed=[], cleared=[], unchanged=[])
    new_keys = set()
    for message in new_messages:
        profile = profile_of(message)
        new_keys.add(profile.key)
        before = old.get(profile.key)
        if before is None or changed(before, profile):
            delta.changed.append(message)
        else:
            delta.unchanged.append(message["charger_id"])
    for key in old.keys() - new_keys:
        charger_id, purpose, profile_id = key
        delta.cleared.append(
            {
                "charger_id": charger_id,
                "charging_profile_purpose": purpose,
                "profile_id": profile_id,
            }
        )
    return delta
