"use strict";
/* Charts on uPlot: one time axis on the site's wall clock, a unit on every axis, values rounded
   to what a meter can tell, and the Okabe–Ito colours (readable with colour-blindness). A slot's
   value holds until the next slot starts, so series are drawn as steps ending at the horizon. */
window.Charts = (() => {
  const colour = {
    base: "#6b7785",
    baseFill: "rgba(107, 119, 133, 0.28)",
    charging: "#0072B2",
    chargingFill: "rgba(0, 114, 178, 0.42)",
    pv: "#E69F00",
    import: "#1f2933",
    limit: "#D55E00",
    price: "#CC79A7",
    export: "#56B4E9",
    whatIf: "#009E73",
    battery: "#7570B3",
    band: "rgba(0, 114, 178, 0.16)",
    pvBand: "rgba(230, 159, 0, 0.20)",
    window: "rgba(213, 94, 0, 0.11)",
    windowEdge: "rgba(213, 94, 0, 0.55)",
    now: "#52606d",
    grid: "rgba(31, 41, 51, 0.08)",
    axis: "#3e4c59",
  };
  const stepped = uPlot.paths.stepped({ align: 1 });

  /** Slot start times (epoch seconds) and the horizon's end, from an answer's `site.slot_start`
      or from the horizon. */
  function slotTimes(plan) {
    const starts = plan.site.slot_start;
    const n = plan.site.import_kw.length;
    const stepS = plan.horizon.step_minutes * 60;
    const first = Date.parse(starts ? starts[0] : plan.horizon.start) / 1000;
    const times = starts ? starts.map((s) => Date.parse(s) / 1000) : [];
    if (!starts) for (let t = 0; t < n; t++) times.push(first + t * stepS);
    times.push(times[times.length - 1] + stepS);
    return times;
  }

  /** A per-slot series with its last value repeated at the horizon's end (a step's end). */
  const closed = (values) => (values && values.length ? [...values, values[values.length - 1]] : values);

  /** A number or a per-slot list as a per-slot list of length n. */
  function perSlot(value, n) {
    if (Array.isArray(value)) return value.slice(0, n);
    if (value === null || value === undefined) return new Array(n).fill(null);
    return new Array(n).fill(Number(value));
  }

  /** Several (times, values) series on one x axis (the union of their times), nulls elsewhere. */
  function align(seriesList) {
    const all = new Set();
    for (const [times] of seriesList) for (const t of times) all.add(t);
    const x = [...all].sort((a, b) => a - b);
    const at = new Map(x.map((t, i) => [t, i]));
    const ys = seriesList.map(([times, values]) => {
      const y = new Array(x.length).fill(null);
      times.forEach((t, i) => {
        y[at.get(t)] = values[i] === undefined ? null : values[i];
      });
      return y;
    });
    return [x, ...ys];
  }

  function timeAxis(timezone) {
    const hm = new Intl.DateTimeFormat("en-GB", {
      timeZone: timezone,
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    const day = new Intl.DateTimeFormat("en-GB", { timeZone: timezone, weekday: "short", day: "numeric" });
    return {
      stroke: colour.axis,
      grid: { stroke: colour.grid, width: 1 },
      ticks: { stroke: colour.grid, width: 1 },
      values: (u, splits) =>
        splits.map((s) => {
          const date = new Date(s * 1000);
          const text = hm.format(date);
          return text === "00:00" ? day.format(date) : text;
        }),
    };
  }

  function valueAxis(scale, label, side = 3, showGrid = true) {
    return {
      scale,
      side,
      label,
      labelSize: 18,
      size: 56,
      stroke: colour.axis,
      grid: { show: showGrid, stroke: colour.grid, width: 1 },
      ticks: { stroke: colour.grid, width: 1 },
    };
  }

  /** A series' hover value: rounded, with its unit, or "–". */
  const shown = (unit, digits = 1) => (u, v) =>
    v === null || v === undefined ? "–" : `${Console.number(v, digits)} ${unit}`;

  /** A step series in kW (or another unit) for `chart`. */
  function line(label, stroke, extra = {}) {
    return { label, stroke, width: 1.5, paths: stepped, points: { show: false }, value: shown("kW"), ...extra };
  }

  /** Shades [start, end) windows (epoch seconds) behind the series, with a label at the top. */
  function shading(windows) {
    return {
      hooks: {
        drawClear: [
          (u) => {
            const { ctx, bbox } = u;
            ctx.save();
            for (const w of windows()) {
              const x0 = Math.max(u.valToPos(w.start, "x", true), bbox.left);
              const x1 = Math.min(u.valToPos(w.end, "x", true), bbox.left + bbox.width);
              if (x1 <= x0) continue;
              ctx.fillStyle = colour.window;
              ctx.fillRect(x0, bbox.top, x1 - x0, bbox.height);
              ctx.fillStyle = colour.windowEdge;
              ctx.fillRect(x0, bbox.top, x1 - x0, 3 * u.pxRatio);
              if (w.label && x1 - x0 > 40 * u.pxRatio) {
                ctx.font = `${11 * u.pxRatio}px system-ui, sans-serif`;
                ctx.fillStyle = "#8a3a00";
                ctx.fillText(w.label, x0 + 4 * u.pxRatio, bbox.top + 15 * u.pxRatio, x1 - x0 - 8 * u.pxRatio);
              }
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  /** A dashed vertical line at the present moment. */
  function nowLine() {
    return {
      hooks: {
        draw: [
          (u) => {
            const now = Date.now() / 1000;
            const { min, max } = u.scales.x;
            if (now < min || now > max) return;
            const { ctx, bbox } = u;
            const x = u.valToPos(now, "x", true);
            ctx.save();
            ctx.strokeStyle = colour.now;
            ctx.setLineDash([4 * u.pxRatio, 4 * u.pxRatio]);
            ctx.lineWidth = u.pxRatio;
            ctx.beginPath();
            ctx.moveTo(x, bbox.top);
            ctx.lineTo(x, bbox.top + bbox.height);
            ctx.stroke();
            ctx.font = `${11 * u.pxRatio}px system-ui, sans-serif`;
            ctx.fillStyle = colour.now;
            ctx.fillText("now", x + 4 * u.pxRatio, bbox.top + bbox.height - 6 * u.pxRatio);
            ctx.restore();
          },
        ],
      },
    };
  }

  /** A chart in `element` (replacing the one before), as wide as its container. */
  function chart(element, { timezone, series, data, axes, scales = {}, bands, plugins = [], height }) {
    if (element.chart) element.chart.destroy();
    if (element.resizer) element.resizer.disconnect();
    element.replaceChildren();
    const tall = height || (element.classList.contains("chart-small") ? 200 : 360);
    const full = new Intl.DateTimeFormat("en-GB", {
      timeZone: timezone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    const options = {
      width: Math.max(element.clientWidth, 320),
      height: tall,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), timezone),
      scales: { x: { time: true }, ...scales },
      series: [{ label: "Time", value: (u, ts) => (ts == null ? "–" : full.format(new Date(ts * 1000))) }, ...series],
      axes: [timeAxis(timezone), ...axes],
      bands,
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      legend: { live: true },
      plugins,
    };
    const u = new uPlot(options, data, element);
    element.chart = u;
    element.resizer = new ResizeObserver(() => {
      const width = Math.max(element.clientWidth, 320);
      if (Math.abs(width - u.width) > 1) u.setSize({ width, height: tall });
    });
    element.resizer.observe(element);
    return u;
  }

  /** Range buttons (`data-range-hours`, 0 for all) zoom `getChart()`'s x axis from its start. */
  function rangeButtons(container, getChart) {
    container.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-range-hours]");
      if (!button) return;
      const u = getChart();
      if (!u) return;
      const x = u.data[0];
      const hours = Number(button.dataset.rangeHours);
      const min = x[0];
      const max = hours ? Math.min(x[x.length - 1], min + hours * 3600) : x[x.length - 1];
      u.setScale("x", { min, max });
      for (const b of container.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
    });
  }

  return { colour, stepped, slotTimes, closed, perSlot, align, valueAxis, shown, line, shading, nowLine, chart, rangeButtons };
})();
