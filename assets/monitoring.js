/*
 * Aureus monitoring dashboard (plain JS, no build step, no framework).
 *
 * SECURITY RULE — read before editing:
 *   Every string that comes from the server (event messages, field values, alert
 *   messages, ids, comments, error texts, ...) is rendered ONLY with
 *   `textContent` / `document.createTextNode`, or stored with `setAttribute` on a
 *   `data-*` attribute. Server data is never parsed as markup: no inner/outer
 *   HTML property assignment, no insert-adjacent-HTML, no writing into the document stream, no
 *   string-built HTML. Never put a server string into `href`, `src`, `style`,
 *   `id`, `title`, `aria-*` or an event-handler attribute; class names derived
 *   from server values go through token() first. The one exception is the run
 *   view's trace link: its href is the server's `traceUrl` (built from the
 *   checked `monitoring.trace_url_template`), set only after safeHttpUrl()
 *   has parsed it as an absolute http: or https: URL.
 *   The page runs under a strict CSP (no inline script, no inline style attribute).
 *
 * Data flow:
 *   1. init() binds the header controls, creates the two uPlot charts and runs
 *      refreshAll(): metrics + timeseries + alerts + events, in parallel.
 *      After metrics, alerts and events have each loaded once, body[data-ready]
 *      becomes "true".
 *   2. Metrics and timeseries are polled every 5 s whatever the connection mode
 *      (the stream carries only records and alerts).
 *   3. The Server-Sent-Events stream (/api/monitoring/stream) pushes `record`
 *      events (prepended to the timeline when they match the filters) and
 *      `alert` events (upserted into the alerts panel). The page starts in
 *      "polling" mode; when the stream opens it switches to "live". When the
 *      stream fails it is closed, alerts + events + metrics are polled every 2 s,
 *      and the stream is retried every 10 s.
 *   4. Filters (time range, workflow id, correlation id, and an event type set by
 *      "Investigate") live in `state.filters`. Changing them bumps
 *      `state.filterGeneration`, so responses to requests made for older filters
 *      are dropped, and reloads the affected data.
 *   5. The log level (GET/PUT /api/monitoring/log-level) shows in the header
 *      and is polled with the metrics; Apply PUTs the typed filter and shows
 *      what the server answered (the filter in force, or why nothing changed).
 *   6. Acknowledging an alert POSTs to the server and renders the ALERT it
 *      returns: acknowledgements therefore come from the server and survive a
 *      reload.
 *   7. Charts: the server picks the bucket width from the range and the span
 *      of the data (1 s buckets in the first seconds), isolated points are
 *      drawn as markers, and each point carries an exemplar run: clicking
 *      near a point opens that run.
 *   8. The run view (`#run=<percent-encoded correlation id>`, from a chart
 *      point, a timeline row's "run" button or an alert) shows
 *      GET /api/monitoring/runs/{id} as a waterfall: one row per step, LLM
 *      call, tool call, CRV gate, policy check, snapshot, rollback or other
 *      record, failures marked; it reloads when the stream brings a record
 *      of that run.
 *   Failures never throw to the console: they are shown in #error-banner and the
 *   timers keep retrying.
 */
