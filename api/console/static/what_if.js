"use strict";
/* What-if: the current plan against a plan under other limits, tariff or sessions
   (`POST /v1/sites/{id}/what-if`, which stores nothing), KPIs side by side and both import
   curves on one chart. "Apply" goes through the limits form. */
(() => {
  const C = window.Console;
  const Ch = window.Charts;
  const $ = (id) => document.getElementById(id);
  const chartElement = $("compare-chart");
  let timezone = "UTC";
  let liveSessions = [];
  const added = [];
  let lastWhatIf = null; // {body, plan, current}

  // ---- the site's wall clock for datetime-local inputs ------------------------------------

  function parts(date) {
    const fields = new Intl.DateTimeFormat("en-CA", {
      timeZone: timezone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    }).formatToParts(date);
    return Object.fromEntries(fields.filter((p) => p.type !== "literal").map((p) => [p.type, Number(p.value)]));
  }

  const pad = (n) => String(n).padStart(2, "0");
  const toInput = (date) => {
    const p = parts(date);
    return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}`;
  };

  /** "2026-11-24T08:00" on the site's clock → the instant (two passes settle DST edges). */
  function fromInput(value) {
    const [date, time] = value.split("T");
    const [y, mo, d] = date.split("-").map(Number);
    const [h, mi] = time.split(":").map(Number);
    const wall = Date.UTC(y, mo - 1, d, h, mi);
    let instant = wall;
    for (let pass = 0; pass < 2; pass++) {
      const p = parts(new Date(instant));
      const offset = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - instant;
      instant = wall - offset;
    }
    return new Date(instant);
  }

  // ---- the form ------------------------------------------------------------------------

  function checkbox(session) {
    const item = document.createElement("li");
    const id = `keep-${liveSessions.indexOf(session)}`;
    const input = document.createElement("input");
    input.type = "checkbox";
    input.checked = true;
    input.id = id;
    input.dataset.sessionId = session.id;
    const label = document.createElement("label");
    label.htmlFor = id;
    const remaining = Math.max(session.energy_kwh - session.energy_delivered_kwh, 0);
    label.textContent = `${session.id} on ${session.charger_id}: ${C.number(remaining)} kWh to go`;
    item.append(input, label);
    return item;
  }

  function showAdded() {
    $("wi-added").replaceChildren(
      ...added.map((session, i) => {
        const item = document.createElement("li");
        const text = document.createElement("span");
        text.textContent = `${session.id} on ${session.charger_id}: ${C.number(session.energy_kwh)} kWh`;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "button-quiet";
        remove.textContent = "Remove";
        remove.setAttribute("aria-label", `Remove added session ${session.id}`);
        remove.addEventListener("click", () => {
          added.splice(i, 1);
          showAdded();
        });
        item.append(text, remove);
        return item;
      }),
    );
  }

  async function load() {
    const document_ = await C.site();
    timezone = document_.site.timezone || "UTC";
    const grid = document_.site.grid;
    const tariff = document_.tariff || {};
    const currency = tariff.currency || "";
    const describe = (value, unit) =>
      Array.isArray(value) ? `now per slot, ${C.number(Math.min(...value))}–${C.number(Math.max(...value))} ${unit}` : `now ${value == null ? "none" : `${C.number(value, unit.includes("kWh") ? 3 : 1)} ${unit}`}`;
    $("wi-import-now").textContent = describe(grid.import_limit_kw, "kW");
    $("wi-demand-now").textContent = describe(tariff.demand_charge_per_kw ?? 0, `${currency}/kW`);
    $("wi-price-now").textContent = describe(tariff.import_price_per_kwh, `${currency}/kWh`);
    $("wi-tz-a").textContent = `(${timezone})`;
    $("wi-tz-d").textContent = `(${timezone})`;
    const chargers = document_.site.chargers.map((c) => {
      const option = document.createElement("option");
      option.value = c.id;
      option.textContent = c.id;
      return option;
    });
    $("wi-charger").replaceChildren(...chargers);
    const now = Date.now();
    $("wi-arrival").value = toInput(new Date(now));
    $("wi-departure").value = toInput(new Date(now + 8 * 3600 * 1000));
    liveSessions = (await C.api(`/v1/sites/${C.enc(C.siteId)}/sessions`)).data;
    const list = liveSessions.map(checkbox);
    $("wi-sessions").replaceChildren(...(list.length ? list : [Object.assign(document.createElement("li"), { textContent: "No live sessions." })]));
  }

  /** A live session as SPEC's session: the energy it still wants. */
  function asProblemSession(s) {
    const session = {
      id: s.id,
      charger_id: s.charger_id,
      arrival: s.arrival,
      departure: s.departure,
      energy_kwh: Math.max(s.energy_kwh - s.energy_delivered_kwh, 0),
      priority: s.priority,
    };
    for (const name of ["transaction_id", "max_current_a", "max_power_kw", "phases"]) {
      if (s[name] !== null && s[name] !== undefined) session[name] = s[name];
    }
    return session;
  }

  function addSession() {
    const error = $("wi-error");
    error.textContent = "";
    const energy = Number($("wi-energy").value);
    if (!$("wi-arrival").value || !$("wi-departure").value || !(energy > 0)) {
      error.textContent = "An added session needs an arrival, a departure and an energy above 0 kWh.";
      return;
    }
    const session = {
      id: `what-if-${added.length + 1}`,
      charger_id: $("wi-charger").value,
      arrival: fromInput($("wi-arrival").value).toISOString(),
      departure: fromInput($("wi-departure").value).toISOString(),
      energy_kwh: energy,
    };
    if ($("wi-current").value) session.max_current_a = Number($("wi-current").value);
    added.push(session);
    showAdded();
  }

  function body(current) {
    const request = { at: current.planned_at };
    const importLimit = $("wi-import").value.trim();
    if (importLimit) request.site = { grid: { import_limit_kw: Number(importLimit) } };
    const tariff = {};
    if ($("wi-demand").value.trim()) tariff.demand_charge_per_kw = Number($("wi-demand").value);
    if ($("wi-price").value.trim()) tariff.import_price_per_kwh = Number($("wi-price").value);
    if (Object.keys(tariff).length) request.tariff = tariff;
    const removed = [...$("wi-sessions").querySelectorAll("input[type=checkbox]:not(:checked)")].map(
      (input) => input.dataset.sessionId,
    );
    if (removed.length) {
      request.sessions = liveSessions.filter((s) => !removed.includes(s.id)).map(asProblemSession);
    }
    if (added.length) request.add_sessions = added;
    return request;
  }

  // ---- the comparison -------------------------------------------------------------------

  const FIGURES = [
    ["Status", (p) => p.status, null],
    ["Energy delivered (kWh)", (p) => p.kpis.energy_delivered_kwh, 1],
    ["Energy requested (kWh)", (p) => p.kpis.energy_requested_kwh, 1],
    ["Unmet (kWh)", (p) => p.kpis.unmet_kwh, 1],
    ["Peak import (kW)", (p) => p.kpis.peak_import_kw, 1],
    ["Energy cost", (p) => p.kpis.import_cost - p.kpis.export_revenue, 2],
    ["Demand charge", (p) => p.kpis.demand_charge, 2],
    ["Total cost", (p) => p.kpis.total_cost, 2],
    ["PV used (kWh)", (p) => p.kpis.pv_used_kwh, 1],
  ];

  function showKpis(current, whatIf) {
    const table = $("wi-kpis");
    const rows = FIGURES.map(([name, get, digits]) => {
      const row = document.createElement("tr");
      const a = get(current);
      const b = get(whatIf);
      const cells = [name, digits === null ? a : C.number(a, digits), digits === null ? b : C.number(b, digits)];
      let change = "";
      if (digits !== null) {
        const scale = 10 ** digits; // the change between the values as shown
        const delta = (Math.round(b * scale) - Math.round(a * scale)) / scale;
        change = delta === 0 ? "=" : `${delta > 0 ? "+" : "−"}${C.number(Math.abs(delta), digits)}`;
      } else if (a !== b) change = "changed";
      cells.push(change);
      cells.forEach((text, i) => {
        const cell = document.createElement(i === 0 ? "th" : "td");
        if (i === 0) cell.scope = "row";
        else cell.className = "num";
        cell.textContent = text;
        row.append(cell);
      });
      row.dataset.figure = name;
      return row;
    });
    table.tBodies[0].replaceChildren(...rows);
    table.hidden = false;
  }

  function drawCompare(current, whatIf) {
    const n = (plan) => plan.site.import_kw.length;
    const limit = (plan, grid) => plan.site.import_limit_kw || Ch.perSlot(grid, n(plan));
    const document_ = C.site();
    return document_.then((doc) => {
      const whatIfGrid = (lastWhatIf.body.site && lastWhatIf.body.site.grid.import_limit_kw) ?? doc.site.grid.import_limit_kw;
      const kw = (label, stroke, extra = {}) => Ch.line(label, stroke, { scale: "kW", ...extra });
      Ch.chart(chartElement, {
        timezone,
        series: [
          kw(`Import, current plan v${current.version}`, Ch.colour.import, { width: 2 }),
          kw("Import limit, current", Ch.colour.limit, { width: 2 }),
          kw("Import, what-if", Ch.colour.whatIf, { width: 2.5 }),
          kw("Import limit, what-if", Ch.colour.limit, { width: 2, dash: [8, 5] }),
        ],
        data: Ch.align([
          [Ch.slotTimes(current), Ch.closed(current.site.import_kw)],
          [Ch.slotTimes(current), Ch.closed(limit(current, doc.site.grid.import_limit_kw))],
          [Ch.slotTimes(whatIf), Ch.closed(whatIf.site.import_kw)],
          [Ch.slotTimes(whatIf), Ch.closed(limit(whatIf, whatIfGrid))],
        ]),
        scales: { kW: { auto: true } },
        axes: [Ch.valueAxis("kW", "kW")],
        plugins: [Ch.nowLine()],
      });
    });
  }

  async function compare(event) {
    event.preventDefault();
    const error = $("wi-error");
    const statusBox = $("wi-status");
    error.textContent = "";
    const button = event.target.querySelector("button[type=submit]");
    button.disabled = true;
    statusBox.textContent = "Planning the what-if…";
    try {
      const current = await C.latestPlan();
      const request = body(current);
      const whatIf = (await C.api(`/v1/sites/${C.enc(C.siteId)}/what-if`, { method: "POST", json: request })).data;
      whatIf.horizon = current.horizon;
      lastWhatIf = { body: request, plan: whatIf, current };
      showKpis(current, whatIf);
      await drawCompare(current, whatIf);
      statusBox.textContent = `Current plan v${current.version} against the what-if (${whatIf.status}). Nothing was stored.`;
      $("wi-apply").disabled = !request.site || !(await C.me()).may.change_sites;
    } catch (e) {
      statusBox.textContent = "";
      C.report(e, error);
    } finally {
      button.disabled = false;
    }
  }

  function apply() {
    if (!lastWhatIf || !lastWhatIf.body.site) return;
    const { current, plan, body: request } = lastWhatIf;
    const limit = request.site.grid.import_limit_kw;
    const reason =
      `What-if: import limit ${limit} kW (peak ${C.number(current.kpis.peak_import_kw)} → ${C.number(plan.kpis.peak_import_kw)} kW, ` +
      `unmet ${C.number(current.kpis.unmet_kwh)} → ${C.number(plan.kpis.unmet_kwh)} kWh)`;
    const query = new URLSearchParams({ import_limit_kw: String(limit), reason });
    location.assign(`/sites/${C.enc(C.siteId)}/limits?${query}`);
  }

  $("wi-add").addEventListener("click", addSession);
  $("what-if").addEventListener("submit", compare);
  $("what-if").addEventListener("reset", () => {
    added.length = 0;
    showAdded();
  });
  $("wi-apply").addEventListener("click", apply);
  document.body.addEventListener("console-ready", () => load().catch((e) => C.report(e)));
})();
