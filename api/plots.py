"""Pictures of an answer an energy manager can read at a glance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

MAX_STACKED_SESSIONS = 12
SITE_LINES = (
    ("pv_available_kw", "PV available", {"color": "#e6a700", "lw": 1.5, "ls": "--"}),
    ("pv_kw", "PV used", {"color": "#e6a700", "lw": 2}),
    ("import_limit_kw", "import limit", {"color": "#c0392b", "lw": 2}),
    ("import_kw", "grid import", {"color": "black", "lw": 1.2}),
)


def plot_schedule(answer: dict[str, Any], path: str | Path | None = None) -> plt.Figure:
    """Stacked charging power per session over base load, with PV, import limit and price.

    Sessions beyond the twelve largest are drawn as one band ("other sessions") so that a
    120-charger depot stays readable. With storage (SPEC §4) a stationary battery's charging is
    a band on top, and what feeds the site back (V2G discharge, battery discharge) is stacked
    below zero; a second panel shows each battery's state of charge at the end of each slot.
    """
    site = answer["site"]
    slot_start = pd.DatetimeIndex(pd.to_datetime(site["slot_start"]))
    step = slot_start[1] - slot_start[0] if len(slot_start) > 1 else pd.Timedelta("15min")
    # One more point at the horizon end, so the last slot is drawn as wide as the others.
    times = slot_start.append(pd.DatetimeIndex([slot_start[-1] + step]))

    def ext(values) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        return np.append(values, values[-1])

    base_kw = ext(site["base_load_kw"])
    sessions = answer["sessions"]
    signed_kw = np.array([ext(s["power_kw"]) for s in sessions]).reshape(len(sessions), len(times))
    power_kw = np.maximum(signed_kw, 0.0)
    batteries = answer.get("batteries") or []
    battery_kw = np.array([ext(b["power_kw"]) for b in batteries]).reshape(-1, len(times))
    order = np.argsort(-power_kw.sum(axis=1))
    shown = order[:MAX_STACKED_SESSIONS]
    bands = [power_kw[i] for i in shown]
    labels = [sessions[i]["id"] for i in shown]
    if len(order) > MAX_STACKED_SESSIONS:
        bands.append(power_kw[order[MAX_STACKED_SESSIONS:]].sum(axis=0))
        labels.append(f"{len(order) - MAX_STACKED_SESSIONS} other sessions")

    colors = ["#bbbbbb", *plt.cm.tab20(np.linspace(0, 1, max(len(bands), 1)))]
    if batteries:
        bands.append(np.maximum(battery_kw, 0.0).sum(axis=0))
        labels.append("battery charging")
        colors.append("#1b9e77")
        fig, (ax, soc_ax) = plt.subplots(
            2,
            1,
            figsize=(11, 7.5),
            sharex=True,
            constrained_layout=True,
            gridspec_kw={"height_ratios": [3, 1]},
        )
    else:
        fig, ax = plt.subplots(figsize=(11, 5.5), constrained_layout=True)
    ax.stackplot(times, base_kw, *bands, labels=["base load", *labels], step="post", colors=colors)
    feeding_back = {
        "V2G discharge": np.minimum(signed_kw, 0.0).sum(axis=0),
        "battery discharge": np.minimum(battery_kw, 0.0).sum(axis=0),
    }
    feeding_back = {k: v for k, v in feeding_back.items() if (v < 0).any()}
    if feeding_back:
        ax.stackplot(
            times,
            *feeding_back.values(),
            labels=list(feeding_back),
            step="post",
            colors=["#d95f02", "#7570b3"][: len(feeding_back)],
        )
        ax.axhline(0, color="black", lw=0.6)
    for key, label, style in SITE_LINES:
        ax.step(times, ext(site[key]), where="post", label=label, **style)
    ax.set_ylabel("power [kW]")
    ax.set_xlabel(f"time ({times.tz})" if times.tz else "time")
    kpis = answer["kpis"]
    ax.set_title(
        f"{answer['status']}: {kpis['energy_delivered_kwh']:.0f} of "
        f"{kpis['energy_requested_kwh']:.0f} kWh delivered, cost {kpis['total_cost']:.2f}, "
        f"peak {kpis['peak_import_kw']:.0f} kW"
        + (f", V2G {kpis['v2g_discharged_kwh']:.0f} kWh" if kpis.get("v2g_discharged_kwh") else "")
        + (
            f", battery wear {kpis['battery_cycle_cost']:.2f}"
            if kpis.get("battery_cycle_cost")
            else ""
        )
    )
    price_ax = ax.twinx()
    price_ax.step(
        times,
        ext(site["import_price_per_kwh"]),
        color="#2c7fb8",
        lw=1,
        alpha=0.8,
        where="post",
        label="import price",
    )
    price_ax.set_ylabel("import price [per kWh]", color="#2c7fb8")
    handles, names = ax.get_legend_handles_labels()
    price_handles, price_names = price_ax.get_legend_handles_labels()
    ax.legend(
        handles + price_handles,
        names + price_names,
        loc="upper left",
        fontsize=7,
        ncol=2,
        framealpha=0.85,
    )
    ax.margins(x=0)
    if batteries:
        plot_state_of_charge(soc_ax, times, batteries)
    fig.autofmt_xdate()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def plot_state_of_charge(
    ax: plt.Axes, times: pd.DatetimeIndex, batteries: list[dict[str, Any]]
) -> None:
    """Each battery's state of charge [kWh] at the end of each slot (SPEC §4 `soc_kwh[t]`)."""
    for battery in batteries:
        ax.plot(times[1:], battery["soc_kwh"], marker=".", lw=1.5, label=battery["id"])
    ax.set_ylabel("battery state [kWh]")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=7)
    ax.margins(x=0)


