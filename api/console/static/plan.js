"use strict";
/* A site's plan: the site chart (charging stacked over base load, PV available and used, import
   and its limit with the grid operator's windows shaded, the price on a second axis; with
   stationary batteries their power, + charging / − discharging, and their state of charge on a
   kWh axis) and, per session, its current per slot. */
(() => {
  const C = window.Console;
  const Ch = window.Charts;
  const chartElement = document.getElementById("plan-chart");
  const windowList = document.getElementById("windows");
  let windows = []; // [{start, end, label}] in epoch seconds

  /** Grid-operator windows (SPEC §5 `GET …/grid-limits`). Until a server has them, or on any
      other non-OK answer, there is nothing to shade. */
  async function loadWindows(timezone) {
    let listed = [];
    try {
      const result = await C.api(`/v1/sites/${C.enc(C.siteId)}/grid-limits`);
      listed = Array.isArray(result.data) ? result.data : (result.data && result.data.windows) || [];
    } catch {
      listed = [];
    }
    const clock = C.clock(timezone);
    windows = listed
      .map((w) => ({ ...w, start: Date.parse(w.start) / 1000, end: Date.parse(w.end) / 1000 }))
      .filter((w) => Number.isFinite(w.start) && Number.isFinite(w.end) && w.end > Date.now() / 1000)
      .map((w) => ({ ...w, label: w.source ? String(w.source).toUpperCase() : "grid operator" }));
    windowList.replaceChildren(
      ...windows.map((w) => {
        const item = document.createElement("li");
        const limits = [];
        if (w.import_limit_kw != null) limits.push(`import ≤ ${C.number(w.import_limit_kw)} kW`);
        if (w.export_limit_kw != null) limits.push(`export ≤ ${C.number(w.export_limit_kw)} kW`);
        if (w.phase_limit_a != null) limits.push(`phase ≤ ${C.number(w.phase_limit_a)} A`);
        const from = clock.label(new Date(w.start * 1000));
        const to = clock.label(new Date(w.end * 1000));
        item.textContent = `${from}–${to}: ${limits.join(", ") || "limits"} (${w.label}${w.reason ? `: ${w.reason}` : ""})`;
        return item;
      }),
    );
  }

  async function draw(plan) {
    const document_ = await C.site();
    const timezone = document_.site.timezone || "UTC";
    const currency = (document_.tariff && document_.tariff.currency) || "";
    const site = plan.site;
    const n = site.import_kw.length;
    const x = Ch.slotTimes(plan);
    const base = site.base_load_kw;
    const charging = site.charging_kw;
    const consumption = base.map((b, t) => b + charging[t]);
    const limit = site.import_limit_kw || Ch.perSlot(document_.site.grid.import_limit_kw, n);
    const price = site.import_price_per_kwh || Ch.perSlot(document_.tariff.import_price_per_kwh, n);
    const kw = (label, stroke, extra = {}) => Ch.line(label, stroke, { scale: "kW", ...extra });
    const series = [
      kw("Base load", Ch.colour.base, { fill: Ch.colour.baseFill, width: 1 }),
      kw("Charging", Ch.colour.charging, {
        width: 1,
        value: (u, v, si, i) => (i == null ? "–" : `${C.number(charging[Math.min(i, n - 1)])} kW`),
      }),
      kw("PV available", Ch.colour.pv, { dash: [6, 4] }),
      kw("PV used", Ch.colour.pv, { width: 2 }),
      kw("Import", Ch.colour.import, { width: 2 }),
      kw("Import limit", Ch.colour.limit, { width: 2.5 }),
    ];
    const data = [
      x,
      Ch.closed(base),
      Ch.closed(consumption),
      Ch.closed(site.pv_available_kw || site.pv_kw),
      Ch.closed(site.pv_kw),
      Ch.closed(site.import_kw),
      Ch.closed(limit),
    ];
    if (site.export_kw && site.export_kw.some((v) => v > 0)) {
      series.push(kw("Export", Ch.colour.export, { dash: [2, 3], width: 2 }));
      data.push(Ch.closed(site.export_kw));
    }
    const batteries = plan.batteries || [];
    if (batteries.length) {
      // SPEC §4: power per slot (+ charging, − discharging); soc_kwh[t] at the end of slot t.
      const total = (key) => Array.from({ length: n }, (_, t) => batteries.reduce((sum, b) => sum + b[key][t], 0));
      series.push(kw("Battery", Ch.colour.battery, { width: 2 }));
      data.push(Ch.closed(total("power_kw")));
      series.push(Ch.line("Battery state", Ch.colour.battery, { scale: "kWh", dash: [1, 3], value: Ch.shown("kWh") }));
      data.push(Ch.closed(total("soc_kwh")));
    }
    series.push(
      Ch.line(`Price`, Ch.colour.price, { scale: "price", width: 1.5, value: Ch.shown(`${currency}/kWh`, 3) }),
    );
    data.push(Ch.closed(price));
    Ch.chart(chartElement, {
      timezone,
      series,
      data,
      scales: { kW: { auto: true }, price: { auto: true }, ...(batteries.length ? { kWh: { auto: true } } : {}) },
      axes: [
        Ch.valueAxis("kW", "kW"),
        Ch.valueAxis("price", `${currency}/kWh`, 1, false),
        ...(batteries.length ? [Ch.valueAxis("kWh", "battery kWh", 1, false)] : []),
      ],
      bands: [{ series: [2, 1], fill: Ch.colour.chargingFill }],
      plugins: [Ch.shading(() => windows), Ch.nowLine()],
    });
    chartElement.dataset.version = plan.version;
  }

  /** A session's current per slot, drawn when its row opens. */
  async function drawSession(element, table) {
    const document_ = await C.site();
    const timezone = document_.site.timezone || "UTC";
    const current = JSON.parse(element.dataset.currentA);
    const power = JSON.parse(element.dataset.powerKw);
    const isCurrent = current.some((v) => v !== null);
    const values = isCurrent ? current : power;
    const unit = isCurrent ? "A" : "kW";
    // A wide table scrolls sideways on a tablet: the detail keeps to the visible width.
    const visible = table.closest(".table-wrap").clientWidth;
    element.closest(".detail-grid").style.width = `${Math.max(visible - 24, 320)}px`;
    const start = Date.parse(table.dataset.start) / 1000;
    const stepS = Number(table.dataset.stepMinutes) * 60;
    const x = values.map((_, t) => start + t * stepS);
    x.push(start + values.length * stepS);
    Ch.chart(element, {
      timezone,
      series: [
        Ch.line(isCurrent ? "Current" : "Power", Ch.colour.charging, {
          scale: unit,
          fill: Ch.colour.chargingFill,
          value: Ch.shown(unit),
        }),
      ],
      data: [x, Ch.closed(values)],
      scales: { [unit]: { range: (u, min, max) => [0, Math.max(max, 1) * 1.1] } },
      axes: [Ch.valueAxis(unit, unit)],
      plugins: [Ch.nowLine()],
    });
  }

  function toggle(button) {
    const detail = document.getElementById(button.getAttribute("aria-controls"));
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    button.closest("tr").classList.toggle("open", open);
    detail.hidden = !open;
    if (open) drawSession(detail.querySelector(".session-chart"), button.closest("table")).catch((e) => C.report(e));
  }

  const sessions = document.getElementById("sessions");
  sessions.addEventListener("click", (event) => {
    const row = event.target.closest("tr.session-row");
    if (!row) return;
    toggle(row.querySelector("button.disclose"));
  });
  // Sessions that were open stay open when the table is refreshed by a re-plan.
  let openIds = [];
  sessions.addEventListener("htmx:beforeSwap", () => {
    openIds = [...sessions.querySelectorAll("button.disclose[aria-expanded=true]")].map((b) => b.textContent);
  });
  sessions.addEventListener("htmx:afterSwap", () => {
    for (const button of sessions.querySelectorAll("button.disclose")) {
      if (openIds.includes(button.textContent)) toggle(button);
    }
  });

  Ch.rangeButtons(document.querySelector(".range"), () => chartElement.chart);

  document.body.addEventListener("console-plan", (event) => {
    C.site()
      .then((document_) => loadWindows(document_.site.timezone || "UTC"))
      .then(() => draw(event.detail))
      .catch((error) => C.report(error));
  });
})();
