"""Which OCPP profiles a CSMS must (re-)send so its chargers run the latest plan.

Every re-plan starts at a new slot, so payloads differ in `startSchedule` even when the charger
would do exactly the same. Two profiles are compared as what they make the charger do: the
limit in force at each moment of the new plan, over the time both cover.

A profile the plan keeps unchanged is not re-sent, so the one on the charger is older than the
plan: it was sent in the version in which its profile (per charger, purpose and id) last
changed, and it runs out one horizon after that version's start. It must be re-sent before
then, or the charger falls back to its default in the middle of a plan that stands still. So
each plan records, per profile, the version the charger's copy was sent in and when that copy
runs out (`Sent`), and a profile counts as changed, besides when its effect changes, when that
copy has at most half the new plan's horizon left (`record_sent`). Judged from the previous
plan's profile instead, the copy would never look old: the previous plan's own profile always
starts one re-plan ago.

`profiles?since=s` at version L sends exactly the profiles whose `Sent` differs between s and
L. By induction on the versions a CSMS applies (one after another, skipping some, or from
scratch): after applying L, the charger's copy of each profile acts as L's profile does from
L's start until the copy's `until`, which is more than half a horizon after L's start. A copy
that was not re-sent was recorded as unchanged in every plan from s to L, each compared with
the one before over the time both cover, and that time covers the copy's life.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

Message = dict[str, Any]
Key = tuple[str, str, int]  # (charger id, purpose, profile id)


@dataclass(frozen=True)
class Profile:
    key: Key
    header: tuple
    start: datetime
    end: datetime | None
    starts: tuple[datetime, ...]
    limits: tuple[Effect, ...]

    def limit_at(self, moment: datetime) -> Effect | None:
        if moment < self.start or (self.end is not None and moment >= self.end):
            return None
        period = bisect.bisect_right(self.starts, moment) - 1
        return self.limits[period] if period >= 0 else None


def key_of(message: Message) -> Key:
    """(charger id, purpose, profile id): what a charger replaces a profile by."""
    payload = message["payload"]
    if "csChargingProfiles" in payload:
        profile = payload["csChargingProfiles"]
        return (
            message["charger_id"],
            profile["chargingProfilePurpose"],
            profile["chargingProfileId"],
        )
    profile = payload["chargingProfile"]
    return message["charger_id"], profile["chargingProfilePurpose"], profile["id"]


def profile_of(message: Message) -> Profile:
    """The charger's view of one `SetChargingProfile` message, for 1.6J, 2.0.1 or 2.1."""
    payload = message["payload"]
    if "csChargingProfiles" in payload:
        profile = payload["csChargingProfiles"]
        schedule, where = profile["chargingSchedule"], payload["connectorId"]
    else:
        profile = payload["chargingProfile"]
        schedule, where = profile["chargingSchedule"][0], payload["evseId"]
    start = datetime.fromisoformat(schedule["startSchedule"].replace("Z", "+00:00"))
    duration = schedule.get("duration")
    periods = schedule["chargingSchedulePeriod"]
    return Profile(
        key=key_of(message),
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
        limits=tuple(map(period_effect, periods)),
    )


class Effect(NamedTuple):
    """What a period makes the charger do: its limit and phases, and in OCPP 2.1 its mode,
    set-point and discharge limit (2.1 makes `limit` optional)."""

    limit: float | None
    phases: int | None
    mode: str | None = None
    setpoint: float | None = None
    discharge_limit: float | None = None


def period_effect(period: dict[str, Any]) -> Effect:
    def number(key: str) -> float | None:
        return None if period.get(key) is None else float(period[key])

    return Effect(
        number("limit"),
        period.get("numberPhases"),
        period.get("operationMode"),
        number("setpoint"),
        number("dischargeLimit"),
    )


