// Health Plus: what a reading means (usual range, blood-pressure category) and the
// out-of-range readings waiting to be marked as seen. The ranges, words and categories
// come from the server's tables (services/common/metrics.py and bp.py), so a live
// reading says what a reloaded page says. No libraries.
"use strict";

window.hpReadings = (function () {
  const main = document.querySelector("main");
  const TABLE = JSON.parse(main.dataset.metricTable || "{}");
  const BP = JSON.parse(main.dataset.bpTable || "{}");
  const CATS = Object.fromEntries((BP.categories || []).map((c) => [c.key, c]));
  const patient = main.dataset.patient;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content;
  const CARD_OF = { bp_systolic: "bp", bp_diastolic: "bp" };
  const SIDE = { low: "Low", high: "High" };

  // A stored value (°C for temperature) in the person's unit (°F if they chose it).
  function shown(key, v) { const m = TABLE[key] || {}; return v * (m.scale ?? 1) + (m.offset ?? 0); }
  function sideOf(key, v) {
    const m = TABLE[key];
    if (!m || v === null || v === undefined) return null;
    const x = shown(key, v);
    return x < m.low ? "low" : x > m.high ? "high" : null;
  }
  function ofMetric(key, v) {
    const m = TABLE[key], side = sideOf(key, v), usual = `${m.range} ${m.unit}`;
    if (!side) return { side: null, severity: "ok", badge: "", words: `Within the usual range (${usual}).`, todo: "", summary: `within the usual range (${usual})` };
    const summary = `${side === "low" ? "below" : "above"} the usual range (${usual})`;
    return { side, severity: "warn", badge: SIDE[side], todo: side === "low" ? m.if_low : m.if_high,
      words: `${SIDE[side]}: ${summary}.`, summary };
  }
  function category(s, d) {
    const past = (c, v, b) => v !== null && v !== undefined && b !== null && (c.above ? v > b : v >= b);
    const holds = (c) => past(c, s, c.systolic) || past(c, d, c.diastolic);
    for (const k of ["crisis", "stage2", "stage1"]) if (holds(CATS[k])) return CATS[k];
    if (s < BP.low[0] || (d !== null && d !== undefined && d < BP.low[1])) return CATS.low;
    return holds(CATS.elevated) ? CATS.elevated : CATS.normal;
  }
  function ofPressure(s, d) {
    const c = category(s, d), S = TABLE.bp_systolic, D = TABLE.bp_diastolic;
    const sides = [sideOf("bp_systolic", s), sideOf("bp_diastolic", d)];
    const side = sides.includes("low") ? "low" : sides.includes("high") ? "high" : null;
    const where = side === "low" ? "Below" : side === "high" ? "Above" : "Within";
    return { side, severity: c.severity, badge: c.short,
      words: `${where} the usual range (${S.low}/${D.low} to ${S.high}/${D.high} ${S.unit}).`,
      todo: c.key === "normal" ? "" : c.advice, summary: c.named, category: c.named };
  }

  // --- a card's standing -------------------------------------------------------------
  function mark(card, verdict) {
    card.className = card.className.replace(/\bsev-\S+/g, "").replace(/\bout\b/g, "").trim();
    card.classList.add(`sev-${verdict ? verdict.severity : "none"}`);
    if (verdict && verdict.side) card.classList.add("out");
    // A newer reading came: the one waiting to be seen is no longer what the card shows.
    else card.querySelectorAll(".attention.current").forEach((a) => a.classList.remove("current"));
    const badge = card.querySelector(".badge");
    badge.hidden = !(verdict && verdict.badge);
    badge.className = `badge sev-${verdict ? verdict.severity : "none"}`;
    badge.textContent = verdict ? verdict.badge : "";
    const p = card.querySelector(".verdict");
    p.hidden = !verdict;
    p.querySelector(".words").textContent = verdict ? verdict.words : "";
    const cat = p.querySelector(".category");
    if (cat) cat.textContent = verdict ? verdict.category : "";
    const todo = card.querySelector(".todo");
    todo.hidden = !(verdict && verdict.todo);
    todo.querySelector("span").textContent = verdict ? verdict.todo : "";
  }

  // --- waiting to be marked as seen -------------------------------------------------------
  // A banner that arrives while the page is open goes into the polite status region and is
  // read out once; the ones standing when the page opens go beside it, unannounced.
  const box = (live) => document.getElementById(live ? "alerts-new" : "alerts-standing");
  function banner(key, ts, text, level, label, link, live = false) {
    const all = document.getElementById("alerts"), region = box(live);
    if (!all || !region) return null;
    let div = all.querySelector(`.alert[data-key="${key}"]`);
    if (div && Number(div.dataset.ts) > ts) return div;  // a newer one stands already
    if (!div) { div = document.createElement("div"); region.prepend(div); }
    div.className = `alert ${level}`;
    div.dataset.key = key; div.dataset.ts = ts;
    div.replaceChildren();
    const span = document.createElement("span"); span.textContent = text;
    const small = document.createElement("small"); small.textContent = window.hpWhen(ts);
    const button = document.createElement("button");
    button.type = "button"; button.className = "small dismiss"; button.textContent = label;
    button.addEventListener("click", () => (level === "cleared" ? div.remove() : acknowledge(key, ts)));
    div.append(span, small);
    if (link) {
      const a = document.createElement("a"); a.href = link; a.textContent = "What to do"; a.className = "todo-link";
      div.append(a);
    }
    div.append(button);
    const shown = all.querySelectorAll(".alert");
    for (let i = shown.length - 1; i >= 5; i--) shown[i].remove();
    return div;
  }
  function showWaiting(item, live = false) {
    const link = `/p/${encodeURIComponent(patient)}/monitoring#card-${item.key}`;
    banner(item.key, item.ts, item.text, item.verdict.severity === "bad" ? "critical" : "warning", "I have seen this", link, live);
    const card = document.querySelector(`.attention[data-attention="${item.key}"]`);
    if (!card) return;
    card.hidden = false;
    if ("current" in item) card.classList.toggle("current", !!item.current);
    card.dataset.through = item.ts;
    card.querySelector("input[name=through]").value = item.ts;
    card.querySelector(".a-value").textContent = `${item.value} ${item.unit}`;
    const t = card.querySelector("time"); t.dataset.ts = item.ts; t.textContent = window.hpWhen(item.ts);
    card.querySelector(".a-words").textContent = item.verdict.summary;
  }
  function seen(key, through) {
    document.querySelectorAll(`#alerts .alert[data-key="${key}"]`).forEach((d) => {
      if (Number(d.dataset.ts) <= through) d.remove();
    });
    document.querySelectorAll(`.attention[data-attention="${key}"]`).forEach((a) => {
      if (Number(a.dataset.through) <= through) a.hidden = true;
    });
    document.querySelectorAll(`.chip[data-chip="${key}"] .earlier`).forEach((e) => e.remove());
  }
  async function acknowledge(key, through) {
    const r = await fetch(`/p/${encodeURIComponent(patient)}/acknowledge`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ key, through }),
    });
    if (r.ok) { const done = await r.json(); seen(done.key, done.through); }
    return r.ok;
  }
  document.querySelectorAll("form.ack-form").forEach((form) => {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = new FormData(form);
      if (!(await acknowledge(f.get("key"), Number(f.get("through"))))) form.submit();
    });
  });

  return { TABLE, CARD_OF, shown, ofMetric, ofPressure, sideOf, mark, banner, showWaiting, acknowledge };
})();
