// Health Plus: live cards, "show more", the health-report chart and alerts. No libraries.
"use strict";

(function () {
  const main = document.querySelector("main[data-patient]");
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  // Labels, units and decimals come from the server's metric table (services/common/metrics.py).
  const TABLE = JSON.parse(document.querySelector("main").dataset.metricTable || "{}");
  const pick = (field) => Object.fromEntries(Object.entries(TABLE).map(([k, m]) => [k, m[field]]));
  const SHORT = pick("short"), UNITS = pick("unit");
  const pad = (n) => String(n).padStart(2, "0");

  // The person's own time zone when they chose one (their account page), else the browser's.
  const TZ = document.querySelector("main").dataset.tz || "";
  const zoned = TZ ? new Intl.DateTimeFormat("en-GB", { timeZone: TZ, year: "numeric", month: "numeric",
    day: "numeric", hour: "numeric", minute: "numeric", second: "numeric", hourCycle: "h23" }) : null;
  function parts(ms) {
    const d = new Date(ms);
    if (!zoned) return [d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
    const p = Object.fromEntries(zoned.formatToParts(d).map((x) => [x.type, Number(x.value)]));
    return [p.year, p.month - 1, p.day, p.hour, p.minute, p.second];
  }
  // One format on every page, as services/web/formats.py writes it: 1 Dec 2026, 14:05:09.
  function when(ms) {
    const [y, mo, d, h, mi, s] = parts(ms);
    return `${d} ${MONTHS[mo]} ${y}, ${pad(h)}:${pad(mi)}:${pad(s)}`;
  }
  const FORMATS = { minute: (ms) => when(ms).slice(0, -3), clock: (ms) => when(ms).slice(-8, -3) };
  window.hpWhen = when;
  // A stored value in the person's unit, with the metric's decimals (readings.js converts).
  function fmt(metric, v) { return window.hpReadings.shown(metric, v).toFixed((TABLE[metric] || {}).decimals || 0); }
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function localizeTimes(root) {
    root.querySelectorAll("time[data-ts]").forEach((t) => {
      const ms = Number(t.dataset.ts);
      if (ms) { t.textContent = (FORMATS[t.dataset.format] || when)(ms); t.setAttribute("datetime", new Date(ms).toISOString()); }
    });
  }
  localizeTimes(document);
  if (!main) return;

  const patient = main.dataset.patient;
  const api = (path) => `/api/p/${encodeURIComponent(patient)}/${path}`;
  async function getJSON(path) {
    const r = await fetch(api(path), { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!r.ok) throw new Error(`${r.status}`);
    return r.json();
  }

  // --- cards ---------------------------------------------------------------
  const bpState = {};
  const R = window.hpReadings;
  const PAIR_MS = 5000;  // blood pressure's two numbers arrive a few milliseconds apart
  function cardFor(metric) {
    return document.querySelector(`.card[data-metrics~="${metric}"], .card[data-metrics^="${metric},"], .card[data-metrics$=",${metric}"]`);
  }
  function showReading(r) {
    const card = cardFor(r.metric);
    if (!card) return;
    const ts = Date.parse(r.ts) || r.ts;
    let text = fmt(r.metric, r.value);
    let verdict = r.flagged ? null : R.ofMetric(r.metric, r.value), values = [r.value];
    if (r.metric.startsWith("bp_")) {
      bpState[r.metric] = { ...r, ts };
      const s = bpState.bp_systolic, d = bpState.bp_diastolic;
      const paired = s && d && Math.abs(s.ts - d.ts) <= PAIR_MS;
      text = s ? fmt("bp_systolic", s.value) + (paired ? "/" + fmt("bp_diastolic", d.value) : "") : "--";
      values = s ? [s.value, paired ? d.value : null] : [];
      verdict = s && !s.flagged && !(paired && d.flagged) ? R.ofPressure(values[0], values[1]) : null;
    }
    R.mark(card, verdict);
    if (verdict && verdict.side && values.length) {
      const key = card.dataset.card;
      const title = card.querySelector("h2").textContent, unit = UNITS[r.metric];
      R.showWaiting({ key, ts, value: text, unit, verdict, current: true,
        text: `${title} ${text} ${unit}: ${verdict.summary}` }, true);
    }
    card.querySelector(".num").textContent = text;
    const t = card.querySelector(".updated time");
    t.dataset.ts = ts; t.textContent = when(ts);
    // a patient with several watches: say whose reading this is (data.source_label)
    const source = card.querySelector(".updated .source");
    if (source && r.device) source.textContent = `from ${r.device.startsWith("manual-") ? "typed in" : r.device}`;
    card.classList.toggle("flagged", !!r.flagged);
    const flag = card.querySelector(".flag");
    flag.hidden = !r.flagged;
    flag.querySelector(".why").textContent = r.reason || "";
    card.classList.add("pulse");
    setTimeout(() => card.classList.remove("pulse"), 900);
    const bp = r.metric.startsWith("bp_");
    const list = card.querySelector(`.recent[data-recent="${bp ? "bp" : r.metric}"]`);
    if (list && list.dataset.loaded) {
      list.querySelectorAll("li.muted").forEach((li) => li.remove());
      const row = bp ? { ts: bpState.bp_systolic ? bpState.bp_systolic.ts : ts, text, flagged: !verdict, reason: r.reason, verdict }
        : { ts, value: r.value, flagged: r.flagged, reason: r.reason, verdict };
      const top = list.firstElementChild;
      // The second number of a pair completes the row the first one started.
      if (bp && top && Math.abs(Number(top.dataset.ts) - row.ts) <= PAIR_MS) top.replaceWith(recentItem(row, "bp"));
      else list.prepend(recentItem(row, bp ? "bp" : r.metric));
    }
  }
  function recentItem(row, metric) {
    const li = el("li", row.flagged ? { class: "flagged", title: row.reason || "not plausible" } : {});
    li.dataset.ts = row.ts;
    const value = metric === "bp" ? `${row.text} ${UNITS.bp_systolic}` : `${fmt(metric, row.value)} ${UNITS[metric]}`;
    const verdict = row.flagged ? null : (row.verdict !== undefined ? row.verdict : R.ofMetric(metric, row.value));
    const b = el("b", {}, `${value}${row.flagged ? " ⚠" : ""}`);
    if (verdict && verdict.side) b.append(" ", el("span", { class: `badge sev-${verdict.severity}` }, verdict.badge));
    li.append(el("span", {}, when(row.ts)), b);
    return li;
  }
  document.querySelectorAll("details.more").forEach((d) => {
    d.addEventListener("toggle", async () => {
      if (!d.open) return;
      const list = d.querySelector(".recent");
      const metric = list.dataset.recent;
      try {
        const rows = await getJSON(`recent?metric=${metric}`);
        list.replaceChildren(...(rows.length ? rows.map((r) => recentItem(r, metric)) : [el("li", { class: "muted" }, "Nothing recorded: wear the watch, or add a reading by hand.")]));
        list.dataset.loaded = "1";
      } catch (e) { list.replaceChildren(el("li", { class: "muted" }, "History is unavailable right now.")); }
    });
  });
  async function resync() {
    try {
      const latest = await getJSON("latest");
      for (const [metric, r] of Object.entries(latest)) showReading({ metric, ...r, ts: r.ts });
    } catch (e) { /* the next event or reload will do */ }
  }

  // Hand-entered readings: sent without leaving the page, so the live card shows them arrive.
  const manual = document.getElementById("manual-form");
  if (manual) {
    manual.addEventListener("submit", async (e) => {
      e.preventDefault();
      const status = document.getElementById("manual-status");
      const body = new FormData(manual);
      const r = await fetch(manual.action, { method: "POST", body, credentials: "same-origin",
        headers: { Accept: "application/json" } });
      const answer = await r.json().catch(() => ({}));
      status.hidden = false;
      status.className = r.ok ? "ok" : "error";
      status.textContent = r.ok ? "Reading sent. It appears on its card in a moment." : (answer.error || "Not saved.");
      if (r.ok) manual.querySelectorAll("input:not([type=hidden])").forEach((i) => { i.value = ""; });
    });
  }

  // --- alerts ----------------------------------------------------------------
  // The server words each alert from the metric table (``text``); ``message`` is the raw one.
  const CARDS = new Set(Object.keys(TABLE).map((k) => R.CARD_OF[k] || k));
  function alertText(a) { return a.text || a.message || `${a.key}: ${a.level}`; }
  function showAlert(a, live = true) {
    // Dismissing one marks its card's readings up to it as seen, on every page and for everyone.
    const card = a.card || a.key;
    const link = CARDS.has(card) ? `/p/${encodeURIComponent(patient)}/monitoring#card-${card}` : null;
    R.banner(card, a.ts_ms || Date.now(), alertText(a), a.level || "", a.level === "cleared" ? "Dismiss" : "I have seen this", link, live);
    const list = document.getElementById("alert-list");
    if (list && live) { if (list.querySelector(".muted")) list.replaceChildren(); list.prepend(alertItem(a)); }
  }
  function alertItem(a) {
    const li = el("li");
    li.append(el("b", {}, `${a.level} `), document.createTextNode(`${alertText(a)} · ${when(a.ts_ms)}`));
    return li;
  }

  // On every page: each card's newest out-of-range reading nobody has marked as seen, then
  // the alerts still standing (newest of each kind, not cleared, within a day, not seen).
  getJSON("attention").then((items) => {
    items.slice().sort((a, b) => a.ts - b.ts).forEach((item) => R.showWaiting(item));  // newest on top
    return getJSON("alerts");
  }).then((rows) => {
    const newest = new Map();
    for (const a of rows) if (!newest.has(`${a.device}/${a.key}`)) newest.set(`${a.device}/${a.key}`, a);
    const waiting = new Set([...document.querySelectorAll("#alerts .alert[data-key]")].map((d) => d.dataset.key));
    [...newest.values()].reverse()
      .filter((a) => a.level !== "cleared" && !a.acknowledged && !waiting.has(a.card) && Date.now() - a.ts_ms < 86400000)
      .forEach((a) => showAlert(a, false));
  }).catch(() => {}).finally(() => document.getElementById("alerts")?.setAttribute("aria-busy", "false"));

  // --- device status ---------------------------------------------------------
  function showStatus(s) {
    const li = document.querySelector(`.devices li[data-device="${CSS.escape(s.device)}"]`);
    if (!li) return;
    li.querySelector(".dot").className = `dot ${s.state}`;
    li.querySelector(".state").textContent = s.state;
  }

  // --- chart ----------------------------------------------------------------
  const chartBox = document.getElementById("chart");
  const controls = document.getElementById("chart-controls");
  let chartData = null, chartAsked = 0;
  const SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    const n = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    return n;
  }
  // The chart draws in the person's units; the series come as stored.
  function inUnit(k, pt) {
    const c = (v) => (v === null || v === undefined ? v : R.shown(k, v));
    return { ...pt, mean: c(pt.mean), min: c(pt.min), max: c(pt.max) };
  }
  function selectedParts() { return selectedGroups().flat(); }
  function query() {
    const f = new FormData(controls);
    const p = new URLSearchParams({ range: f.get("range"), metrics: selectedParts().join(",") });
    if (f.get("range") === "custom") { p.set("start", f.get("start")); p.set("end", f.get("end")); }
    return p;
  }
  const isoDay = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  // Custom dates start as the week up to today, so the chart has something to draw at once.
  function fillCustom() {
    const start = controls.querySelector("[name=start]"), end = controls.querySelector("[name=end]");
    const today = new Date();
    if (!end.value) end.value = isoDay(today);
    if (!start.value) start.value = isoDay(new Date(today.getTime() - 6 * 86400000));
    end.max = start.max = isoDay(today);
  }
  async function loadChart() {
    const custom = controls.querySelector("[name=range]").value === "custom";
    controls.querySelector(".custom").hidden = !custom;
    if (custom) fillCustom();
    const p = query();
    const note = document.getElementById("chart-note");
    const asked = ++chartAsked;  // an answer to an older choice must not draw over a newer one
    if (!selectedParts().length) { chartData = null; note.textContent = ""; drawChart(); return; }
    chartBox.setAttribute("aria-busy", "true");
    try {
      const found = await fitted(await getJSON(`series?${p}`), p);
      if (asked !== chartAsked) return;
      for (const [k, pts] of Object.entries(found.metrics)) found.metrics[k] = pts.map((pt) => inUnit(k, pt));
      chartData = found;
      note.textContent = chartData.interval_ms ? `Each point is the mean of ${Math.round(chartData.interval_ms / 60000) || "<1"} min; the shaded band around a line spans min to max, and the pale green band behind it is the usual adult range. Flagged readings are left out.` : "";
      if (chartData.fitted) note.textContent += ` Readings start ${when(chartData.start)}: the chart begins there.`;
    } catch (e) {
      if (asked !== chartAsked) return;
      chartData = null; note.textContent = "History is unavailable right now.";
    }
    drawChart();
    chartBox.setAttribute("aria-busy", "false");
  }
  // A range much longer than the readings (a new watch, a first run) is asked for again
  // from the first reading on, so a few minutes of data fill the chart, in finer buckets,
  // instead of making one dot at its right edge.
  async function fitted(data, p) {
    if (p.get("range") === "custom") return data;
    const firsts = Object.values(data.metrics).filter((s) => s.length).map((s) => s[0].t - data.interval_ms / 2);
    if (!firsts.length) return data;
    const first = Math.min(...firsts);
    if (first - data.start < (data.end - data.start) / 10) return data;
    const q = new URLSearchParams({ range: "custom", start: new Date(first).toISOString(), end: new Date(data.end).toISOString(), metrics: p.get("metrics") });
    const fit = await getJSON(`series?${q}`);
    fit.fitted = true;
    return fit;
  }
  function selectedGroups() {
    return [...controls.querySelectorAll("input[name=metric]:checked")].map((c) => c.dataset.parts.split(","));
  }
  // One panel per checked group with its own scale: temperature and blood pressure
  // differ by a factor of three, so one shared axis would flatten the former.
  function drawChart() {
    chartBox.replaceChildren();
    const groups = selectedGroups();
    // a11y.js keeps the chart's table of values in step with what is drawn.
    chartBox.dispatchEvent(new CustomEvent("chart:drawn", { detail: { data: chartData, parts: groups.flat() } }));
    const W = Math.max(chartBox.clientWidth, 300);
    const panelH = chartBox.clientWidth < 600 ? 120 : 150;
    const m = { l: 48, r: 14, t: 8, b: 26 }, gapY = 30;
    const H = Math.max(1, groups.length) * (panelH + gapY) + m.t + m.b;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, height: H, "data-drawn": "1" });
    chartBox.append(root);
    root.dataset.metrics = groups.flat().join(",");
    if (chartData) { root.dataset.start = chartData.start; root.dataset.fitted = chartData.fitted ? "1" : ""; }
    const anyData = chartData && groups.flat().some((k) => (chartData.metrics[k] || []).length);
    if (!anyData) {
      const t = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" });
      t.textContent = groups.length ? "No readings in this range." : "Choose what to show.";
      root.append(t); return;
    }
    const t0 = chartData.start, t1 = chartData.end;
    const x = (t) => m.l + ((t - t0) / (t1 - t0)) * (W - m.l - m.r);
    const gap = (chartData.interval_ms || 60000) * 2.5;
    groups.forEach((parts, gi) => {
      const top = m.t + gi * (panelH + gapY) + gapY - 8, bottom = top + panelH - 8;
      const pts = parts.flatMap((k) => chartData.metrics[k] || []);
      // The usual range is drawn as a band behind the line, so the scale always holds it.
      const usual = parts.filter((k) => TABLE[k] && TABLE[k].low !== undefined);
      const ends = pts.flatMap((p) => [p.min ?? p.mean, p.max ?? p.mean])
        .concat(usual.flatMap((k) => [TABLE[k].low, TABLE[k].high]));
      let lo = ends.length ? Math.min(...ends) : 0, hi = ends.length ? Math.max(...ends) : 1;
      const span = hi - lo || Math.max(1, Math.abs(hi) * 0.05);
      lo -= span * 0.15; hi += span * 0.15;
      const y = (v) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
      const grid = svg("g", { class: "grid axis" });
      for (let i = 0; i <= 2; i++) {
        const v = lo + ((hi - lo) * i) / 2;
        grid.append(svg("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
        const label = svg("text", { x: m.l - 6, y: y(v) + 4, "text-anchor": "end" });
        label.textContent = v.toFixed(hi - lo < 10 ? 1 : 0);
        grid.append(label);
      }
      root.append(grid);
      for (const k of usual) {
        const band = svg("rect", { class: `usual s-${k}`, "data-usual": k, x: m.l, width: W - m.l - m.r,
          y: y(TABLE[k].high), height: Math.max(1, y(TABLE[k].low) - y(TABLE[k].high)) });
        const title = svg("title");
        title.textContent = `${SHORT[k]}: usual range ${TABLE[k].range} ${UNITS[k]}`;
        band.append(title); root.append(band);
      }
      let lx = m.l;
      for (const k of parts) {
        const s = (chartData.metrics[k] || []).filter((p) => p.mean !== null);
        const g = svg("g", { class: `s-${k}`, "data-series": k });
        const runs = [];
        let run = [];
        // A line breaks where readings stopped, judged against how often they usually come.
        const steps = s.slice(1).map((p, i) => p.t - s[i].t).sort((a, b) => a - b);
        const limit = Math.max(gap, 3 * (steps.length ? steps[steps.length >> 1] : 0));
        s.forEach((p, i) => { if (i && p.t - s[i - 1].t > limit) { runs.push(run); run = []; } run.push(p); });
        if (run.length) runs.push(run);
        for (const r of runs) {
          if (r.length > 1) {
            const up = r.map((p) => `${x(p.t)},${y(p.max ?? p.mean)}`);
            const down = r.slice().reverse().map((p) => `${x(p.t)},${y(p.min ?? p.mean)}`);
            g.append(svg("polygon", { class: "band", points: up.concat(down).join(" ") }));
            g.append(svg("polyline", { class: "line", points: r.map((p) => `${x(p.t)},${y(p.mean)}`).join(" ") }));
          } else {
            g.append(svg("circle", { cx: x(r[0].t), cy: y(r[0].mean), r: 4 }));
          }
        }
        root.append(g);
        const avg = s.length ? s.reduce((sum, p) => sum + p.mean, 0) / s.length : null;
        const lg = svg("g", { class: `legend s-${k}` });
        lg.append(svg("rect", { x: lx, y: top - 18, width: 10, height: 10, rx: 2 }));
        const lt = svg("text", { x: lx + 14, y: top - 9, stroke: "none" });
        lt.textContent = `${SHORT[k]} (${UNITS[k]})${avg !== null ? ` · average ${avg.toFixed((TABLE[k] || {}).decimals || 0)}` : ""}`;
        lg.append(lt); root.append(lg);
        lx += 40 + lt.textContent.length * 6.6;
      }
    });
    const axis = svg("g", { class: "axis" });
    const ticks = W < 600 ? 3 : 6;
    for (let i = 0; i <= ticks; i++) {
      const t = t0 + ((t1 - t0) * i) / ticks, d = new Date(t);
      const label = svg("text", { x: x(t), y: H - 8, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" });
      label.textContent = t1 - t0 > 2 * 86400000 ? `${pad(d.getDate())} ${MONTHS[d.getMonth()]}` : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
      axis.append(label);
    }
    root.append(axis);
  }
  function liveChart(r) {
    // Flagged readings are never plotted; a custom range in the past does not grow.
    if (!chartData || r.flagged || !chartData.metrics || query().get("range") === "custom") return;
    const ts = Date.parse(r.ts);
    if (ts > chartData.end) chartData.end = ts + 1000;
    (chartData.metrics[r.metric] = chartData.metrics[r.metric] || []).push(inUnit(r.metric, { t: ts, mean: r.value, min: r.value, max: r.value }));
    drawChart();
  }
  if (chartBox && controls) {
    controls.addEventListener("change", loadChart);
    controls.addEventListener("submit", (e) => { e.preventDefault(); loadChart(); });
    window.addEventListener("resize", drawChart);
    loadChart();
    getJSON("alerts").then((rows) => {
      const list = document.getElementById("alert-list");
      list.replaceChildren(...(rows.length ? rows.map(alertItem) : [el("li", { class: "muted" }, "No alerts. Good.")]));
    }).catch(() => {}).finally(() => document.getElementById("alert-list").setAttribute("aria-busy", "false"));
  }

  // --- live events -------------------------------------------------------------
  const state = document.getElementById("live-state");
  const source = new EventSource(api("events"));
  window.hpLive = source;  // features.js listens on the same stream (one per tab)
  source.addEventListener("open", () => { if (state) { state.textContent = "live"; state.classList.add("on"); } });
  source.addEventListener("error", () => { if (state) { state.textContent = "reconnecting…"; state.classList.remove("on"); } });
  source.addEventListener("reading", (e) => { const r = JSON.parse(e.data); showReading(r); liveChart(r); });
  source.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
  source.addEventListener("alert", (e) => showAlert(JSON.parse(e.data)));
  source.addEventListener("resync", () => { resync(); if (chartBox) loadChart(); });
  window.addEventListener("pagehide", () => source.close());
})();
