"""The problem document of SPEC §1 as pydantic v2 models, and the cross-field checks.

`parse_problem` is the one entry point: it turns a JSON-like dict into a validated `Problem` or
raises `ProblemError`, whose `errors` name each field at fault (a path such as
`sessions[3].charger_id`) and the reason. Field-local rules live on the models; rules that relate
several parts of the document (unknown ids, array lengths, circuit cycles, overlapping sessions)
live in `_cross_field_errors`, so that every error carries the path of the field a user must fix.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from smartcharge.optimizer.tariff import clock_minutes, weekdays_of
from smartcharge.optimizer.units import ac_power_kw, max_current_for_power_a

GRID_PHASES = ("L1", "L2", "L3")
DEFAULT_VOLTAGE_V = 230.0
# OCPP 2.0.1 `transactionId` is a string of at most 36 characters (SetChargingProfileRequest).
MAX_TRANSACTION_ID_CHARS_201 = 36

# Times the engine plans at: pandas holds nanoseconds from 1677 to 2262, the store and a plan
# need far less; outside this a time is a typo, and a 422 rather than a crash deep inside.
EARLIEST_TIME, LATEST_TIME = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _supported_time(time: datetime) -> datetime:
    if not EARLIEST_TIME <= time < LATEST_TIME:
        raise ValueError(f"must lie between {EARLIEST_TIME.year} and {LATEST_TIME.year}")
    return time


SupportedTime = Annotated[AwareDatetime, AfterValidator(_supported_time)]

# Magnitudes beyond any charging site are refused (422 naming the field), not planned: a number
# like 1e308 kWh overflows the solver's arithmetic and comes back as a fallback whose message
# blames the time limit. The bounds are generous physics, not policy:
# - a site's power (grid and circuit limits, base load, PV, a peak): 1 GW. The largest single
#   grid connections (aluminium smelters, hyperscale data centres) are of this order; a
#   charging site, however large, draws far less.
MAX_SITE_POWER_KW = 1e6
# - a charger's or an EV's power: 10 MW. The Megawatt Charging System tops out at 3.75 MW
#   (3000 A at 1250 V DC); an AC charger draws 44 kW at most.
MAX_CHARGER_POWER_KW = 1e4
# - a charger's or an EV's current: 5000 A (MCS: 3000 A).
MAX_CHARGER_CURRENT_A = 5e3
# - a site's phase current: its 1 GW on three phases at 230 V (1.45 MA).
MAX_SITE_CURRENT_A = MAX_SITE_POWER_KW * 1000 / (3 * DEFAULT_VOLTAGE_V)
# - an energy: what a 1 GW site draws in a year (8.76 TWh): no EV can want more than its site
#   could deliver in a year.
MAX_ENERGY_KWH = MAX_SITE_POWER_KW * 8760
# - money per kWh or per kW: 1e8 units of any currency. A 4 EUR/kWh day-ahead spike or a
#   100 EUR/kW demand charge stays below it even in the currency of the smallest unit in use
#   (the Iranian rial, ~5e5 a euro).
MAX_MONEY_PER_UNIT = 1e8
# - a grid voltage: 1000 V, the ceiling of low voltage (IEC 60038), which chargers connect to.
MAX_VOLTAGE_V = 1000.0
# - a solver time limit: a day; a plan that takes longer than the day it plans is no plan.
MAX_TIME_LIMIT_S = 86400.0


def _bounded(limit: float, unit: str, beyond: str) -> AfterValidator:
    def check(value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        if abs(value) > limit:
            raise ValueError(f"{value:g} {unit} is more than {beyond} ({limit:g} {unit})")
        return value

    return AfterValidator(check)


_SITE_KW = _bounded(MAX_SITE_POWER_KW, "kW", "any grid connection carries")
_CHARGER_KW = _bounded(MAX_CHARGER_POWER_KW, "kW", "any charger delivers")
_CHARGER_A = _bounded(MAX_CHARGER_CURRENT_A, "A", "any charger carries")
_SITE_A = _bounded(MAX_SITE_CURRENT_A, "A", "any grid connection carries")
_MONEY = _bounded(MAX_MONEY_PER_UNIT, "per unit", "any tariff charges")
SitePowerKw = Annotated[float, _SITE_KW]
NonNegativeSitePowerKw = Annotated[NonNegativeFloat, _SITE_KW]
PositiveSitePowerKw = Annotated[PositiveFloat, _SITE_KW]
NonNegativeChargerKw = Annotated[NonNegativeFloat, _CHARGER_KW]
PositiveChargerKw = Annotated[PositiveFloat, _CHARGER_KW]
NonNegativeChargerA = Annotated[NonNegativeFloat, _CHARGER_A]
PositiveChargerA = Annotated[PositiveFloat, _CHARGER_A]
NonNegativeSiteA = Annotated[NonNegativeFloat, _SITE_A]
PositiveSiteA = Annotated[PositiveFloat, _SITE_A]
EnergyKwh = Annotated[
    NonNegativeFloat, _bounded(MAX_ENERGY_KWH, "kWh", "a 1 GW site draws in a year")
]
Money = Annotated[float, _MONEY]
NonNegativeMoney = Annotated[NonNegativeFloat, _MONEY]

# A per-slot series may be one number for every slot or one value per slot.
SlotSeries = float | list[float]
PowerSeriesKw = SitePowerKw | list[SitePowerKw]
NonNegativeSlotSeries = NonNegativeSitePowerKw | list[NonNegativeSitePowerKw]
PriceSeries = Money | list[Money]
FinitePrice = Annotated[float, Field(allow_inf_nan=False), _MONEY]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Location(_Model):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    altitude_m: float = Field(default=0.0, ge=-500, le=9000, description="[m], Dead Sea to Everest")


class Grid(_Model):
    import_limit_kw: NonNegativeSlotSeries
    export_limit_kw: NonNegativeSlotSeries = 0.0
    phase_limit_a: PositiveSiteA | list[PositiveSiteA | None] | None = Field(
        default=None,
        description="per grid phase [A]: one number, or one per slot (null: no limit then)",
    )
    voltage_v: PositiveFloat = Field(default=DEFAULT_VOLTAGE_V, le=MAX_VOLTAGE_V)


class Circuit(_Model):
    id: str = Field(min_length=1)
    parent: str | None = None
    limit_kw: NonNegativeSitePowerKw | None = None
    phase_limit_a: NonNegativeSiteA | None = None


class Charger(_Model):
    id: str = Field(min_length=1)
    circuit: str | None = None
    kind: Literal["ac", "dc"] = "ac"
    phases: Literal[1, 2, 3] = 3
    phase_rotation: str | None = Field(
        default=None,
        description="Grid phase of the charger's L1, L2, L3 in order, e.g. 'L2L3L1', or 'L2' "
        "for a one-phase charger. Default: 'L1L2L3' cut to the charger's phases.",
    )
    max_current_a: PositiveChargerA | None = None
    min_current_a: NonNegativeChargerA = 6.0
    max_power_kw: PositiveChargerKw | None = None
    min_power_kw: NonNegativeChargerKw = 0.0
    ocpp_version: Literal["1.6", "2.0.1", "2.1"] = "1.6"
    charging_rate_unit: Literal["A", "W"] = Field(
        default="A", description="A or W; DC and bidirectional chargers are always limited in W"
    )
    connector_id: int = Field(default=1, ge=1)
    evse_id: int = Field(default=1, ge=1)
    max_periods: int = Field(default=24, ge=1)
    profile_purpose: Literal["TxProfile", "TxDefaultProfile"] = "TxProfile"
    stack_level: int = Field(default=1, ge=0)
    bidirectional: bool = Field(
        default=False,
        description="an OCPP 2.1 charger that can discharge an EV (V2G): sessions with "
        "`discharge` may feed power back (SPEC §4)",
    )
    phase_switching: bool = Field(
        default=False,
        description="a three-phase AC charger (OCPP 2.0.1 or 2.1) that can switch an EV between "
        "one and three phases during a session: the phases are then decided per slot (SPEC §4)",
    )
    discharge_control: Literal["setpoint", "limits"] = Field(
        default="setpoint",
        description="how a bidirectional charger gets a V2G plan (OCPP 2.1): 'setpoint' sends "
        "each period's planned power as `setpoint` with operationMode CentralSetpoint, "
        "bounded by `limit`/`dischargeLimit`; 'limits' sends only that envelope with "
        "operationMode ExternalLimits, for a site controller that picks the power inside it",
    )

    @field_validator("phase_rotation")
    @classmethod
    def _rotation_names_grid_phases(cls, rotation: str | None) -> str | None:
        if rotation is None:
            return None
        tokens = _rotation_tokens(rotation)
        if tokens is None or len(set(tokens)) != len(tokens):
            raise ValueError(
                f"'{rotation}' is not a phase rotation: give distinct grid phases L1/L2/L3 "
                "in the order of the charger's phases, e.g. 'L2L3L1' or 'L3'"
            )
        return rotation

    @model_validator(mode="after")
    def _kind_specific_limits(self) -> Charger:
        if self.kind == "ac" and self.max_current_a is None and self.max_power_kw is None:
            raise ValueError("an AC charger needs max_current_a or max_power_kw")
        if self.kind == "dc" and self.max_power_kw is None:
            raise ValueError("a DC charger needs max_power_kw")
        if self.phase_rotation is not None:
            n_tokens = len(_rotation_tokens(self.phase_rotation) or ())
            if self.kind == "ac" and n_tokens != self.phases:
                raise ValueError(
                    f"phase_rotation '{self.phase_rotation}' names {n_tokens} phases but the "
                    f"charger has {self.phases}"
                )
        return self

    @field_validator("bidirectional")
    @classmethod
    def _bidirectional_needs_ocpp_21(cls, bidirectional: bool, info: ValidationInfo) -> bool:
        version = info.data.get("ocpp_version")
        if bidirectional and version is not None and version != "2.1":
            raise ValueError(
                f"needs ocpp_version '2.1' (discharge limits and set-points exist only in "
                f"OCPP 2.1), not '{version}'"
            )
        return bidirectional

    @field_validator("phase_switching")
    @classmethod
    def _switching_needs_a_three_phase_ac_charger(
        cls, switching: bool, info: ValidationInfo
    ) -> bool:
        if not switching:
            return switching
        if info.data.get("kind") == "dc":
            raise ValueError("a DC charger has no phases to switch")
        if info.data.get("phases") not in (None, 3):
            raise ValueError(f"needs a three-phase charger, not {info.data.get('phases')} phases")
        if info.data.get("ocpp_version") == "1.6":
            # OCPP 1.6 has no per-period phase switching: its only capability key,
            # ConnectorSwitch3to1PhaseSupported, switches 3 -> 1 once within a transaction and
            # never back (OCPP.md §1.3, pitfall 9), so a plan that returns to three phases could
            # not be sent.
            raise ValueError(
                "needs ocpp_version '2.0.1' or '2.1': OCPP 1.6 can only switch from three phases "
                "to one during a transaction (ConnectorSwitch3to1PhaseSupported), never back, so "
                "a per-slot phase plan cannot be sent to it"
            )
        return switching

    @property
    def grid_phases(self) -> tuple[str, ...]:
        """The grid phase each of the charger's phases is wired to, in the charger's order."""
        if self.kind == "dc":
            return GRID_PHASES
        if self.phase_rotation is None:
            return GRID_PHASES[: self.phases]
        return tuple(_rotation_tokens(self.phase_rotation) or ())


class PVArray(_Model):
    id: str = Field(min_length=1)
    kwp: PositiveSitePowerKw
    tilt_deg: float = Field(default=30.0, ge=0, le=90)
    azimuth_deg: float = Field(default=180.0, ge=0, lt=360)
    inverter_kw: PositiveSitePowerKw | None = None
    losses_pct: float = Field(default=14.0, ge=0, lt=100)


class Battery(_Model):
    """A stationary battery behind the grid connection (SPEC §4), driven by the site controller:
    the answer's `batteries` is its set-point list (no OCPP payload)."""

    id: str = Field(min_length=1)
    circuit: str | None = Field(default=None, description="the circuit it hangs below, if any")
    capacity_kwh: EnergyKwh = Field(gt=0)
    soc_kwh: EnergyKwh = Field(description="state of charge at the horizon's start")
    min_soc_kwh: EnergyKwh = 0.0
    max_soc_kwh: EnergyKwh | None = Field(default=None, description="default: capacity")
    final_soc_kwh: EnergyKwh | None = Field(
        default=None, description="the least state at the horizon's end; default: soc_kwh"
    )
    max_charge_kw: NonNegativeSitePowerKw
    max_discharge_kw: NonNegativeSitePowerKw
    efficiency: float = Field(
        default=0.9, gt=0, le=1, description="round trip, split as its square root each way"
    )
    cycle_cost_per_kwh: NonNegativeMoney = Field(
        default=0.0, description="degradation, charged on the energy discharged"
    )

    @model_validator(mode="after")
    def _states_fit_the_capacity(self) -> Battery:
        if self.soc_kwh > self.capacity_kwh:
            raise ValueError(f"soc_kwh {self.soc_kwh} is above capacity_kwh {self.capacity_kwh}")
        if self.max_soc_kwh is not None and self.max_soc_kwh > self.capacity_kwh:
            raise ValueError(
                f"max_soc_kwh {self.max_soc_kwh} is above capacity_kwh {self.capacity_kwh}"
            )
        if self.min_soc_kwh > self.upper_soc_kwh:
            raise ValueError(
                f"min_soc_kwh {self.min_soc_kwh} is above max_soc_kwh {self.upper_soc_kwh}"
            )
        if self.final_soc_kwh is not None and not (
            self.min_soc_kwh <= self.final_soc_kwh <= self.upper_soc_kwh
        ):
            raise ValueError(
                f"final_soc_kwh {self.final_soc_kwh} lies outside [min_soc_kwh, max_soc_kwh] = "
                f"[{self.min_soc_kwh}, {self.upper_soc_kwh}]"
            )
        return self

    @property
    def upper_soc_kwh(self) -> float:
        return self.capacity_kwh if self.max_soc_kwh is None else self.max_soc_kwh

    @property
    def final_target_kwh(self) -> float:
        return self.soc_kwh if self.final_soc_kwh is None else self.final_soc_kwh


