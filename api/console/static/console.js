"use strict";
/* The console's shared part: the API key, API calls and their errors, the htmx wiring, and the
   live plan of a site page.

   The key is kept in this tab's sessionStorage and sent only as `Authorization: Bearer` (never in
   a URL or a cookie). A 401 from anything brings the sign-in back with the server's message.
   Text from the server is only ever set with textContent (or escaped by Jinja): never innerHTML.

   Who: after sign-in `GET /v1/me` tells the key's tenant and role, shown in the header;
   `Console.me` (a promise) lets a page disable the changes the role may not make. The server
   still decides: a change a role may not make is a 403 whatever the page shows.

   Live: a site page polls `GET /v1/sites/{id}/schedule` with the last ETag every 4 s (a 304 costs
   nothing). Server-sent events cannot carry an Authorization header (EventSource has none), and
   the key must not travel in a URL, hence polling. */
window.Console = (() => {
  const KEY_NAME = "smartcharge.apiKey";
  const POLL_MS = 4000;
  const body = document.body;
  const siteId = body.dataset.siteId || null;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const getKey = () => sessionStorage.getItem(KEY_NAME);

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** FastAPI's `detail` as one line: a string, or "field.path: message; …" for a 422. */
  function detailText(data, status) {
    if (data && typeof data.detail === "string") return data.detail;
    if (data && Array.isArray(data.detail)) {
      return data.detail
        .map((e) => {
          const where = (e.loc || []).filter((p) => p !== "body").join(".");
          return where ? `${where}: ${e.msg}` : e.msg;
        })
        .join("; ");
    }
    return `the server answered HTTP ${status}`;
  }

  /** A call to the JSON API with the key. Resolves {status, data, etag}; a 304 has no data. */
  async function api(path, { method = "GET", json, etag } = {}) {
    const headers = { Authorization: `Bearer ${getKey()}`, Accept: "application/json" };
    if (json !== undefined) headers["Content-Type"] = "application/json";
    if (etag) headers["If-None-Match"] = etag;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      throw new ApiError(0, "the server cannot be reached");
    }
    if (response.status === 304) return { status: 304, data: null, etag };
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const message = detailText(data, response.status);
      if (response.status === 401) signOut(message);
      throw new ApiError(response.status, message);
    }
    return { status: response.status, data, etag: response.headers.get("ETag") };
  }

  /** An error in words, where the user looks: `element` if given, else the banner. */
  function report(error, element) {
    let message = error instanceof Error ? error.message : String(error);
    if (error.status === 401) return; // the sign-in says it
    if (error.status === 403) message = `Your key may not do this: ${message}`;
    if (element) element.textContent = message;
    else showBanner(message);
  }

  /** A message above the page; a transient one (the server unreachable) goes at the next
      answer from the server. */
  function showBanner(message, transient = false) {
    $("banner-text").textContent = message;
    $("banner-text").dataset.transient = transient ? "yes" : "";
    $("banner").hidden = false;
  }

  // ---- sign-in ------------------------------------------------------------------------------

  function showSignIn(message) {
    $("main").hidden = true;
    $("live").hidden = true;
    $("sign-out").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    $("api-key").focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY_NAME);
    mePromise = null;
    $("who").hidden = true;
    stopLive();
    showSignIn(message ? `The key was refused: ${message}` : "");
  }

  async function signIn(event) {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) {
      $("signin-error").textContent = "Enter an API key.";
      return;
    }
    sessionStorage.setItem(KEY_NAME, key);
    try {
      await api("/v1/sites"); // a 401 signs out again, with the reason
    } catch (error) {
      if (error.status !== 401) {
        sessionStorage.removeItem(KEY_NAME);
        $("signin-error").textContent = `Cannot sign in: ${error.message}`;
      }
      return;
    }
    $("api-key").value = "";
    start();
  }

  let mePromise = null;
  /** The key's tenant, role and what it may do (`GET /v1/me`), once per page. */
  function me() {
    if (!mePromise) {
      mePromise = api("/v1/me").then((r) => r.data);
      mePromise.catch(() => {
        mePromise = null;
      });
    }
    return mePromise;
  }

  async function showWho() {
    try {
      const who = await me();
      $("who").textContent = `${who.tenant} · ${who.role} key`;
      $("who").title = `key ${who.key_prefix}…${who.label ? ` (${who.label})` : ""}`;
      $("who").hidden = false;
      body.dataset.role = who.role;
    } catch (error) {
      report(error);
    }
  }

  function start() {
    $("signin").hidden = true;
    $("main").hidden = false;
    $("sign-out").hidden = false;
    showWho();
    body.dispatchEvent(new CustomEvent("console-ready"));
    formatTimes(document);
    if (siteId) startLive();
  }

  // ---- htmx: every fragment request carries the key; errors are shown, never swapped in ------

  body.addEventListener("htmx:configRequest", (event) => {
    const key = getKey();
    if (!key) {
      event.preventDefault(); // signed out: no request without a key
      return;
    }
    event.detail.headers.Authorization = `Bearer ${key}`;
  });
  body.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    let data = null;
    try {
      data = JSON.parse(xhr.responseText);
    } catch {
      data = null;
    }
    const message = detailText(data, xhr.status);
    if (xhr.status === 401) signOut(message);
    else report(new ApiError(xhr.status, message));
  });
  body.addEventListener("htmx:sendError", () => showBanner("The server cannot be reached.", true));
  body.addEventListener("htmx:afterSwap", (event) => formatTimes(event.detail.target));

  // ---- time ---------------------------------------------------------------------------------

  const ago = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  function relative(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    if (Math.abs(seconds) < 60) return ago.format(seconds, "second");
    if (Math.abs(seconds) < 3600) return ago.format(Math.round(seconds / 60), "minute");
    if (Math.abs(seconds) < 86400) return ago.format(Math.round(seconds / 3600), "hour");
    return ago.format(Math.round(seconds / 86400), "day");
  }

  /** `<time class="js-ago">` (rendered on the site's clock) also says how long ago. */
  function formatTimes(root) {
    for (const element of root.querySelectorAll("time.js-ago")) {
      const date = new Date(element.getAttribute("datetime"));
      if (Number.isNaN(date.getTime()) || element.dataset.ago) continue;
      element.dataset.ago = "yes";
      element.append(` (${relative(date)})`);
      element.title = date.toISOString();
    }
  }

  /** Formatting on a site's wall clock. */
  function clock(timezone) {
    const hm = new Intl.DateTimeFormat("en-GB", {
      timeZone: timezone,
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    const day = new Intl.DateTimeFormat("en-GB", { timeZone: timezone, weekday: "short" });
    const date = new Intl.DateTimeFormat("en-CA", { timeZone: timezone });
    const today = date.format(new Date());
    return {
      time: (d) => hm.format(d),
      label: (d) => (date.format(d) === today ? hm.format(d) : `${day.format(d)} ${hm.format(d)}`),
      seconds: (d) =>
        new Intl.DateTimeFormat("en-GB", {
          timeZone: timezone,
          timeStyle: "medium",
          hourCycle: "h23",
        }).format(d),
    };
  }

  const number = (value, digits = 1) =>
    value === null || value === undefined || Number.isNaN(value)
      ? "–"
      : Number(value).toLocaleString("en-GB", {
          minimumFractionDigits: digits,
          maximumFractionDigits: digits,
        });

  // ---- the site and its live plan -------------------------------------------------------------

  let sitePromise = null;
  /** The site's stored document (`GET /v1/sites/{id}`), once per page. */
  function site() {
    if (!sitePromise) {
      sitePromise = api(`/v1/sites/${enc(siteId)}`).then((r) => r.data.document);
      sitePromise.catch(() => {
        sitePromise = null;
      });
    }
    return sitePromise;
  }

  // `round` tells polls apart: one started before a restart does not schedule another.
  const live = { etag: null, plan: null, version: undefined, timer: null, round: 0 };

  function showLive(text, state) {
    const element = $("live");
    element.hidden = false;
    element.textContent = text;
    element.dataset.state = state;
  }

  async function poll(round) {
    try {
      const result = await api(`/v1/sites/${enc(siteId)}/schedule`, { etag: live.etag });
      if (result.status === 200) {
        const changed = live.version !== undefined && live.version !== result.data.version;
        live.etag = result.etag;
        live.plan = result.data;
        live.version = result.data.version;
        const zone = (await site()).site.timezone || "UTC";
        const planned = clock(zone).seconds(new Date(result.data.planned_at));
        showLive(`Plan v${live.version} · ${planned} · live`, "ok");
        body.dispatchEvent(new CustomEvent("console-plan", { detail: result.data }));
        if (changed) body.dispatchEvent(new CustomEvent("console-replan", { detail: result.data }));
      }
      if (!$("banner").hidden && $("banner-text").dataset.transient) $("banner").hidden = true;
    } catch (error) {
      if (error.status === 401) return;
      if (error.status === 404 && live.version === undefined) {
        live.version = 0;
        showLive("Being planned…", "wait");
      } else if (error.status === 404) {
        showLive(error.message, "error");
      } else {
        showLive("Offline: retrying", "error");
      }
    }
    if (getKey() && round === live.round) live.timer = setTimeout(() => poll(round), POLL_MS);
  }

  /** Polls now (after a change this tab made), then every POLL_MS again. */
  function startLive() {
    stopLive();
    poll(live.round);
  }

  function stopLive() {
    if (live.timer) clearTimeout(live.timer);
    live.timer = null;
    live.round += 1;
  }

  /** The latest plan now: the one shown, or a fresh one. */
  async function latestPlan() {
    if (live.plan) return live.plan;
    return (await api(`/v1/sites/${enc(siteId)}/schedule`)).data;
  }

  // ---- wiring -----------------------------------------------------------------------------

  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("banner-close").addEventListener("click", () => {
    $("banner").hidden = true;
  });
  document.addEventListener("DOMContentLoaded", () => {
    // htmx has set up its triggers by now (its listener was added first).
    if (getKey()) start();
    else showSignIn("");
  });

  return {
    api,
    me,
    report,
    siteId,
    enc,
    site,
    clock,
    number,
    latestPlan,
    refresh: () => siteId && startLive(),
    get plan() {
      return live.plan;
    },
    get version() {
      return live.version;
    },
  };
})();
