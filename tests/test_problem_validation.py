"""Bad input is rejected with the path of the field at fault and the reason."""

from __future__ import annotations

import pytest

from smartcharge.optimizer.problem import ProblemError, parse_problem
from tests.builders import at, charger, problem, session


def errors_of(doc: dict) -> dict[str, str]:
    with pytest.raises(ProblemError) as info:
        parse_problem(doc)
    return {e.path: e.msg for e in info.value.errors}


def base() -> dict:
    return problem([charger("c1"), charger("c2")], [session("s1", "c1", 10)])


def with_time_inputs(doc: dict) -> dict:
    """`doc` with two valid time-of-use rules and a valid feed of three points."""
    doc["tariff"]["time_of_use"] = [
        {"days": "daily", "from": "00:00", "to": "24:00", "import_per_kwh": 0.25},
        {"days": "mon-fri", "from": "07:00", "to": "23:00", "import_per_kwh": 0.32},
    ]
    doc["tariff"]["prices"] = [{"time": at(t), "import_per_kwh": -0.01 * t} for t in range(3)]
    return doc


def rule(doc: dict, **fields) -> None:
    doc["tariff"]["time_of_use"][1].update(fields)


def feed(doc: dict, point: int, **fields) -> None:
    doc["tariff"]["prices"][point].update(fields)


def test_valid_problem_parses():
    parsed = parse_problem(base())
    assert parsed.sessions[0].charger_id == "c1"
    timed = parse_problem(with_time_inputs(base()))
    assert timed.tariff.time_of_use[1].from_ == "07:00"
    # A problem dumps and parses back (a replay's view, a re-plan's comparison): `from` stays.
    dumped = timed.model_dump(mode="json")
    assert dumped["tariff"]["time_of_use"][1]["from"] == "07:00"
    assert parse_problem(dumped) == timed