class Site(_Model):
    id: str = Field(min_length=1)
    timezone: str = "UTC"
    location: Location | None = None
    grid: Grid
    circuits: list[Circuit] = Field(default_factory=list)
    chargers: list[Charger] = Field(min_length=1)
    pv: list[PVArray] = Field(default_factory=list)
    batteries: list[Battery] = Field(default_factory=list)
    country: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 code for public holidays in base-load forecasts; "
        "default: the country of `timezone`",
    )
    kind: Literal["workplace", "public", "depot", "residential"] | None = Field(
        default=None,
        description="who charges here: chooses the distributions missing departures and "
        "energies are estimated from until the site has its own history (SPEC §6); "
        "none: public",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{name}' (use an IANA name)") from None
        return name


class Horizon(_Model):
    start: SupportedTime
    step_minutes: int = Field(default=15, ge=1, le=60)
    slots: int = Field(default=96, ge=1, le=2016)

    @property
    def step(self) -> timedelta:
        return timedelta(minutes=self.step_minutes)

    @property
    def step_h(self) -> float:
        return self.step_minutes / 60.0

    @property
    def end(self) -> datetime:
        return self.start + self.slots * self.step


class Weather(_Model):
    """A weather forecast for the site's PV, from any provider at any resolution: the times
    and, for each, GHI (optionally with DNI and DHI) or only the cloud cover."""

    time: list[SupportedTime] = Field(min_length=2)
    ghi_w_m2: list[Annotated[float, Field(ge=0, le=1500)]] | None = None
    dni_w_m2: list[Annotated[float, Field(ge=0, le=1500)]] | None = None
    dhi_w_m2: list[Annotated[float, Field(ge=0, le=1000)]] | None = None
    temp_air_c: list[Annotated[float, Field(ge=-60, le=60)]] | None = None
    wind_speed_m_s: list[Annotated[float, Field(ge=0, le=75)]] | None = None
    cloud_cover_pct: list[Annotated[float, Field(ge=0, le=100)]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Weather:
        if self.ghi_w_m2 is None and self.cloud_cover_pct is None:
            raise ValueError("give ghi_w_m2 (irradiance) or cloud_cover_pct")
        if (self.dni_w_m2 is None) != (self.dhi_w_m2 is None):
            raise ValueError(
                "give dni_w_m2 and dhi_w_m2 together (or neither: they follow from GHI)"
            )
        for name in self.series_names():
            if len(getattr(self, name)) != len(self.time):
                raise ValueError(
                    f"{name} has {len(getattr(self, name))} values for {len(self.time)} times"
                )
        if any(b <= a for a, b in itertools.pairwise(self.time)):
            raise ValueError("time must be strictly increasing")
        return self

    def series_names(self) -> list[str]:
        return [n for n in type(self).model_fields if n != "time" and getattr(self, n) is not None]


def _gives_a_price(item: Any) -> Any:
    """A rule or a price point sets the import price, the export price or both."""
    if item.import_per_kwh is None and item.export_per_kwh is None:
        raise ValueError("give import_per_kwh, export_per_kwh or both")
    return item


class TimeOfUseRule(_Model):
    """A recurring price in the site's local time (SPEC §5); see `optimizer.tariff`."""

    model_config = ConfigDict(
        extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )
    days: str = Field(default="daily", description="e.g. 'mon-fri', 'sat,sun', 'daily'")
    from_: str = Field(alias="from", description="local clock time HH:MM the rule starts")
    to: str = Field(
        description="local clock time HH:MM (or 24:00) it ends; before `from`: the next day"
    )
    import_per_kwh: FinitePrice | None = None
    export_per_kwh: FinitePrice | None = None

    @field_validator("days")
    @classmethod
    def _names_days(cls, days: str) -> str:
        weekdays_of(days)
        return days

    @field_validator("from_")
    @classmethod
    def _is_start_time(cls, text: str) -> str:
        clock_minutes(text, end_of_day_allowed=False)
        return text

    @field_validator("to")
    @classmethod
    def _is_end_time(cls, text: str, info: ValidationInfo) -> str:
        end = clock_minutes(text, end_of_day_allowed=True)
        start = info.data.get("from_")
        if start is not None and clock_minutes(start, False) == end:
            raise ValueError(f"equals from '{start}': give 00:00 to 24:00 for a whole day")
        return text

    _gives_a_price = model_validator(mode="after")(_gives_a_price)


class PricePoint(_Model):
    """A price from `time` until the next point (SPEC §5): a day-ahead result, a dynamic tariff."""

    time: SupportedTime
    import_per_kwh: FinitePrice | None = None
    export_per_kwh: FinitePrice | None = None

    _gives_a_price = model_validator(mode="after")(_gives_a_price)


class Tariff(_Model):
    currency: str = "EUR"
    import_price_per_kwh: PriceSeries = 0.0
    export_price_per_kwh: PriceSeries = 0.0
    time_of_use: list[TimeOfUseRule] = Field(
        default_factory=list,
        description="recurring local-time rules over the flat prices; later rules win",
    )
    prices: list[PricePoint] = Field(
        default_factory=list,
        description="time-indexed prices, sorted by time; they win over time_of_use and flat",
    )
    demand_charge_per_kw: NonNegativeMoney = 0.0
    peak_so_far_kw: NonNegativeSitePowerKw = Field(
        default=0.0, description="the peak already paid in the billing period holding the start"
    )
    demand_charge_period: Literal["month", "day", "none"] = Field(
        default="month",
        description="the local billing period of the demand charge; 'none': it never resets",
    )


class Discharge(_Model):
    """What a bidirectional session may feed back (SPEC §4, V2G)."""

    max_power_kw: PositiveChargerKw
    max_energy_kwh: EnergyKwh


class Session(_Model):
    id: str = Field(min_length=1)
    charger_id: str
    transaction_id: str | int | None = None
    arrival: SupportedTime
    departure: SupportedTime | None = Field(
        default=None, description="null or absent: estimated (SPEC §6), listed in `estimated`"
    )
    energy_kwh: EnergyKwh | None = Field(
        default=None, description="null or absent: estimated (SPEC §6), listed in `estimated`"
    )
    max_current_a: PositiveChargerA | None = None
    max_power_kw: PositiveChargerKw | None = None
    phases: Literal[1, 2, 3] | None = None
    priority: int = Field(default=0, ge=0, le=9)
    departure_early: SupportedTime | None = Field(
        default=None,
        description="a time the driver may already leave at (before `departure`): the energy "
        "that fits by then is planned before it wherever no other session gives up energy for "
        "it. Set to the `departure_quantile` of an estimated departure.",
    )
    energy_delivered_kwh: EnergyKwh = Field(
        default=0.0,
        description="energy delivered before the horizon's start; an estimated energy need is "
        "conditioned on it and reduced by it (a given energy_kwh is already what is left)",
    )
    ev_max_current_a: PositiveChargerA | None = Field(
        default=None,
        description="the EV's effective maximum current per phase as observed in its meter "
        "values (AC): a limit like max_current_a, named `ev_max` in limited_by",
    )
    ev_full: bool = Field(
        default=False,
        description="the battery was observed full or paused: nothing is planned for it and "
        "its capacity goes to the others (`ev_full` in limited_by)",
    )
    discharge: Discharge | None = Field(
        default=None, description="on a bidirectional charger: what the EV may feed back (V2G)"
    )

    @model_validator(mode="after")
    def _departs_after_arrival(self) -> Session:
        if self.departure is not None and self.departure <= self.arrival:
            raise ValueError(
                f"departure {self.departure.isoformat()} is not after arrival "
                f"{self.arrival.isoformat()}"
            )
        if self.departure_early is not None and (
            self.departure_early <= self.arrival
            or (self.departure is not None and self.departure_early > self.departure)
        ):
            raise ValueError(
                f"departure_early {self.departure_early.isoformat()} must lie after arrival "
                "and not after departure"
            )
        return self

    @property
    def estimated(self) -> list[str]:
        """The fields the engine estimates for this session (SPEC §6)."""
        return [name for name in ("departure", "energy_kwh") if getattr(self, name) is None]


class Options(_Model):
    time_limit_s: PositiveFloat = Field(default=10.0, le=MAX_TIME_LIMIT_S)
    mip_gap: float = Field(default=0.005, ge=0, le=1)
    include_default_profiles: bool = True
    risk: Literal["p50", "p90"] = Field(
        default="p50",
        description="Which forecast quantile hard limits are planned against when base_load_kw "
        "or pv_kw is null: 'p90' plans against the P90 base load and the P10 PV.",
    )
    threads: int = Field(default=1, ge=1, le=64)
    max_phase_switches: int = Field(
        default=4,
        ge=0,
        description="at most this many changes between one and three phases per session within "
        "the horizon, on chargers with phase_switching",
    )
    model: Literal["matrix", "pyomo"] = Field(
        default="matrix",
        description="'matrix' builds the MILP as sparse arrays for highspy (fast); 'pyomo' "
        "builds the same MILP in Pyomo (the readable reference; slower to build).",
    )
    departure_quantile: float = Field(
        default=0.25,
        gt=0,
        le=0.5,
        description="an estimated departure is planned against this quantile of it for the "
        "energy that fits by then, and against its median for the rest (SPEC §6)",
    )
    energy_quantile: float = Field(
        default=0.9,
        ge=0.5,
        lt=1,
        description="an estimated energy need is planned as this quantile of the needs of "
        "EVs that took more than it was given so far: high, since a battery seen full "
        "releases the rest at once, while a need found too late is lost (SPEC §6)",
    )


class Problem(_Model):
    """A planning problem (SPEC §1): the site, the horizon, tariff, forecasts or the inputs to
    make them, the sessions and the solver's options.

    Build one with `Problem.load` (a dict, a JSON file's path or JSON text) or
    `Problem.model_validate`; an invalid document raises `ProblemError` naming every field at
    fault. `problem.model_dump(mode="json")` gives the document back.
    """

    site: Site
    horizon: Horizon
    tariff: Tariff = Field(default_factory=Tariff)
    base_load_kw: PowerSeriesKw | None = 0.0
    pv_kw: Annotated[NonNegativeSlotSeries | None, Field()] = 0.0
    weather: Weather | None = Field(
        default=None, description="a weather forecast: PV is forecast from it when pv_kw is null"
    )
    sessions: list[Session] = Field(default_factory=list)
    options: Options = Field(default_factory=Options)

    @classmethod
    def load(cls, source: Problem | Mapping[str, Any] | str | os.PathLike[str]) -> Problem:
        """A validated problem from a dict, the path of a JSON file, or JSON text.

        Raises
        ------
        ProblemError
            naming every field at fault (also for text that is not a JSON object).
        OSError
            when the file cannot be read.
        """
        if isinstance(source, str) and source.lstrip().startswith("{"):
            name, text = "problem", source
        elif isinstance(source, str | os.PathLike):
            name, text = os.fspath(source), Path(source).read_text()
        else:
            return parse_problem(source if isinstance(source, Problem) else dict(source))
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            reason = f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            raise ProblemError([FieldError(loc=(), msg=f"{name}: {reason}")]) from None
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise ProblemError(
                [FieldError(loc=(), msg=f"{name}: a problem is an object, not {kind}")]
            )
        return parse_problem(data)


class FieldError(BaseModel):
    """One reason a problem is rejected: the path of the field at fault and why."""

    loc: tuple[str | int, ...]
    msg: str

    @property
    def path(self) -> str:
        return format_loc(self.loc)

    def __str__(self) -> str:
        return f"{self.path}: {self.msg}" if self.loc else self.msg


class ProblemError(ValueError):
    """A problem document that cannot be planned; `errors` names every field at fault."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def format_loc(loc: tuple[str | int, ...]) -> str:
    """`('sessions', 3, 'charger_id')` -> `sessions[3].charger_id`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def parse_problem(data: dict[str, Any] | Problem) -> Problem:
    """Validate a problem document; raise `ProblemError` naming every field at fault."""
    if isinstance(data, Problem):
        problem = data
    else:
        try:
            problem = Problem.model_validate(data)
        except ValidationError as exc:
            raise ProblemError(errors_from_validation(exc)) from None
    errors = cross_field_errors(problem)
    if errors:
        raise ProblemError(errors)
    return problem


_UNION_MISMATCH = {"list_type", "float_type", "float_parsing", "int_type", "int_parsing"}


def errors_from_validation(exc: ValidationError) -> list[FieldError]:
    raw = [
        (tuple(p for p in err["loc"] if not _is_union_tag(p)), err)
        for err in exc.errors(include_url=False)
    ]
    errors: list[FieldError] = []
    for loc, err in raw:
        # A field that takes a number or a list reports a type mismatch for the member the
        # input was not; keep only the member that says what is really wrong.
        if err["type"] in _UNION_MISMATCH and any(
            other["type"] not in _UNION_MISMATCH and other_loc[: len(loc)] == loc
            for other_loc, other in raw
        ):
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] in _UNION_MISMATCH and sum(other_loc == loc for other_loc, _ in raw) > 1:
            msg = "expected a number or a list of numbers"
        if not any(e.loc == loc for e in errors):
            errors.append(FieldError(loc=loc, msg=msg))
    return errors


def _is_union_tag(part: str | int) -> bool:
    # pydantic puts the union member it tried into the path ('float', 'list[float]'); users
    # should see the field, not the type it was tried as.
    return isinstance(part, str) and (
        part in {"float", "int", "str", "list[float]", "list[constrained-float]"}
        or part.startswith(("constrained-", "list[", "function-"))
    )


def session_phases(session: Session, charger: Charger) -> int:
    """Phases a session draws on: min(charger phases, session phases); DC draws on all three."""
    if charger.kind == "dc":
        return 3
    return min(charger.phases, session.phases or charger.phases)


def session_switches_phases(session: Session, charger: Charger) -> bool:
    """Whether a session's phases are a decision per slot (SPEC §4): a three-phase session on
    a charger with phase switching."""
    return charger.phase_switching and session_phases(session, charger) == 3


def session_max_current_a(
    session: Session, charger: Charger, voltage_v: float, phases: int | None = None
) -> float:
    """The tightest of the charger's and session's current and power limits, per phase (AC),
    on the phases the session uses (or on `phases`, a switching session's other setting)."""
    phases = session_phases(session, charger) if phases is None else phases
    limits = [math.inf]
    for current_a in (charger.max_current_a, session.max_current_a):
        if current_a is not None:
            limits.append(current_a)
    if session.ev_max_current_a is not None:
        # An EV seen drawing less than the charger's minimum is still offered the minimum
        # (IEC 61851 has no lower set-point): it takes what it can.
        limits.append(max(session.ev_max_current_a, charger.min_current_a))
    for power_kw in (charger.max_power_kw, session.max_power_kw):
        if power_kw is not None:
            limits.append(max_current_for_power_a(power_kw, voltage_v, phases))
    return min(limits)


def session_max_power_kw(session: Session, charger: Charger, voltage_v: float) -> float:
    """The most power a session can draw in one slot, from every limit of charger and session."""
    if charger.kind == "dc":
        limits = [p for p in (charger.max_power_kw, session.max_power_kw) if p is not None]
        return min(limits)
    current_a = session_max_current_a(session, charger, voltage_v)
    return ac_power_kw(current_a, voltage_v, session_phases(session, charger))


def cross_field_errors(problem: Problem) -> list[FieldError]:
    """Rules that relate several parts of the document, each reported at the field to fix."""
    errors: list[FieldError] = []
    site, slots = problem.site, problem.horizon.slots

    def err(loc: tuple[str | int, ...], msg: str) -> None:
        errors.append(FieldError(loc=loc, msg=msg))

    for path, series in (
        (("site", "grid", "import_limit_kw"), site.grid.import_limit_kw),
        (("site", "grid", "export_limit_kw"), site.grid.export_limit_kw),
        (("tariff", "import_price_per_kwh"), problem.tariff.import_price_per_kwh),
        (("tariff", "export_price_per_kwh"), problem.tariff.export_price_per_kwh),
        (("base_load_kw",), problem.base_load_kw),
        (("pv_kw",), problem.pv_kw),
        (("site", "grid", "phase_limit_a"), site.grid.phase_limit_a),
    ):
        if isinstance(series, list) and len(series) != slots:
            err(path, f"has {len(series)} values but the horizon has {slots} slots")
        values = series if isinstance(series, list) else [series]
        if any(v is not None and not math.isfinite(v) for v in values):
            err(path, "values must be finite numbers")
    for i, (earlier, later) in enumerate(itertools.pairwise(problem.tariff.prices), start=1):
        if later.time <= earlier.time:
            err(
                ("tariff", "prices", i, "time"),
                f"{later.time.isoformat()} is not after the point before it "
                f"({earlier.time.isoformat()}): points must be sorted by time, each time once",
            )

    _duplicate_ids(errors, ("site", "circuits"), [c.id for c in site.circuits])
    _duplicate_ids(errors, ("site", "chargers"), [c.id for c in site.chargers])
    _duplicate_ids(errors, ("site", "pv"), [p.id for p in site.pv])
    _duplicate_ids(errors, ("site", "batteries"), [b.id for b in site.batteries])
    _duplicate_ids(errors, ("sessions",), [s.id for s in problem.sessions])

    circuit_ids = {c.id for c in site.circuits}
    for i, circuit in enumerate(site.circuits):
        if circuit.parent is not None and circuit.parent not in circuit_ids:
            err(("site", "circuits", i, "parent"), f"unknown circuit '{circuit.parent}'")
    errors.extend(_circuit_cycle_errors(site.circuits))

    for i, battery in enumerate(site.batteries):
        if battery.circuit is not None and battery.circuit not in circuit_ids:
            err(("site", "batteries", i, "circuit"), f"unknown circuit '{battery.circuit}'")
    for i, charger in enumerate(site.chargers):
        if charger.circuit is not None and charger.circuit not in circuit_ids:
            err(("site", "chargers", i, "circuit"), f"unknown circuit '{charger.circuit}'")
        if charger.kind == "ac":
            max_a = _charger_max_current_a(charger, site.grid.voltage_v)
            if charger.min_current_a > max_a + 1e-9:
                err(
                    ("site", "chargers", i, "min_current_a"),
                    f"{charger.min_current_a} A is above the charger's maximum {max_a:.1f} A",
                )
        elif charger.max_power_kw is not None and charger.min_power_kw > charger.max_power_kw:
            err(
                ("site", "chargers", i, "min_power_kw"),
                f"{charger.min_power_kw} kW is above max_power_kw {charger.max_power_kw} kW",
            )

    chargers = {c.id: c for c in site.chargers}
    for i, session in enumerate(problem.sessions):
        charger = chargers.get(session.charger_id)
        if charger is None:
            err(("sessions", i, "charger_id"), f"unknown charger '{session.charger_id}'")
            continue
        if (
            charger.ocpp_version == "1.6"
            and session.transaction_id is not None
            and not str(session.transaction_id).lstrip("-").isdigit()
        ):
            err(
                ("sessions", i, "transaction_id"),
                f"'{session.transaction_id}' is not an integer, which OCPP 1.6 requires "
                f"for charger '{charger.id}'",
            )
        if (
            charger.ocpp_version in ("2.0.1", "2.1")
            and len(str(session.transaction_id or "")) > MAX_TRANSACTION_ID_CHARS_201
        ):
            err(
                ("sessions", i, "transaction_id"),
                f"has {len(str(session.transaction_id))} characters; OCPP "
                f"{charger.ocpp_version} allows at most {MAX_TRANSACTION_ID_CHARS_201} "
                f"(charger '{charger.id}')",
            )
        if session.discharge is not None and not charger.bidirectional:
            err(
                ("sessions", i, "discharge"),
                f"charger '{charger.id}' is not bidirectional: only a bidirectional OCPP 2.1 "
                "charger can discharge an EV",
            )
        if charger.kind == "ac":
            max_a = session_max_current_a(session, charger, site.grid.voltage_v)
            if charger.min_current_a > max_a + 1e-9:
                field = "max_power_kw" if session.max_power_kw is not None else "max_current_a"
                err(
                    ("sessions", i, field),
                    f"allows at most {max_a:.2f} A, below the charger's min_current_a "
                    f"{charger.min_current_a} A",
                )
        elif session.max_power_kw is not None and charger.min_power_kw > session.max_power_kw:
            err(
                ("sessions", i, "max_power_kw"),
                f"{session.max_power_kw} kW is below the charger's min_power_kw "
                f"{charger.min_power_kw} kW",
            )
    errors.extend(_overlapping_session_errors(problem.sessions))
    return errors


def _charger_max_current_a(charger: Charger, voltage_v: float) -> float:
    limits = [math.inf]
    if charger.max_current_a is not None:
        limits.append(charger.max_current_a)
    if charger.max_power_kw is not None:
        limits.append(max_current_for_power_a(charger.max_power_kw, voltage_v, charger.phases))
    return min(limits)


def _duplicate_ids(errors: list[FieldError], path: tuple[str, ...], ids: list[str]) -> None:
    seen: set[str] = set()
    for i, item_id in enumerate(ids):
        if item_id in seen:
            errors.append(FieldError(loc=(*path, i, "id"), msg=f"duplicate id '{item_id}'"))
        seen.add(item_id)


def _circuit_cycle_errors(circuits: list[Circuit]) -> list[FieldError]:
    parent_of = {c.id: c.parent for c in circuits}
    errors = []
    for i, circuit in enumerate(circuits):
        seen = {circuit.id}
        node = circuit.parent
        while node is not None and node in parent_of:
            if node in seen:
                errors.append(
                    FieldError(
                        loc=("site", "circuits", i, "parent"),
                        msg=f"circuit '{circuit.id}' is part of a cycle in the circuit tree",
                    )
                )
                break
            seen.add(node)
            node = parent_of[node]
    return errors


def _overlapping_session_errors(sessions: list[Session]) -> list[FieldError]:
    errors = []
    by_charger: dict[str, list[tuple[int, Session]]] = {}
    for i, session in enumerate(sessions):
        by_charger.setdefault(session.charger_id, []).append((i, session))
    for charger_id, items in by_charger.items():
        items.sort(key=lambda item: item[1].arrival)
        for (_, earlier), (j, later) in itertools.pairwise(items):
            # An unknown departure ends, at the latest, when the next EV plugs in.
            end = earlier.departure if earlier.departure is not None else earlier.arrival
            if later.arrival < end or later.arrival == earlier.arrival:
                errors.append(
                    FieldError(
                        loc=("sessions", j, "arrival"),
                        msg=f"session '{later.id}' overlaps session '{earlier.id}' on charger "
                        f"'{charger_id}' (two sessions on one charger at the same time)",
                    )
                )
    return errors


def _rotation_tokens(rotation: str) -> tuple[str, ...] | None:
    text = rotation.strip().upper().replace(",", "").replace(" ", "")
    if len(text) % 2 or not text:
        return None
    tokens = tuple(text[i : i + 2] for i in range(0, len(text), 2))
    if any(t not in GRID_PHASES for t in tokens) or len(tokens) > 3:
        return None
    return tokens