def plot_replay(
    answers: dict[str, dict[str, Any]], kpis: list[dict[str, Any]], path: str | Path | None = None
) -> plt.Figure:
    """A replay at a glance: grid import per strategy against the import limit (top), and each
    strategy's cost (energy and demand charge) and energy delivered (bottom)."""
    fig = plt.figure(figsize=(12, 7.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, height_ratios=(1.4, 1))
    power_ax = fig.add_subplot(grid[0, :])
    for name, answer in answers.items():
        site = answer["site"]
        times = pd.to_datetime(site["slot_start"])
        power_ax.step(times, site["import_kw"], where="post", lw=1, label=name)
    power_ax.step(
        times,
        site["import_limit_kw"],
        where="post",
        color="black",
        ls="--",
        lw=1.2,
        label="import limit",
    )
    power_ax.set_ylabel("grid import [kW]")
    power_ax.legend(fontsize=8, ncols=4, loc="upper right")
    table = pd.DataFrame(kpis).set_index("strategy")
    cost_ax, energy_ax = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
    energy_cost = table["total_cost"] - table["demand_charge"]
    cost_ax.bar(table.index, energy_cost, label="energy")
    cost_ax.bar(table.index, table["demand_charge"], bottom=energy_cost, label="demand charge")
    cost_ax.set_title("cost")
    cost_ax.legend(fontsize=8)
    energy_ax.bar(table.index, table["energy_delivered_pct"], color="tab:green")
    energy_ax.set_ylim(max(0.0, float(table["energy_delivered_pct"].min()) - 5), 100.5)
    energy_ax.set_title("energy delivered [% of requested]")
    for ax in (cost_ax, energy_ax):
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def plot_backtest(
    result, test_start: pd.Timestamp, path: str | Path | None = None, days: int = 7
) -> plt.Figure:
    """Forecast vs actual over the last `days` test days, one row per horizon: the actual,
    the baseline and `auto` (what a plan uses; else the best method) with its P10–P90 band;
    beside it, every method's nMAE."""
    from smartcharge.forecasting.backtest import HORIZON_ORDER

    horizons = sorted({h for _, h in result.bands}, key=HORIZON_ORDER.index)
    fig, axes = plt.subplots(
        len(horizons),
        2,
        figsize=(13, 3.6 * len(horizons)),
        width_ratios=(3.2, 1),
        squeeze=False,
        constrained_layout=True,
    )
    unit = "PV [kW]" if result.kind == "pv" else "base load [kW]"
    for (series_ax, score_ax), horizon in zip(axes, horizons, strict=True):
        scores = [s for s in result.scores if s.horizon == horizon]
        baseline = result.baselines[horizon]
        best = "auto" if ("auto", horizon) in result.bands else result.best(horizon)
        band = result.bands[(best, horizon)]
        shown = band.index[band.index >= max(test_start, band.index[-1] - pd.Timedelta(days=days))]
        band = band.loc[shown]
        series_ax.fill_between(shown, band.p10, band.p90, alpha=0.25, label=f"{best} P10–P90")
        series_ax.plot(shown, band.p50, lw=1.4, label=f"{best} (P50)")
        base = result.bands[(baseline, horizon)].reindex(shown)
        series_ax.plot(shown, base.p50, lw=1, ls="--", color="grey", label=baseline)
        series_ax.plot(shown, result.actual.reindex(shown), color="black", lw=0.9, label="actual")
        series_ax.set_ylabel(unit)
        series_ax.set_title(f"{horizon}: forecast vs actual, last {days} test days")
        series_ax.legend(fontsize=8, ncols=4, loc="upper left")
        names = [s.method for s in scores]
        score_ax.barh(names, [s.nmae_pct for s in scores], color="tab:blue")
        score_ax.invert_yaxis()
        score_ax.set_xlabel("nMAE [%]")
        score_ax.set_title("error over the whole test")
        score_ax.tick_params(axis="y", labelsize=8)
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