@pytest.mark.parametrize(
    ("mutate", "path", "reason"),
    [
        (lambda d: d["sessions"][0].update(departure=at(-2)), "sessions[0]", "not after arrival"),
        (
            lambda d: d["sessions"][0].update(charger_id="nope"),
            "sessions[0].charger_id",
            "unknown charger 'nope'",
        ),
        (
            lambda d: d["site"]["chargers"][0].update(circuit="ghost"),
            "site.chargers[0].circuit",
            "unknown circuit 'ghost'",
        ),
        (
            lambda d: d["site"].update(
                circuits=[{"id": "a", "parent": "b"}, {"id": "b", "parent": "a"}]
            ),
            "site.circuits[0].parent",
            "cycle",
        ),
        (
            lambda d: d.update(base_load_kw=[1.0, 2.0]),
            "base_load_kw",
            "has 2 values but the horizon has 4",
        ),
        (
            lambda d: d["tariff"].update(import_price_per_kwh=[0.1] * 5),
            "tariff.import_price_per_kwh",
            "has 5 values",
        ),
        (
            lambda d: d["site"]["grid"].update(import_limit_kw=-5),
            "site.grid.import_limit_kw",
            "greater than or equal to 0",
        ),
        (
            lambda d: d["site"]["chargers"][0].update(min_current_a=40),
            "site.chargers[0].min_current_a",
            "above the charger's maximum",
        ),
        (
            lambda d: d["sessions"][0].update(max_current_a=4),
            "sessions[0].max_current_a",
            "below the charger's min_current_a",
        ),
        (
            lambda d: d["sessions"][0].update(arrival="2026-11-24T05:00:00"),
            "sessions[0].arrival",
            "timezone",
        ),
        (lambda d: d["horizon"].update(start="2026-11-24T06:00:00"), "horizon.start", "timezone"),
        (
            lambda d: d["sessions"][0].update(transaction_id="abc-1"),
            "sessions[0].transaction_id",
            "OCPP 1.6",
        ),
        (
            lambda d: (
                d["site"]["chargers"][0].update(ocpp_version="2.0.1"),
                d["sessions"][0].update(transaction_id="t" * 37),
            ),
            "sessions[0].transaction_id",
            "OCPP 2.0.1 allows at most 36",
        ),
        (
            lambda d: d["sessions"].append(session("s2", "c1", 5, arrival=at(1))),
            "sessions[1].arrival",
            "two sessions on one charger",
        ),
        (lambda d: d["site"]["chargers"][1].update(id="c1"), "site.chargers[1].id", "duplicate id"),
        (
            lambda d: d["site"]["chargers"][0].update(phase_rotation="L1L1L2"),
            "site.chargers[0].phase_rotation",
            "not a phase rotation",
        ),
        (
            lambda d: d["site"]["chargers"][0].update(phases=1, phase_rotation="L1L2L3"),
            "site.chargers[0]",
            "names 3 phases but the charger has 1",
        ),
        (
            lambda d: d["sessions"][0].update(priority=11),
            "sessions[0].priority",
            "less than or equal to 9",
        ),
        (lambda d: d["site"].update(timezone="Mars/Olympus"), "site.timezone", "unknown time zone"),
        (
            lambda d: d["site"]["chargers"].append({"id": "dc", "kind": "dc"}),
            "site.chargers[2]",
            "DC charger needs max_power_kw",
        ),
        (lambda d: d.update(surprise=1), "surprise", "Extra inputs are not permitted"),
        (lambda d: rule(d, **{"from": "25:00"}), "tariff.time_of_use[1].from", "not a clock time"),
        (lambda d: rule(d, to="7.30"), "tariff.time_of_use[1].to", "use HH:MM"),
        (lambda d: rule(d, to="07:00"), "tariff.time_of_use[1].to", "equals from '07:00'"),
        (lambda d: rule(d, days="mon-funday"), "tariff.time_of_use[1].days", "does not name days"),
        (lambda d: rule(d, import_per_kwh=None), "tariff.time_of_use[1]", "give import_per_kwh"),
        (
            lambda d: rule(d, import_per_kwh=float("nan")),
            "tariff.time_of_use[1].import_per_kwh",
            "finite number",
        ),
        (lambda d: feed(d, 1, time="2026-11-24T07:00:00"), "tariff.prices[1].time", "timezone"),
        (
            lambda d: feed(d, 2, time=at(1)),
            "tariff.prices[2].time",
            "sorted by time, each time once",
        ),
        (lambda d: feed(d, 2, time=at(0)), "tariff.prices[2].time", "not after the point before"),
        (lambda d: feed(d, 1, import_per_kwh=None), "tariff.prices[1]", "give import_per_kwh"),
        (
            lambda d: feed(d, 0, export_per_kwh=float("nan")),
            "tariff.prices[0].export_per_kwh",
            "finite number",
        ),
        (
            lambda d: d["tariff"].update(demand_charge_period="week"),
            "tariff.demand_charge_period",
            "'month', 'day' or 'none'",
        ),
        (
            lambda d: d["site"]["grid"].update(phase_limit_a=[40, None, 40]),
            "site.grid.phase_limit_a",
            "has 3 values but the horizon has 4",
        ),
        (
            lambda d: d["site"]["grid"].update(phase_limit_a=[40, -5, 40, 40]),
            "site.grid.phase_limit_a[1]",
            "greater than 0",
        ),
    ],
)
def test_bad_input_names_the_field_and_the_reason(mutate, path, reason):
    doc = with_time_inputs(base())
    mutate(doc)
    errors = errors_of(doc)
    assert path in errors, errors
    assert reason in errors[path]


def test_a_numeric_transaction_id_on_ocpp_2_is_not_required():
    doc = base()
    doc["site"]["chargers"][0]["ocpp_version"] = "2.0.1"
    doc["sessions"][0]["transaction_id"] = "tx-7f3a"
    assert parse_problem(doc).sessions[0].transaction_id == "tx-7f3a"


def test_every_error_is_reported_not_only_the_first():
    doc = base()
    doc["sessions"][0]["charger_id"] = "nope"
    doc["base_load_kw"] = [1.0]
    assert len(errors_of(doc)) == 2