def latest_profiles(messages: Iterable[Message]) -> dict[Key, Profile]:
    """Per key the profile a charger ends up with when sent `messages` in order."""
    return {profile.key: profile for profile in map(profile_of, messages)}


def acts_differently(old: Profile, new: Profile) -> bool:
    """Whether `new` makes the charger do anything else than `old`, where both are in force."""
    if old.header != new.header:
        return True
    window_end = min((e for e in (old.end, new.end) if e is not None), default=None)
    moments = {new.start, *(s for s in (*old.starts, *new.starts) if s > new.start)}
    return any(
        old.limit_at(moment) != new.limit_at(moment)
        for moment in moments
        if window_end is None or moment < window_end
    )


@dataclass(frozen=True)
class Sent:
    """The version the charger's copy of a profile was sent in, and when that copy runs out."""

    version: int
    until: datetime | None  # None: it has no duration

    def runs_out_soon(self, new: Profile) -> bool:
        """At most half of `new`'s horizon left; always when the copy ends and `new` does not."""
        if self.until is None:
            return False
        if new.end is None:
            return True
        return self.until - new.start <= (new.end - new.start) / 2


def record_sent(
    previous: list[Message] | None,
    previous_sent: dict[Key, Sent] | None,
    latest: list[Message],
    version: int,
) -> dict[Key, Sent]:
    """Per profile of the plan `version` (`latest`), the version its charger copy was sent in.

    `previous` and `previous_sent` are the plan before it and that plan's record (None when
    there is none or it predates the record: every profile then counts as sent now).
    """
    before = latest_profiles(previous or [])
    sent_before = previous_sent or {}
    record = {}
    for key, profile in latest_profiles(latest).items():
        held, old = sent_before.get(key), before.get(key)
        if (
            held is None
            or old is None
            or acts_differently(old, profile)
            or held.runs_out_soon(profile)
        ):
            record[key] = Sent(version, profile.end)
        else:
            record[key] = held
    return record


@dataclass
class Delta:
    changed: list[Message]
    cleared: list[dict[str, Any]]
    unchanged: list[str]


def profile_delta(
    since_sent: dict[Key, Sent] | None, latest: list[Message], latest_sent: dict[Key, Sent]
) -> Delta:
    """What a CSMS that applied the version recorded in `since_sent` (None: nothing yet) sends
    to bring its chargers to `latest`: the profiles sent since, and the ones no plan holds."""
    delta = Delta(changed=[], cleared=[], unchanged=[])
    for message in latest:
        key = key_of(message)
        if since_sent is None or since_sent.get(key) != latest_sent[key]:
            delta.changed.append(message)
        else:
            delta.unchanged.append(message["charger_id"])
    for charger_id, purpose, profile_id in sorted((since_sent or {}).keys() - latest_sent.keys()):
        delta.cleared.append(
            {
                "charger_id": charger_id,
                "charging_profile_purpose": purpose,
                "profile_id": profile_id,
            }
        )
    return delta


# --- the record as stored with each plan (JSON) -------------------------------------------------


def sent_to_json(record: dict[Key, Sent]) -> list[dict[str, Any]]:
    return [
        {
            "charger_id": charger_id,
            "purpose": purpose,
            "profile_id": profile_id,
            "version": sent.version,
            "until": None if sent.until is None else sent.until.isoformat(),
        }
        for (charger_id, purpose, profile_id), sent in sorted(record.items())
    ]


def sent_from_json(rows: list[dict[str, Any]]) -> dict[Key, Sent]:
    return {
        (row["charger_id"], row["purpose"], row["profile_id"]): Sent(
            row["version"], None if row["until"] is None else datetime.fromisoformat(row["until"])
        )
        for row in rows
    }


def unrecorded(messages: list[Message], version: int) -> dict[Key, Sent]:
    """A record for a plan stored before records were kept: its copies match no other plan's
    (a version below 1 is none), so a delta across it re-sends them all."""
    return {key_of(message): Sent(-version, None) for message in messages}