(function () {
  "use strict";

  // ------------------------------------------------------------ constants

  const API = "/api/monitoring";
  const STREAM_URL = API + "/stream";
  const METRICS_INTERVAL_MS = 5000;
  const FALLBACK_POLL_INTERVAL_MS = 2000;
  const STREAM_RETRY_MS = 10000;
  const ALERT_RESYNC_MS = 30000;
  const REQUEST_TIMEOUT_MS = 10000;
  const TIMESERIES_POINTS = 120; // an upper bound: the server picks the bucket width
  const CLICK_RADIUS_PX = 24; // how far from a chart point a click still opens its run
  const RUN_RELOAD_MS = 1000; // at most one run-view reload per second while records arrive
  const MAX_EVENTS = 200;
  const MAX_SUMMARY_CHARS = 400;
  const MAX_HISTORY = 20;
  const DEFAULT_ACK_BY = "operator";
  const ACK_ERROR_TTL_MS = 20000;

  /** Event type to show when investigating an alert that has no workflow/correlation id. */
  const ALERT_EVENT_TYPES = {
    "success-rate": "step_end",
    "crv-failures": "crv_result",
    "policy-denials": "policy_check",
    "rollbacks": "rollback",
  };

  const STATE_ORDER = { firing: 0, pending: 1, resolved: 2 };
  const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };

  /** Fields shown in their own column of a timeline row, hence left out of its summary. */
  const TIMELINE_OWN_FIELDS = new Set([
    "timestamp", "level", "event_type", "workflow_id", "correlation_id", "message",
  ]);

  // ---------------------------------------------------------------- state

  const state = {
    filters: {
      timeRangeMs: 3600000,
      workflowId: "",
      correlationId: "",
      eventType: "",
    },
    filterGeneration: 0,
    alerts: [],
    history: [],
    events: [],
    ackErrors: new Map(), // alert id -> {text, until} from the last failed ack
    ackPending: new Set(), // alert ids with an ack request in flight
    loaded: { metrics: false, alerts: false, events: false },
    errors: new Map(), // source name -> error text
    inFlight: new Map(), // source name -> number of requests in flight
    mode: "polling",
    stream: null,
    streamRetryTimer: null,
    fallbackTimer: null,
    alertsVersion: 0,
    timelineVersion: 0,
    charts: { successRate: null, durations: null },
    chartPoints: [], // the points last drawn, with their exemplars
    bucketMs: 1000, // their bucket width
    run: { id: "", generation: 0, reloadTimer: null },
  };

  // --------------------------------------------------------- DOM helpers

  function byId(id) {
    return document.getElementById(id);
  }

  /** Creates an element with optional class names and text (always via textContent). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** Sets a data-* attribute; the only way server strings reach attributes. */
  function setData(node, name, value) {
    node.setAttribute("data-" + name, value === undefined || value === null ? "" : String(value));
  }

  function setText(node, text) {
    node.textContent = text === undefined || text === null ? "" : String(text);
  }

  function bumpVersion(name) {
    state[name] += 1;
    document.body.dataset[name] = String(state[name]);
  }

  // ----------------------------------------------------------- formatting

  const NONE = "—";

  function isNumber(value) {
    return typeof value === "number" && Number.isFinite(value);
  }

  function formatPercent(fraction) {
    return isNumber(fraction) ? (fraction * 100).toFixed(1) + " %" : NONE;
  }

  function formatCount(value) {
    return isNumber(value) ? String(Math.round(value)) : NONE;
  }

  function formatDuration(ms) {
    if (!isNumber(ms)) return NONE;
    const abs = Math.abs(ms);
    if (abs < 1000) return Math.round(ms) + " ms";
    if (abs < 60000) return (ms / 1000).toFixed(1) + " s";
    if (abs < 3600000) return (ms / 60000).toFixed(1) + " min";
    return (ms / 3600000).toFixed(1) + " h";
  }

  /** Short number for "current vs threshold": integers stay integers, else up to 3 decimals. */
  function formatNumber(value) {
    if (!isNumber(value)) return NONE;
    if (Number.isInteger(value)) return String(value);
    return String(Number(value.toFixed(3)));
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });

  /** Formats an RFC 3339 string or epoch ms; falls back to the raw text. */
  function formatTime(value) {
    if (value === undefined || value === null || value === "") return NONE;
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    const today = new Date();
    return date.toDateString() === today.toDateString()
      ? timeFormat.format(date)
      : dateTimeFormat.format(date);
  }

  function formatAgo(value) {
    const date = new Date(value);
    if (value === undefined || value === null || Number.isNaN(date.getTime())) return "";
    const seconds = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.round(seconds / 3600) + " h ago";
    return Math.round(seconds / 86400) + " d ago";
  }

  /** Renders any JSON field value as plain text for the one-line summary. */
  function fieldText(value) {
    if (value === null || value === undefined) return "null";
    if (typeof value === "object") {
      try {
        return JSON.stringify(value);
      } catch (_) {
        return "[object]";
      }
    }
    return String(value);
  }

  function truncate(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  // -------------------------------------------------------------- network

  /** Builds a same-origin URL with the non-empty query parameters. */
  function apiUrl(path, params) {
    const query = new URLSearchParams();
    Object.keys(params || {}).forEach(function (key) {
      const value = params[key];
      if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
    });
    const qs = query.toString();
    return API + path + (qs ? "?" + qs : "");
  }

  /** Reads an error text from a failed response, if it is JSON `{"error": ...}`. */
  async function responseError(response) {
    let detail = "";
    try {
      const body = await response.json();
      if (body && typeof body.error === "string") detail = body.error;
    } catch (_) {
      // Not JSON: keep the status only.
    }
    return "HTTP " + response.status + (detail ? ": " + detail : "");
  }

  /** fetch + JSON with cookies and a timeout. Resolves to {ok, data} or {ok:false, error}. */
  async function requestJson(url, options) {
    const controller = typeof AbortController === "function" ? new AbortController() : null;
    const timer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
    try {
      const init = Object.assign({ credentials: "same-origin", cache: "no-store" }, options || {});
      if (controller) init.signal = controller.signal;
      const response = await fetch(url, init);
      if (!response.ok) return { ok: false, status: response.status, error: await responseError(response) };
      return { ok: true, status: response.status, data: await response.json() };
    } catch (err) {
      const aborted = err && err.name === "AbortError";
      return { ok: false, status: 0, error: aborted ? "request timed out" : "API unreachable" };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /**
   * Runs one GET for a named data source: skips it when the same source is still
   * in flight (unless forced by a filter change), drops stale answers, records
   * errors for the banner, and hands fresh data to `apply`.
   */
  async function loadSource(name, url, apply, force) {
    const running = state.inFlight.get(name) || 0;
    if (running > 0 && !force) return false;
    const generation = state.filterGeneration;
    state.inFlight.set(name, running + 1);
    const result = await requestJson(url);
    state.inFlight.set(name, (state.inFlight.get(name) || 1) - 1);
    if (generation !== state.filterGeneration) return false;
    if (!result.ok) {
      reportError(name, result.error);
      return false;
    }
    clearError(name);
    try {
      apply(result.data || {});
    } catch (_) {
      reportError(name, "unexpected response");
      return false;
    }
    if (name in state.loaded) {
      state.loaded[name] = true;
      markReadyIfLoaded();
    }
    return true;
  }

  function markReadyIfLoaded() {
    const loaded = state.loaded;
    if (loaded.metrics && loaded.alerts && loaded.events && document.body.dataset.ready !== "true") {
      document.body.dataset.ready = "true";
    }
  }

  // --------------------------------------------------------- error banner

  const SOURCE_LABELS = {
    metrics: "metrics",
    timeseries: "time series",
    alerts: "alerts",
    events: "events",
  };

  function reportError(source, message) {
    state.errors.set(source, message);
    renderErrorBanner();
  }

  function clearError(source) {
    if (state.errors.delete(source)) renderErrorBanner();
  }

  function renderErrorBanner() {
    const banner = byId("error-banner");
    if (state.errors.size === 0) {
      banner.hidden = true;
      setText(banner, "");
      return;
    }
    const parts = [];
    state.errors.forEach(function (message, source) {
      parts.push((SOURCE_LABELS[source] || source) + " (" + message + ")");
    });
    setText(banner, "Cannot load monitoring data: " + parts.join(", ") + ". Retrying automatically…");
    banner.hidden = false;
  }

  // -------------------------------------------------------------- loaders

  function loadMetrics(force) {
    const f = state.filters;
    return loadSource("metrics", apiUrl("/metrics", {
      timeRange: f.timeRangeMs,
      workflowId: f.workflowId,
    }), renderMetrics, force);
  }

  function loadTimeseries(force) {
    const f = state.filters;
    return loadSource("timeseries", apiUrl("/timeseries", {
      timeRange: f.timeRangeMs,
      points: TIMESERIES_POINTS,
      workflowId: f.workflowId,
    }), renderTimeseries, force);
  }

  function loadAlerts(force) {
    return loadSource("alerts", apiUrl("/alerts"), function (data) {
      state.alerts = Array.isArray(data.alerts) ? data.alerts.filter(isObject) : [];
      state.history = Array.isArray(data.history) ? data.history.filter(isObject) : [];
      renderAlerts();
    }, force);
  }

  function loadEvents(force) {
    const f = state.filters;
    return loadSource("events", apiUrl("/events", {
      type: f.eventType,
      workflowId: f.workflowId,
      correlationId: f.correlationId,
      startTime: Date.now() - f.timeRangeMs,
      limit: MAX_EVENTS,
    }), function (data) {
      state.events = Array.isArray(data.events) ? data.events.filter(isObject).slice(0, MAX_EVENTS) : [];
      renderTimeline();
    }, force);
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function refreshAll(force) {
    return Promise.all([
      loadMetrics(force), loadTimeseries(force), loadAlerts(force), loadEvents(force),
    ]);
  }

  // ---------------------------------------------------------------- cards

  function setCard(id, value, detail) {
    const card = byId(id);
    if (!card) return;
    setText(card.querySelector(".value"), value);
    const detailNode = card.querySelector(".detail");
    if (detailNode) setText(detailNode, detail || "");
  }

  function successRateStatus(rate) {
    if (!isNumber(rate)) return "status-unknown";
    if (rate >= 0.95) return "status-ok";
    if (rate >= 0.8) return "status-warning";
    return "status-critical";
  }

  function renderMetrics(m) {
    setCard("card-success-rate", formatPercent(m.successRate),
      isNumber(m.stepEnds) ? formatCount(m.successes) + " of " + formatCount(m.stepEnds) + " steps succeeded" : "");
    const card = byId("card-success-rate");
    card.classList.remove("status-ok", "status-warning", "status-critical", "status-unknown");
    card.classList.add(successRateStatus(m.successRate));

    setCard("card-crv-failures", formatCount(m.crvFailures), "CRV gate failures");
    setCard("card-policy-denials", formatCount(m.policyDenials),
      isNumber(m.policyChecks) ? "of " + formatCount(m.policyChecks) + " policy checks" : "");
    setCard("card-rollbacks", formatCount(m.rollbacks), "");
    setCard("card-mttr", formatDuration(m.mttrMs),
      isNumber(m.recoveries) ? formatCount(m.recoveries) + " recoveries" : "");
    setCard("card-escalation-rate", formatPercent(m.escalationRate),
      isNumber(m.escalations) ? formatCount(m.escalations) + " escalations" : "");
    // GenAI cost (price table → llm_response.cost_usd): dollars per successful task.
    const usd = (x) => isNumber(x) ? "$" + (x >= 1 ? x.toFixed(2) : x.toPrecision(3)) : "—";
    setCard("card-llm-cost", usd(m.costPerSuccessUsd),
      isNumber(m.llmCostUsd) ? usd(m.llmCostUsd) + " on LLM calls in window" : "");

    markProblem("card-crv-failures", m.crvFailures);
    markProblem("card-policy-denials", m.policyDenials);
    markProblem("card-rollbacks", m.rollbacks);

    const source = typeof m.source === "string" ? m.source : "";
    setText(byId("metrics-source"), source
      ? "Source: " + source + (isNumber(m.events) ? " · " + formatCount(m.events) + " events in window" : "")
      : "");
    renderTaskTypes(isObject(m.successRateByTaskType) ? m.successRateByTaskType : {});
  }

  function markProblem(id, count) {
    byId(id).classList.toggle("has-problems", isNumber(count) && count > 0);
  }

  function renderTaskTypes(byType) {
    const body = byId("task-types-body");
    const names = Object.keys(byType).sort();
    const rows = names.map(function (name) {
      const s = isObject(byType[name]) ? byType[name] : {};
      const row = el("tr");
      row.appendChild(el("td", "", name));
      row.appendChild(el("td", "num", formatCount(s.total)));
      row.appendChild(el("td", "num", formatCount(s.successes)));
      row.appendChild(el("td", "num", formatPercent(s.successRate)));
      row.appendChild(el("td", "num", formatDuration(s.mttrMs)));
      row.appendChild(el("td", "num", formatDuration(s.costPerSuccessMs)));
      return row;
    });
    body.replaceChildren.apply(body, rows);
    byId("task-types").querySelector("table").hidden = rows.length === 0;
    byId("task-types-empty").hidden = rows.length > 0;
  }

  // --------------------------------------------------------------- charts

  function chartWidth(container) {
    return Math.max(240, Math.floor(container.clientWidth || 600));
  }

  const CHART_HEIGHT = 240;

  const AXIS_STYLE = {
    stroke: "#57606a",
    grid: { stroke: "#eaeef2", width: 1 },
    ticks: { stroke: "#d0d7de", width: 1 },
  };

  /**
   * uPlot `points.filter`: when uPlot would not draw markers (dense data),
   * still draw the values that have no neighbour to join a line to — a lone
   * value is otherwise invisible.
   */
  function isolatedPoints(u, seriesIdx, show) {
    if (show) return null;
    const data = u.data[seriesIdx] || [];
    const present = function (i) { return i >= 0 && i < data.length && data[i] !== null && data[i] !== undefined; };
    const lone = [];
    for (let i = 0; i < data.length; i++) {
      if (present(i) && !present(i - 1) && !present(i + 1)) lone.push(i);
    }
    return lone.length ? lone : null;
  }

  /**
   * The x range: the points plus half a bucket on each side, so the first and
   * last markers are whole and clickable, and a single point sits mid-chart.
   */
  function timeRange(u, min, max) {
    if (!isNumber(min) || !isNumber(max)) {
      const now = Date.now() / 1000;
      return [now - 60, now];
    }
    const pad = Math.max(1, state.bucketMs / 1000) / 2;
    return [min - pad, max + pad];
  }

  function successRateOptions(width) {
    return {
      width: width,
      height: CHART_HEIGHT,
      scales: { x: { time: true, range: timeRange }, y: { range: [0, 100] } },
      axes: [
        Object.assign({}, AXIS_STYLE),
        Object.assign({}, AXIS_STYLE, {
          size: 50,
          values: function (u, ticks) { return ticks.map(function (v) { return v + " %"; }); },
        }),
      ],
      series: [
        {},
        {
          label: "Success rate",
          stroke: "#1a7f37",
          width: 2,
          fill: "rgba(26, 127, 55, 0.12)",
          points: { size: 5, filter: isolatedPoints },
          value: function (u, v) { return v === null || v === undefined ? NONE : v.toFixed(1) + " %"; },
        },
      ],
    };
  }

  function durationSeries(label, colour) {
    return {
      label: label,
      stroke: colour,
      width: 2,
      points: { size: 5, filter: isolatedPoints },
      value: function (u, v) { return formatDuration(v); },
    };
  }

  function durationOptions(width) {
    return {
      width: width,
      height: CHART_HEIGHT,
      scales: {
        x: { time: true, range: timeRange },
        y: {
          range: function (u, min, max) {
            const top = isNumber(max) && max > 0 ? max * 1.1 : 1;
            return [0, top];
          },
        },
      },
      axes: [
        Object.assign({}, AXIS_STYLE),
        Object.assign({}, AXIS_STYLE, {
          size: 64,
          values: function (u, ticks) { return ticks.map(formatDuration); },
        }),
      ],
      series: [
        {},
        durationSeries("p50", "#0969da"),
        durationSeries("p90", "#bf8700"),
        durationSeries("p99", "#cf222e"),
      ],
    };
  }

  function createCharts() {
    const srEl = byId("chart-success-rate");
    const durEl = byId("chart-durations");
    if (typeof window.uPlot !== "function") {
      [srEl, durEl].forEach(function (node) {
        node.appendChild(el("p", "chart-unavailable", "Chart library not loaded."));
      });
      return;
    }
    state.charts.successRate = new window.uPlot(successRateOptions(chartWidth(srEl)), [[], []], srEl);
    state.charts.durations = new window.uPlot(durationOptions(chartWidth(durEl)), [[], [], [], []], durEl);
    [state.charts.successRate, state.charts.durations].forEach(bindChartClicks);
    watchChartSizes(srEl, durEl);
  }

  /** The drawn point nearest to `clientX` (within CLICK_RADIUS_PX) that has an exemplar run. */
  function exemplarNear(chart, clientX) {
    const x = clientX - chart.over.getBoundingClientRect().left;
    let best = null;
    let bestDistance = CLICK_RADIUS_PX;
    state.chartPoints.forEach(function (p) {
      if (!isObject(p.exemplar) || typeof p.exemplar.correlationId !== "string" || !p.exemplar.correlationId) return;
      const distance = Math.abs(chart.valToPos(p.t / 1000, "x") - x);
      if (distance <= bestDistance) {
        best = p.exemplar;
        bestDistance = distance;
      }
    });
    return best;
  }

  /**
   * Clicking a chart point opens its exemplar's run; the cursor shows where one
   * can. Listened to in the capture phase on the chart's root: uPlot's own
   * capture listener may stop a click's propagation; a drag (uPlot's zoom
   * selection) is not a click on a point.
   */
  function bindChartClicks(chart) {
    let down = null;
    chart.over.addEventListener("mousedown", function (event) {
      down = { x: event.clientX, y: event.clientY };
    });
    chart.root.addEventListener("click", function (event) {
      if (event.target !== chart.over) return;
      const dragged = down && (Math.abs(event.clientX - down.x) > 3 || Math.abs(event.clientY - down.y) > 3);
      down = null;
      if (dragged) return;
      const exemplar = exemplarNear(chart, event.clientX);
      if (exemplar) openRun(String(exemplar.correlationId));
    }, true);
    chart.over.addEventListener("mousemove", function (event) {
      chart.over.classList.toggle("has-exemplar", exemplarNear(chart, event.clientX) !== null);
    });
  }

  function watchChartSizes(srEl, durEl) {
    let pending = false;
    function resize() {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        if (state.charts.successRate) state.charts.successRate.setSize({ width: chartWidth(srEl), height: CHART_HEIGHT });
        if (state.charts.durations) state.charts.durations.setSize({ width: chartWidth(durEl), height: CHART_HEIGHT });
      });
    }
    window.addEventListener("resize", resize);
    if (typeof ResizeObserver === "function") {
      const observer = new ResizeObserver(resize);
      observer.observe(srEl);
      observer.observe(durEl);
    }
  }

  function numberOrNull(value) {
    return isNumber(value) ? value : null;
  }

  function renderTimeseries(data) {
    const points = Array.isArray(data.points) ? data.points.filter(isObject) : [];
    points.sort(function (a, b) { return a.t - b.t; });
    const xs = points.map(function (p) { return p.t / 1000; }); // uPlot time scales use seconds
    const rate = points.map(function (p) { return isNumber(p.successRate) ? p.successRate * 100 : null; });
    const p50 = points.map(function (p) { return numberOrNull(p.p50); });
    const p90 = points.map(function (p) { return numberOrNull(p.p90); });
    const p99 = points.map(function (p) { return numberOrNull(p.p99); });
    state.chartPoints = points;
    state.bucketMs = isNumber(data.bucketMs) && data.bucketMs > 0 ? data.bucketMs : 1000;
    if (state.charts.successRate) state.charts.successRate.setData([xs, rate]);
    if (state.charts.durations) state.charts.durations.setData([xs, p50, p90, p99]);
  }

  // --------------------------------------------------------------- alerts

  function sortAlerts(alerts) {
    return alerts.slice().sort(function (a, b) {
      const byState = rank(STATE_ORDER, a.state) - rank(STATE_ORDER, b.state);
      if (byState !== 0) return byState;
      const bySeverity = rank(SEVERITY_ORDER, a.severity) - rank(SEVERITY_ORDER, b.severity);
      if (bySeverity !== 0) return bySeverity;
      return String(b.since || "").localeCompare(String(a.since || ""));
    });
  }

  function rank(order, key) {
    return Object.prototype.hasOwnProperty.call(order, key) ? order[key] : 9;
  }

  /** Class-safe token: server strings only reach class names after this filter. */
  function token(value) {
    return String(value === undefined || value === null ? "unknown" : value)
      .toLowerCase().replace(/[^a-z0-9_-]/g, "") || "unknown";
  }

  function isAckable(alert) {
    return (alert.state === "pending" || alert.state === "firing") && !alert.acknowledgedBy;
  }

  function comparison(alert) {
    const current = alert.currentValue;
    const threshold = alert.threshold;
    let op = "vs";
    if (isNumber(current) && isNumber(threshold)) {
      op = current < threshold ? "<" : current > threshold ? ">" : "=";
    }
    return formatNumber(current) + " " + op + " " + formatNumber(threshold);
  }

  function alertHead(alert) {
    const head = el("div", "alert-head");
    head.appendChild(el("span", "alert-id", alert.id));
    head.appendChild(el("span", "badge alert-severity", alert.severity));
    head.appendChild(el("span", "badge alert-state", alert.state));
    return head;
  }

  function alertFacts(alert) {
    const facts = el("div", "alert-facts");
    const metric = el("span", "alert-metric", alert.metric ? alert.metric + ":" : "");
    const value = el("span", "alert-value", comparison(alert));
    const metricLine = el("span", "alert-metric-line");
    metricLine.appendChild(metric);
    metricLine.appendChild(document.createTextNode(" "));
    metricLine.appendChild(value);
    facts.appendChild(metricLine);
    const ago = formatAgo(alert.since);
    facts.appendChild(el("span", "alert-since", "since " + formatTime(alert.since) + (ago ? " (" + ago + ")" : "")));
    if (alert.workflowId) facts.appendChild(el("span", "alert-context alert-workflow", "workflow " + alert.workflowId));
    if (alert.correlationId) facts.appendChild(el("span", "alert-context alert-correlation", "correlation " + alert.correlationId));
    return facts;
  }

  function alertAck(alert, node) {
    if (!alert.acknowledgedBy) return;
    node.appendChild(el("p", "alert-ack",
      "acknowledged by " + alert.acknowledgedBy + " at " + formatTime(alert.acknowledgedAt)));
    if (alert.comment) node.appendChild(el("p", "alert-comment", alert.comment));
  }

  function labelledInput(labelText, className, value, placeholder) {
    const label = el("label", "", labelText);
    const input = el("input", className);
    input.type = "text";
    input.autocomplete = "off";
    input.value = value;
    if (placeholder) input.placeholder = placeholder;
    label.appendChild(input);
    return label;
  }

  function alertActions(alert) {
    const actions = el("div", "alert-actions");
    if (isAckable(alert)) {
      actions.appendChild(labelledInput("Acknowledge as", "ack-by", DEFAULT_ACK_BY));
      actions.appendChild(labelledInput("Comment", "ack-comment", "", "optional"));
      const ack = el("button", "ack-button", "Acknowledge");
      ack.type = "button";
      ack.disabled = state.ackPending.has(alert.id);
      actions.appendChild(ack);
    }
    const investigate = el("button", "investigate-button secondary", "Investigate");
    investigate.type = "button";
    actions.appendChild(investigate);
    if (alert.correlationId) {
      const run = el("button", "open-run-button secondary", "Open run");
      run.type = "button";
      actions.appendChild(run);
    }
    return actions;
  }

  function alertElement(alert) {
    const node = el("article", "alert severity-" + token(alert.severity) + " state-" + token(alert.state));
    setData(node, "alert-id", alert.id);
    setData(node, "severity", alert.severity);
    setData(node, "state", alert.state);
    if (alert.acknowledgedBy) setData(node, "acknowledged", "true");
    node.appendChild(alertHead(alert));
    node.appendChild(el("p", "alert-message", alert.message));
    node.appendChild(alertFacts(alert));
    alertAck(alert, node);
    node.appendChild(alertActions(alert));
    const error = state.ackErrors.get(alert.id);
    if (error && error.until > Date.now()) {
      node.appendChild(el("p", "ack-error", "Acknowledge failed: " + error.text));
    }
    return node;
  }

  /** Remembers what the user typed in the ack inputs (and the focus) across re-renders. */
  function captureAlertInputs(list) {
    const saved = new Map();
    let focus = null;
    list.querySelectorAll(".alert").forEach(function (node) {
      const id = node.getAttribute("data-alert-id");
      node.querySelectorAll("input").forEach(function (input) {
        saved.set(id + "\u0000" + input.className, input.value);
        if (document.activeElement === input) {
          focus = { key: id + "\u0000" + input.className, start: input.selectionStart, end: input.selectionEnd };
        }
      });
    });
    return { saved: saved, focus: focus };
  }

  function restoreAlertInputs(list, snapshot) {
    list.querySelectorAll(".alert").forEach(function (node) {
      const id = node.getAttribute("data-alert-id");
      node.querySelectorAll("input").forEach(function (input) {
        const key = id + "\u0000" + input.className;
        if (snapshot.saved.has(key)) input.value = snapshot.saved.get(key);
        if (snapshot.focus && snapshot.focus.key === key) {
          input.focus();
          try {
            input.setSelectionRange(snapshot.focus.start, snapshot.focus.end);
          } catch (_) {
            // Some input types do not support selection; focus is enough.
          }
        }
      });
    });
  }

  function renderAlerts() {
    const list = byId("alerts-list");
    const snapshot = captureAlertInputs(list);
    const nodes = sortAlerts(state.alerts).map(alertElement);
    list.replaceChildren.apply(list, nodes);
    restoreAlertInputs(list, snapshot);
    byId("alerts-empty").hidden = nodes.length > 0;
    renderAlertHistory();
    bumpVersion("alertsVersion");
  }

  function renderAlertHistory() {
    const list = byId("alerts-history");
    const entries = state.history.slice(-MAX_HISTORY).reverse();
    const nodes = entries.map(function (h) {
      const item = el("li", "history-entry state-" + token(h.state));
      setData(item, "history-alert-id", h.id);
      setData(item, "history-state", h.state);
      item.appendChild(el("span", "history-time", formatTime(h.at)));
      item.appendChild(el("span", "history-id", h.id));
      item.appendChild(el("span", "history-state", h.state));
      item.appendChild(el("span", "history-severity", h.severity));
      item.appendChild(el("span", "history-value", formatNumber(h.currentValue)));
      return item;
    });
    list.replaceChildren.apply(list, nodes);
    byId("alerts-history-panel").hidden = nodes.length === 0;
  }

  function upsertAlert(alert) {
    if (!isObject(alert) || alert.id === undefined) return;
    const index = state.alerts.findIndex(function (a) { return a.id === alert.id; });
    if (index >= 0) state.alerts[index] = alert;
    else state.alerts.push(alert);
  }

  function findAlert(id) {
    return state.alerts.find(function (a) { return String(a.id) === id; });
  }

  async function acknowledge(alertNode) {
    const id = alertNode.getAttribute("data-alert-id");
    const byInput = alertNode.querySelector(".ack-by");
    const commentInput = alertNode.querySelector(".ack-comment");
    const by = (byInput && byInput.value.trim()) || DEFAULT_ACK_BY;
    const comment = commentInput ? commentInput.value.trim() : "";
    state.ackPending.add(id);
    const button = alertNode.querySelector(".ack-button");
    if (button) button.disabled = true;
    const result = await requestJson(API + "/alerts/" + encodeURIComponent(id) + "/ack", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ by: by, comment: comment }),
    });
    state.ackPending.delete(id);
    if (result.ok && isObject(result.data)) {
      state.ackErrors.delete(id);
      upsertAlert(result.data);
      renderAlerts();
    } else {
      state.ackErrors.set(id, { text: result.error || "unexpected response", until: Date.now() + ACK_ERROR_TTL_MS });
      renderAlerts();
      if (result.status === 404 || result.status === 409) loadAlerts(true); // show the server's view
    }
  }

  function investigate(alertNode) {
    const alert = findAlert(alertNode.getAttribute("data-alert-id"));
    if (!alert) return;
    const next = { workflowId: "", correlationId: "", eventType: "" };
    if (alert.correlationId) next.correlationId = String(alert.correlationId);
    else if (alert.workflowId) next.workflowId = String(alert.workflowId);
    else next.eventType = ALERT_EVENT_TYPES[alert.id] || "";
    setFilters(next);
    byId("timeline").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function onAlertsClick(event) {
    const button = event.target.closest("button");
    if (!button) return;
    const alertNode = button.closest(".alert");
    if (!alertNode) return;
    if (button.classList.contains("ack-button")) acknowledge(alertNode);
    else if (button.classList.contains("investigate-button")) investigate(alertNode);
    else if (button.classList.contains("open-run-button")) {
      const alert = findAlert(alertNode.getAttribute("data-alert-id"));
      if (alert && alert.correlationId) openRun(String(alert.correlationId));
    }
  }

  function onAlertsKeydown(event) {
    if (event.key !== "Enter" || !event.target.matches(".ack-by, .ack-comment")) return;
    const alertNode = event.target.closest(".alert");
    if (alertNode && alertNode.querySelector(".ack-button:not(:disabled)")) {
      event.preventDefault();
      acknowledge(alertNode);
    }
  }

  // ------------------------------------------------------------- timeline

  function truthy(value) {
    return value === true || value === "true";
  }

  function falsy(value) {
    return value === false || value === "false";
  }

  /** "bad" (red), "warn" (amber) or "neutral" for a record's marker. */
  function outcome(record) {
    const type = String(record.event_type || "");
    const level = String(record.level || "").toUpperCase();
    if (falsy(record.success) || truthy(record.blocked) || falsy(record.passed) ||
        falsy(record.allowed) || type.indexOf("rollback") === 0 || level === "ERROR") {
      return "bad";
    }
    if (level === "WARN" || level === "WARNING") return "warn";
    return "neutral";
  }

  function summaryText(record) {
    const parts = [];
    if (record.message !== undefined && record.message !== null && record.message !== "") {
      parts.push(fieldText(record.message));
    }
    Object.keys(record).forEach(function (key) {
      if (!TIMELINE_OWN_FIELDS.has(key)) parts.push(key + "=" + fieldText(record[key]));
    });
    return truncate(parts.join("  ").replace(/\s+/g, " "), MAX_SUMMARY_CHARS);
  }

  function idLink(kind, value) {
    const wrapper = el("span", "event-" + kind);
    wrapper.appendChild(el("span", "id-label", kind === "workflow" ? "wf " : "corr "));
    const button = el("button", "link " + kind + "-link", value);
    button.type = "button";
    // Not data-workflow-id/data-correlation-id: those name the whole <li> only.
    setData(button, "filter-kind", kind);
    setData(button, "filter-value", value);
    wrapper.appendChild(button);
    if (kind === "correlation") {
      const run = el("button", "link run-link", "run ▸");
      run.type = "button";
      setData(run, "filter-kind", "run");
      setData(run, "filter-value", value);
      wrapper.appendChild(run);
    }
    return wrapper;
  }

  function eventElement(record) {
    const kind = outcome(record);
    const item = el("li", "event outcome-" + kind);
    const type = record.event_type ? String(record.event_type) : "log";
    const level = record.level ? String(record.level) : "";
    setData(item, "event-type", type);
    setData(item, "correlation-id", record.correlation_id || "");
    setData(item, "workflow-id", record.workflow_id || "");
    setData(item, "level", level);
    setData(item, "outcome", kind);

    item.appendChild(el("span", "marker"));
    item.appendChild(el("span", "event-time", formatTime(record.timestamp)));
    item.appendChild(el("span", "event-type", type));
    item.appendChild(el("span", "event-level level-" + token(level), level || NONE));
    const ids = el("span", "event-ids");
    if (record.workflow_id) ids.appendChild(idLink("workflow", String(record.workflow_id)));
    if (record.correlation_id) ids.appendChild(idLink("correlation", String(record.correlation_id)));
    item.appendChild(ids);
    item.appendChild(el("span", "event-summary", summaryText(record)));
    return item;
  }

  function renderTimeline() {
    const list = byId("timeline-list");
    list.replaceChildren.apply(list, state.events.map(eventElement));
    updateTimelineChrome();
    bumpVersion("timelineVersion");
  }

  function updateTimelineChrome() {
    byId("timeline-empty").hidden = state.events.length > 0;
    setText(byId("timeline-count"), state.events.length
      ? state.events.length + (state.events.length === 1 ? " event" : " events") +
        (state.events.length >= MAX_EVENTS ? " (latest " + MAX_EVENTS + ")" : "")
      : "");
  }

  function matchesFilters(record) {
    const f = state.filters;
    if (f.workflowId && String(record.workflow_id || "") !== f.workflowId) return false;
    if (f.correlationId && String(record.correlation_id || "") !== f.correlationId) return false;
    if (f.eventType && String(record.event_type || "") !== f.eventType) return false;
    return true;
  }

  function prependRecord(record) {
    if (isObject(record) && state.run.id && String(record.correlation_id || "") === state.run.id) {
      scheduleRunReload();
    }
    if (!isObject(record) || !matchesFilters(record)) return;
    state.events.unshift(record);
    const list = byId("timeline-list");
    list.insertBefore(eventElement(record), list.firstChild);
    while (state.events.length > MAX_EVENTS) {
      state.events.pop();
      if (list.lastChild) list.removeChild(list.lastChild);
    }
    updateTimelineChrome();
    bumpVersion("timelineVersion");
  }

  function onTimelineClick(event) {
    const button = event.target.closest("button.link");
    if (!button) return;
    const kind = button.getAttribute("data-filter-kind");
    const value = button.getAttribute("data-filter-value") || "";
    if (kind === "run") {
      openRun(value);
    } else if (kind === "correlation") {
      byId("correlation-search").value = value;
      setFilters({ correlationId: value });
    } else if (kind === "workflow") {
      byId("workflow-filter").value = value;
      setFilters({ workflowId: value });
    }
  }

  // -------------------------------------------------------------- filters

  function describeFilters() {
    const f = state.filters;
    const parts = [];
    if (f.workflowId) parts.push("workflow " + f.workflowId);
    if (f.correlationId) parts.push("correlation " + f.correlationId);
    if (f.eventType) parts.push("event type " + f.eventType);
    return parts.length ? "Filtered by " + parts.join(", ") : "";
  }

  function renderFilterState() {
    const f = state.filters;
    byId("workflow-filter").value = f.workflowId;
    byId("correlation-search").value = f.correlationId;
    byId("time-range").value = String(f.timeRangeMs);
    const text = describeFilters();
    const node = byId("timeline-filter");
    setText(node, text);
    node.hidden = text === "";
  }

  /** Merges `changes` into the filters and reloads what depends on them. */
  function setFilters(changes) {
    const before = Object.assign({}, state.filters);
    Object.assign(state.filters, changes);
    renderFilterState();
    const f = state.filters;
    const scopeChanged = before.timeRangeMs !== f.timeRangeMs || before.workflowId !== f.workflowId;
    const timelineChanged = scopeChanged || before.correlationId !== f.correlationId ||
      before.eventType !== f.eventType;
    if (!timelineChanged) return;
    state.filterGeneration += 1;
    loadEvents(true);
    if (scopeChanged) {
      loadMetrics(true);
      loadTimeseries(true);
    }
  }

  function applyWorkflowInput() {
    setFilters({ workflowId: byId("workflow-filter").value.trim() });
  }

  function applyCorrelationInput() {
    setFilters({ correlationId: byId("correlation-search").value.trim() });
  }

  function onEnter(handler) {
    return function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        handler();
      }
    };
  }

  function bindControls() {
    const range = byId("time-range");
    state.filters.timeRangeMs = Number(range.value) || state.filters.timeRangeMs;
    range.addEventListener("change", function () {
      setFilters({ timeRangeMs: Number(range.value) || 3600000 });
    });
    const workflow = byId("workflow-filter");
    workflow.addEventListener("change", applyWorkflowInput);
    workflow.addEventListener("keydown", onEnter(applyWorkflowInput));
    const correlation = byId("correlation-search");
    correlation.addEventListener("keydown", onEnter(applyCorrelationInput));
    byId("correlation-search-button").addEventListener("click", applyCorrelationInput);
    byId("clear-filters").addEventListener("click", function () {
      setFilters({ workflowId: "", correlationId: "", eventType: "" });
    });
    byId("alerts-list").addEventListener("click", onAlertsClick);
    byId("alerts-list").addEventListener("keydown", onAlertsKeydown);
    byId("timeline-list").addEventListener("click", onTimelineClick);
  }

  // ------------------------------------------------------------- run view

  const RUN_KIND_LABELS = {
    step: "step",
    llm: "LLM call",
    artifact: "artifact",
    tool: "tool call",
    crv: "CRV gate",
    policy: "policy check",
    snapshot: "snapshot",
    rollback: "rollback",
    event: "event",
  };

  /** The correlation id named by `#run=<percent-encoded id>`, or "". */
  function runIdFromHash() {
    const hash = window.location.hash || "";
    if (hash.indexOf("#run=") !== 0) return "";
    try {
      return decodeURIComponent(hash.slice("#run=".length));
    } catch (_) {
      return "";
    }
  }

  function openRun(id) {
    if (!id) return;
    const hash = "#run=" + encodeURIComponent(id);
    if (window.location.hash === hash) showRun(id);
    else window.location.hash = hash; // hashchange shows it (and Back returns)
  }

  function closeRun() {
    if (window.location.hash) {
      window.history.pushState(null, "", window.location.pathname + window.location.search);
    }
    showRun("");
  }

  function onHashChange() {
    showRun(runIdFromHash());
  }

  function showRun(id) {
    const section = byId("run-view");
    state.run.id = id;
    state.run.generation += 1;
    if (!id) {
      section.hidden = true;
      setData(section, "run-id", "");
      section.removeAttribute("data-loaded");
      return;
    }
    section.hidden = false;
    setData(section, "run-id", id);
    section.removeAttribute("data-loaded");
    setText(byId("run-id"), id);
    setText(byId("run-status"), "Loading…");
    byId("run-status").hidden = false;
    byId("run-rows").replaceChildren();
    byId("run-summary").replaceChildren();
    byId("run-trace").hidden = true;
    byId("run-trace").replaceChildren();
    loadRun();
    window.scrollTo(0, 0); // the run view leads the page, right under the sticky header
  }

  function scheduleRunReload() {
    if (state.run.reloadTimer !== null) return;
    state.run.reloadTimer = setTimeout(function () {
      state.run.reloadTimer = null;
      if (state.run.id) loadRun();
    }, RUN_RELOAD_MS);
  }

  async function loadRun() {
    const id = state.run.id;
    const generation = state.run.generation;
    const result = await requestJson(API + "/runs/" + encodeURIComponent(id));
    if (generation !== state.run.generation) return; // another run was opened meanwhile
    const section = byId("run-view");
    if (!result.ok) {
      setText(byId("run-status"), result.status === 404
        ? "No stored record has this correlation id (it may have been evicted from the store)."
        : "Cannot load this run: " + (result.error || "unexpected response"));
      byId("run-status").hidden = false;
      setData(section, "loaded", "error");
      return;
    }
    renderRun(isObject(result.data) ? result.data : {});
    setData(section, "loaded", "true");
  }

  /** `text` as an absolute http(s) URL string, or null. */
  function safeHttpUrl(text) {
    if (typeof text !== "string") return null;
    try {
      const url = new URL(text);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function formatOffset(ms) {
    return isNumber(ms) ? "+" + formatDuration(ms) : NONE;
  }

  function formatUsd(value) {
    if (!isNumber(value)) return NONE;
    return "$" + (value >= 1 ? value.toFixed(2) : Number(value.toPrecision(3)).toString());
  }

  /** "in 1200 · out 340 tokens · $0.0123" for rows (and totals) that have them. */
  /** A count the API wrote as a number, or (beyond 2^53 − 1) as its exact decimal text. */
  function isCount(value) {
    return isNumber(value) || (typeof value === "string" && /^[0-9]{1,20}$/.test(value));
  }

  function formatExactCount(value) {
    return typeof value === "string" ? value : formatCount(value);
  }

  function llmFigures(input, output, cost) {
    const parts = [];
    if (isCount(input)) parts.push("in " + formatExactCount(input));
    if (isCount(output)) parts.push("out " + formatExactCount(output));
    let text = parts.length ? parts.join(" · ") + " tokens" : "";
    if (isNumber(cost)) text += (text ? " · " : "") + formatUsd(cost);
    return text;
  }

  function renderRunSummary(run) {
    const summary = byId("run-summary");
    const parts = [];
    const workflows = Array.isArray(run.workflowIds) ? run.workflowIds.map(String) : [];
    if (workflows.length) parts.push("workflow " + workflows.join(", "));
    parts.push(formatTime(run.startMs) + " · " + formatDuration(run.durationMs));
    parts.push(formatCount(run.records) + " records" + (run.truncated ? " (newest only)" : ""));
    const totals = isObject(run.totals) ? run.totals : {};
    if (isNumber(totals.steps)) parts.push(formatCount(totals.steps) + " steps, " + formatCount(totals.failedSteps) + " failed");
    if (totals.llmCalls > 0) {
      parts.push(formatCount(totals.llmCalls) + " LLM calls" +
        (Number(totals.inputTokens) > 0 || Number(totals.outputTokens) > 0 || totals.costUsd > 0
          ? " (" + llmFigures(totals.inputTokens, totals.outputTokens, totals.costUsd > 0 ? totals.costUsd : null) + ")"
          : ""));
    }
    const outcome = el("span", "run-outcome " + (run.failed ? "run-failed" : "run-ok"),
      run.failed ? formatCount(run.failures) + (run.failures === 1 ? " failure" : " failures") : "no failures");
    summary.replaceChildren(outcome, document.createTextNode(" · " + parts.join(" · ")));

    const trace = byId("run-trace");
    const href = safeHttpUrl(run.traceUrl);
    trace.replaceChildren();
    if (run.traceId) {
      trace.appendChild(document.createTextNode("Trace "));
      if (href) {
        const link = el("a", "trace-link", String(run.traceId));
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        setData(link, "trace-id", run.traceId);
        trace.appendChild(link);
      } else {
        trace.appendChild(el("code", "trace-id", String(run.traceId)));
        trace.appendChild(el("span", "muted", " (set monitoring.trace_url_template to link it)"));
      }
    }
    trace.hidden = !run.traceId;
  }

  function runRowElement(row, run) {
    const kind = token(row.kind);
    const status = token(row.status);
    const item = el("li", "run-row kind-" + kind + " status-" + status + (row.depth > 0 ? " nested" : ""));
    setData(item, "kind", row.kind);
    setData(item, "status", row.status);
    setData(item, "event-type", row.eventType);
    if (row.taskId) setData(item, "task-id", row.taskId);

    const head = el("div", "run-row-head");
    head.appendChild(el("span", "run-offset", formatOffset(row.offsetMs)));
    head.appendChild(el("span", "run-kind", RUN_KIND_LABELS[row.kind] || String(row.kind || "event")));
    head.appendChild(el("span", "run-label", row.label));
    if (status === "failed") head.appendChild(el("span", "badge run-failure", "failed"));
    else if (status === "warn") head.appendChild(el("span", "badge run-warning", "warning"));
    else if (status === "running") head.appendChild(el("span", "badge run-running", "not ended"));
    if (isNumber(row.durationMs)) head.appendChild(el("span", "run-duration", formatDuration(row.durationMs)));
    const figures = llmFigures(row.inputTokens, row.outputTokens, row.costUsd);
    if (figures) head.appendChild(el("span", "run-llm", (row.model ? row.model + " · " : "") + figures));
    item.appendChild(head);
    if (row.detail) item.appendChild(el("p", "run-detail", row.detail));

    // The bar: position and width as shares of the run, set through the CSSOM (CSP-safe).
    const track = el("div", "run-track");
    const bar = el("div", "run-bar" + (isNumber(row.durationMs) ? "" : " instant"));
    const total = isNumber(run.durationMs) && run.durationMs > 0 ? run.durationMs : 0;
    const left = total > 0 && isNumber(row.offsetMs) ? Math.min(100, Math.max(0, row.offsetMs / total * 100)) : 0;
    let width = total > 0 && isNumber(row.durationMs) ? row.durationMs / total * 100 : 0;
    if (status === "running" && total > 0) width = 100 - left; // not ended: up to the run's end
    bar.style.left = left.toFixed(3) + "%";
    bar.style.width = Math.max(0, Math.min(100 - left, width)).toFixed(3) + "%";
    track.appendChild(bar);
    item.appendChild(track);
    return item;
  }

  function renderRun(run) {
    const rows = Array.isArray(run.rows) ? run.rows.filter(isObject) : [];
    renderRunSummary(run);
    const list = byId("run-rows");
    list.replaceChildren.apply(list, rows.map(function (row) { return runRowElement(row, run); }));
    byId("run-status").hidden = rows.length > 0;
    if (!rows.length) setText(byId("run-status"), "This run has no records.");
  }

  function bindRunView() {
    byId("run-close").addEventListener("click", closeRun);
    window.addEventListener("hashchange", onHashChange);
  }

  // ------------------------------------------------------ stream & polling

  function setMode(mode) {
    state.mode = mode;
    const node = byId("connection");
    setText(node, mode);
    node.classList.toggle("mode-live", mode === "live");
    node.classList.toggle("mode-polling", mode === "polling");
    setData(node, "mode", mode);
  }

  function startFallbackPolling() {
    if (state.fallbackTimer !== null) return;
    state.fallbackTimer = setInterval(function () {
      loadAlerts(false);
      loadEvents(false);
      loadMetrics(false);
    }, FALLBACK_POLL_INTERVAL_MS);
  }

  function stopFallbackPolling() {
    if (state.fallbackTimer === null) return;
    clearInterval(state.fallbackTimer);
    state.fallbackTimer = null;
  }

  function parseData(message) {
    try {
      return JSON.parse(message.data);
    } catch (_) {
      return null; // A malformed frame is ignored; the next poll/resync corrects the view.
    }
  }

  function connectStream() {
    state.streamRetryTimer = null;
    if (typeof window.EventSource !== "function") return; // polling only
    let source;
    try {
      source = new window.EventSource(STREAM_URL, { withCredentials: true });
    } catch (_) {
      onStreamFailure(null);
      return;
    }
    state.stream = source;
    source.addEventListener("open", function () {
      if (state.stream !== source) return;
      const wasPolling = state.mode !== "live";
      setMode("live");
      stopFallbackPolling();
      if (wasPolling) {
        // Catch up on anything that happened while the stream was down.
        loadAlerts(false);
        loadEvents(false);
      }
    });
    source.addEventListener("record", function (message) {
      prependRecord(parseData(message));
    });
    source.addEventListener("alert", function (message) {
      const alert = parseData(message);
      if (!isObject(alert)) return;
      upsertAlert(alert);
      renderAlerts();
    });
    source.addEventListener("error", function () {
      onStreamFailure(source);
    });
  }

  /** Closes the stream (no browser auto-reconnect), polls instead, retries in 10 s. */
  function onStreamFailure(source) {
    if (source) {
      source.close();
      if (state.stream !== source) return;
    }
    state.stream = null;
    setMode("polling");
    startFallbackPolling();
    if (state.streamRetryTimer === null) {
      state.streamRetryTimer = setTimeout(connectStream, STREAM_RETRY_MS);
    }
  }

  // ------------------------------------------------------------ log level

  /**
   * Shows the level filter in force. A filter the operator has typed and not
   * applied yet is kept (the periodic refresh must not undo an edit while they
   * fill in their name); an apply's answer always shows.
   */
  function showLogLevel(view, message) {
    if (!isObject(view) || typeof view.filter !== "string") return;
    const control = byId("log-level-control");
    const input = byId("log-level");
    control.setAttribute("data-current", view.filter);
    const editing = document.activeElement === input || input.getAttribute("data-edited") === "true";
    if (message) input.removeAttribute("data-edited");
    if (!editing || message) input.value = view.filter;
    byId("log-level-status").textContent = message || "in force: " + view.filter;
  }

  async function loadLogLevel() {
    const result = await requestJson(API + "/log-level");
    if (result.ok) showLogLevel(result.data);
  }

  /** PUTs the typed filter; the server validates it (nothing changes on an error). */
  async function applyLogLevel() {
    const input = byId("log-level");
    const button = byId("log-level-apply");
    const filter = input.value.trim();
    const by = byId("log-level-by").value.trim() || DEFAULT_ACK_BY;
    const control = byId("log-level-control");
    button.disabled = true;
    const result = await requestJson(API + "/log-level", {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ by: by, filter: filter }),
    });
    button.disabled = false;
    if (result.ok) {
      control.removeAttribute("data-error");
      showLogLevel(result.data, "changed to: " + result.data.filter);
    } else {
      control.setAttribute("data-error", "true");
      byId("log-level-status").textContent = "not changed: " + (result.error || "unexpected response");
    }
  }

  function bindLogLevel() {
    byId("log-level-apply").addEventListener("click", applyLogLevel);
    byId("log-level").addEventListener("input", function () {
      byId("log-level").setAttribute("data-edited", "true");
    });
    byId("log-level").addEventListener("keydown", function (event) {
      if (event.key === "Enter") applyLogLevel();
    });
  }

  function startTimers() {
    setInterval(function () {
      loadMetrics(false);
      loadTimeseries(false);
      loadLogLevel();
    }, METRICS_INTERVAL_MS);
    setInterval(function () {
      if (state.mode === "live") loadAlerts(false); // periodic resync; "since" ages refresh too
    }, ALERT_RESYNC_MS);
  }

  // ----------------------------------------------------------------- init

  function init() {
    document.body.dataset.alertsVersion = "0";
    document.body.dataset.timelineVersion = "0";
    bindControls();
    bindLogLevel();
    bindRunView();
    loadLogLevel();
    renderFilterState();
    setMode("polling");
    try {
      createCharts();
    } catch (_) {
      // Charts are optional: the rest of the dashboard still works without them.
      state.charts = { successRate: null, durations: null };
    }
    startFallbackPolling(); // until the stream proves to be live
    refreshAll(true);
    connectStream();
    startTimers();
    onHashChange(); // a link to /monitoring#run=<id> opens that run
  }

  // The charts' uPlot options, read-only, so a test can draw data the live
  // page rarely sees (e.g. a lone value among hundreds of empty buckets).
  window.AureusMonitoring = Object.freeze({
    successRateOptions: successRateOptions,
    durationOptions: durationOptions,
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
