"use strict";
/* The forecast the next plan uses (P50 with its P10–P90 band) beside the last day's measured
   base load and PV, on one time axis. */
(() => {
  const C = window.Console;
  const Ch = window.Charts;
  const chartElement = document.getElementById("forecast-chart");
  const MEASURED_HOURS = 24;
  let hours = 24;

  const text = (id, value) => {
    document.getElementById(id).textContent = value;
  };

  async function draw() {
    const document_ = await C.site();
    const timezone = document_.site.timezone || "UTC";
    const since = new Date(Date.now() - MEASURED_HOURS * 3600 * 1000).toISOString();
    chartElement.setAttribute("aria-busy", "true");
    const [forecast, measured] = await Promise.all([
      C.api(`/v1/sites/${C.enc(C.siteId)}/forecast?hours=${hours}`).then((r) => r.data),
      C.api(`/v1/sites/${C.enc(C.siteId)}/measurements?since=${C.enc(since)}`).then((r) => r.data),
    ]);
    chartElement.removeAttribute("aria-busy");
    const step = forecast.step_minutes * 60;
    const ahead = forecast.times.map((t) => Date.parse(t) / 1000);
    ahead.push(ahead[ahead.length - 1] + step);
    const past = measured.map((m) => Date.parse(m.time_utc) / 1000);
    const column = (name) => measured.map((m) => m[name]);
    const band = (b) => [Ch.closed(b.p10), Ch.closed(b.p50), Ch.closed(b.p90)];
    const [loadP10, loadP50, loadP90] = band(forecast.base_load_kw);
    const [pvP10, pvP50, pvP90] = band(forecast.pv_kw);
    const hasPv = forecast.pv_method !== "none" || column("pv_kw").some((v) => v !== null);
    const parts = [
      [past, column("base_load_kw")],
      [ahead, loadP10],
      [ahead, loadP50],
      [ahead, loadP90],
    ];
    const kw = (label, stroke, extra = {}) => Ch.line(label, stroke, { scale: "kW", ...extra });
    const quantile = (label, stroke) => kw(label, stroke, { width: 0.5, dash: [2, 3] });
    const series = [
      kw("Base load measured", Ch.colour.import, { width: 1.5 }),
      quantile("Base load P10", Ch.colour.charging),
      kw("Base load forecast (P50)", Ch.colour.charging, { width: 2 }),
      quantile("Base load P90", Ch.colour.charging),
    ];
    const bands = [{ series: [4, 2], fill: Ch.colour.band }];
    if (hasPv) {
      parts.push([past, column("pv_kw")], [ahead, pvP10], [ahead, pvP50], [ahead, pvP90]);
      series.push(
        kw("PV measured", "#8a5a00", { width: 1.5 }),
        quantile("PV P10", Ch.colour.pv),
        kw("PV forecast (P50)", Ch.colour.pv, { width: 2 }),
        quantile("PV P90", Ch.colour.pv),
      );
      bands.push({ series: [8, 6], fill: Ch.colour.pvBand });
    }
    Ch.chart(chartElement, {
      timezone,
      series,
      data: Ch.align(parts),
      scales: { kW: { auto: true } },
      axes: [Ch.valueAxis("kW", "kW")],
      bands,
      plugins: [Ch.nowLine()],
    });
    text("base-load-method", forecast.base_load_method);
    text("pv-method", forecast.pv_method);
    text("measured-count", `${measured.length} values in the last ${MEASURED_HOURS} h`);
    const warnings = document.getElementById("forecast-warnings");
    warnings.replaceChildren(
      ...forecast.warnings.map((w) => {
        const item = document.createElement("li");
        item.textContent = w;
        return item;
      }),
    );
  }

  const redraw = () => draw().catch((error) => C.report(error));
  document.querySelector(".range").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-forecast-hours]");
    if (!button) return;
    hours = Number(button.dataset.forecastHours);
    for (const b of event.currentTarget.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
    redraw();
  });
  document.body.addEventListener("console-ready", redraw);
})();
