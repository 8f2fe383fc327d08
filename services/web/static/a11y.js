// Health Plus: what makes the pages usable without a mouse, a wide screen or sight of the
// chart: a hint over tables that scroll sideways, and the chart's values as a table.
"use strict";

(function () {
  // --- tables that scroll sideways ---------------------------------------------
  // A region that does not fit says so above itself, and which way the rest is.
  function hintFor(region) {
    let hint = region.previousElementSibling;
    if (!hint || !hint.classList.contains("scroll-hint")) {
      hint = document.createElement("p");
      hint.className = "scroll-hint";
      hint.setAttribute("aria-hidden", "true");  // keys and screen readers reach every cell anyway
      region.before(hint);
    }
    return hint;
  }
  function updateHint(region) {
    const overflows = region.scrollWidth > region.clientWidth + 1;
    region.classList.toggle("overflows", overflows);
    const existing = region.previousElementSibling;
    if (!overflows) {
      if (existing && existing.classList.contains("scroll-hint")) existing.hidden = true;
      return;
    }
    const hint = hintFor(region);
    hint.hidden = false;
    const atEnd = region.scrollLeft + region.clientWidth >= region.scrollWidth - 1;
    hint.textContent = atEnd ? "← Scroll back for the first columns" : "More columns: scroll sideways →";
  }
  const regions = () => document.querySelectorAll(".table-scroll");
  const updateAll = () => regions().forEach(updateHint);
  regions().forEach((region) => region.addEventListener("scroll", () => updateHint(region), { passive: true }));
  window.addEventListener("resize", updateAll);
  // A region inside <details> has no width until it is opened.
  document.querySelectorAll("details").forEach((d) => d.addEventListener("toggle", updateAll));
  updateAll();

  // --- the chart's values ----------------------------------------------------------
  const chart = document.getElementById("chart");
  const table = document.getElementById("chart-table");
  if (!chart || !table) return;
  const main = document.querySelector("main");
  const METRICS = JSON.parse(main.dataset.metricTable || "{}");
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const pad = (n) => String(n).padStart(2, "0");
  function when(ms) {
    const d = new Date(ms);
    return `${pad(d.getDate())} ${MONTHS[d.getMonth()]} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  function cell(tag, text, attrs) {
    const node = document.createElement(tag);
    node.textContent = text;
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  // One row per moment, one column per drawn series: the means the lines are drawn through.
  function fill(data, parts) {
    const caption = cell("caption", "", { id: "chart-table-caption" });
    const step = data && data.interval_ms ? `: each row is the mean of ${Math.round(data.interval_ms / 60000) || "<1"} min` : "";
    caption.textContent = parts.length ? `Chart values${step}.` : "Chart values: nothing is chosen to show.";
    const series = parts.map((k) => new Map(((data && data.metrics[k]) || [])
      .filter((p) => p.mean !== null).map((p) => [p.t, p.mean])));
    const times = [...new Set(series.flatMap((s) => [...s.keys()]))].sort((a, b) => a - b);
    const head = document.createElement("tr");
    head.append(cell("th", "Time", { scope: "col" }));
    for (const k of parts) {
      const m = METRICS[k] || {};
      head.append(cell("th", `${m.label || k}${m.unit ? ` (${m.unit})` : ""}`, { scope: "col" }));
    }
    const body = document.createElement("tbody");
    for (const t of times) {
      const row = document.createElement("tr");
      row.dataset.t = t;
      row.append(cell("th", when(t), { scope: "row" }));
      parts.forEach((k, i) => {
        const v = series[i].get(t);
        row.append(cell("td", v === undefined ? "–" : v.toFixed((METRICS[k] || {}).decimals || 0)));
      });
      body.append(row);
    }
    if (!times.length) {
      const row = document.createElement("tr");
      row.append(cell("td", parts.length ? "No readings in this range." : "Choose what to show.", { colspan: parts.length + 1 }));
      body.append(row);
    }
    const thead = document.createElement("thead");
    thead.append(head);
    table.replaceChildren(caption, thead, body);
    table.dataset.metrics = parts.join(",");
    updateAll();
  }
  chart.addEventListener("chart:drawn", (e) => fill(e.detail.data, e.detail.parts));
})();
