"use strict";
/* The limits form: sends only the limits that changed, with the reason, as
   `PATCH /v1/sites/{id}/limits`, then follows the site's re-plan until the new plan arrives.
   A what-if's "Apply" opens this page with `?import_limit_kw=…&reason=…` to prefill it. */
(() => {
  const C = window.Console;
  const REPLAN_WAIT_MS = 90000;
  const formBox = document.getElementById("limits-form");
  const status = document.getElementById("replan-status");
  const prefill = new URLSearchParams(location.search);

  function line(text, className) {
    const p = document.createElement("p");
    p.textContent = text;
    if (className) p.className = className;
    return p;
  }

  /** The JSON patch of the inputs whose value differs from what the server rendered. */
  function changes(form) {
    const patch = { circuits: {} };
    let count = 0;
    for (const input of form.querySelectorAll("input[data-field]")) {
      const value = input.value.trim();
      if (value === input.dataset.initial || value === "") continue;
      const number = Number(value);
      const target = input.dataset.circuit ? (patch.circuits[input.dataset.circuit] ||= {}) : patch;
      target[input.dataset.field] = number;
      count += 1;
    }
    if (!Object.keys(patch.circuits).length) delete patch.circuits;
    return { patch, count };
  }

  function summary(plan) {
    const k = plan.kpis;
    return `peak ${C.number(k.peak_import_kw)} kW, unmet ${C.number(k.unmet_kwh)} kWh, cost ${C.number(k.total_cost, 2)}`;
  }

  /** Polls the schedule until a version newer than `before` arrives. */
  async function awaitReplan(before, timezone) {
    const clock = C.clock(timezone);
    const deadline = Date.now() + REPLAN_WAIT_MS;
    status.replaceChildren(line("Saved. Re-planning the site…", "pending"));
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      let plan;
      try {
        plan = (await C.api(`/v1/sites/${C.enc(C.siteId)}/schedule`)).data;
      } catch (error) {
        if (error.status === 404) continue;
        throw error;
      }
      if (before === null || plan.version > before.version) {
        const arrived = line(
          `Plan v${plan.version} arrived at ${clock.seconds(new Date(plan.planned_at))} (${plan.status}).`,
          "arrived",
        );
        arrived.id = "replan-arrived";
        arrived.dataset.version = plan.version;
        const items = [arrived, line(`Now: ${summary(plan)}.`)];
        if (before) items.push(line(`Before (v${before.version}): ${summary(before)}.`, "muted"));
        status.replaceChildren(...items);
        C.refresh(); // the header's live plan too, without waiting for its next poll
        return;
      }
    }
    status.replaceChildren(line("Saved, but no new plan arrived within 90 s: see the site's plan page.", "error"));
  }

  async function submit(event) {
    event.preventDefault();
    const form = event.target;
    const error = form.querySelector("#limits-error");
    error.textContent = "";
    const reason = form.querySelector("#limits-reason").value.trim();
    const { patch, count } = changes(form);
    if (!count) {
      error.textContent = "Nothing changed: edit a limit first.";
      return;
    }
    if (!reason) {
      error.textContent = "Give a reason: it is kept in the history with the change.";
      form.querySelector("#limits-reason").focus();
      return;
    }
    patch.reason = reason;
    const by = form.querySelector("#limits-by").value.trim();
    if (by) patch.changed_by = by;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      let before = null;
      try {
        before = (await C.api(`/v1/sites/${C.enc(C.siteId)}/schedule`)).data;
      } catch (e) {
        if (e.status !== 404) throw e;
      }
      const saved = await C.api(`/v1/sites/${C.enc(C.siteId)}/limits`, { method: "PATCH", json: patch });
      document.body.dispatchEvent(new CustomEvent("limits-saved"));
      await awaitReplan(before, saved.data.document.site.timezone || "UTC");
    } catch (e) {
      C.report(e, error);
    } finally {
      button.disabled = false;
    }
  }

  /** A key that may not change limits sees them, greyed, with the reason. */
  async function readOnlyUnlessAllowed() {
    const who = await C.me();
    const form = formBox.querySelector("#limits");
    if (who.may.change_sites || !form) return;
    for (const control of form.querySelectorAll("input, textarea, button")) control.disabled = true;
    const note = document.createElement("p");
    note.id = "limits-read-only";
    note.className = "hint read-only-note";
    note.textContent = `Your key's role is '${who.role}': it may look at the limits but not change them (a 'manage' key may).`;
    form.prepend(note);
  }

  formBox.addEventListener("submit", submit);
  formBox.addEventListener("htmx:afterSwap", () => {
    readOnlyUnlessAllowed().catch((e) => C.report(e));
    if (!prefill.has("import_limit_kw")) return;
    const input = formBox.querySelector("#grid-import");
    input.value = prefill.get("import_limit_kw");
    input.classList.add("prefilled");
    const reason = formBox.querySelector("#limits-reason");
    reason.value = (prefill.get("reason") || "").slice(0, 500);
    reason.focus();
    prefill.delete("import_limit_kw"); // once: a later refresh shows the stored values
  });
})();
