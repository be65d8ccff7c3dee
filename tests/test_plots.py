"""The schedule plot with storage (SPEC §4): battery power and state of charge, and what feeds
the site back drawn below zero; without storage it stays one panel."""

from __future__ import annotations

import copy

import matplotlib

matplotlib.use("Agg")

import numpy as np

from smartcharge.api.plots import plot_schedule
from tests.test_ocpp_v21_roundtrip import hand_made_answer, v21_site

SLOTS = 8


def storage_answer() -> dict:
    """A hand-made SPEC §4 answer: V2G discharge in two sessions, a battery charging then
    discharging, and the KPIs that go with them."""
    answer = hand_made_answer(v21_site())
    site = answer["site"]
    site |= {
        "slot_start": [f"2026-11-24T06:{15 * t:02d}:00+01:00" for t in range(4)]
        + [f"2026-11-24T07:{15 * t:02d}:00+01:00" for t in range(4)],
        "import_limit_kw": [100.0] * SLOTS,
        "import_price_per_kwh": [0.2] * SLOTS,
    }
    battery_kw = [20.0, 20.0, 0.0, -30.0, -30.0, 0.0, 10.0, 0.0]
    soc = np.cumsum([kw * 0.25 for kw in battery_kw]) + 50.0
    answer["batteries"] = [{"id": "bess-1", "power_kw": battery_kw, "soc_kwh": soc.tolist()}]
    answer["kpis"] = {
        "energy_delivered_kwh": 40.0,
        "energy_requested_kwh": 61.0,
        "total_cost": 12.3,
        "peak_import_kw": 80.0,
        "v2g_discharged_kwh": 12.5,
        "battery_cycle_cost": 0.6,
    }
    answer["status"] = "optimal"
    return answer


def legend_labels(ax) -> set[str]:
    return {text.get_text() for text in ax.get_legend().get_texts()}


def test_storage_adds_a_state_of_charge_panel_and_discharge_below_zero(tmp_path):
    answer = storage_answer()
    fig = plot_schedule(answer)
    power_ax, soc_ax, _price_ax = fig.axes  # the price twin is made last
    assert soc_ax.get_ylabel() == "battery state [kWh]"
    assert {"battery charging", "V2G discharge", "battery discharge"} <= legend_labels(power_ax)
    # slot 3: the battery's 30 kW and s-ac's 7.36 kW stack downwards
    assert power_ax.get_ylim()[0] <= -37.36
    [line] = soc_ax.get_lines()
    assert np.allclose(line.get_ydata(), answer["batteries"][0]["soc_kwh"])
    assert "V2G 12 kWh" in power_ax.get_title() and "battery wear 0.60" in power_ax.get_title()
    path = tmp_path / "schedule.png"
    plot_schedule(answer, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_storage_there_is_no_second_panel_and_nothing_below_zero():
    answer = copy.deepcopy(storage_answer())
    del answer["batteries"]
    for entry in answer["sessions"]:
        entry["power_kw"] = [max(kw, 0.0) for kw in entry["power_kw"]]
    fig = plot_schedule(answer)
    assert len(fig.axes) == 2  # power and its price twin
    assert "V2G discharge" not in legend_labels(fig.axes[0])
    assert fig.axes[0].get_ylim()[0] >= 0.0
