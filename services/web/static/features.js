// Health Plus: cabinet lights and items, camera snapshots, report progress. No libraries.
"use strict";

(function () {
  const main = document.querySelector("main[data-patient]");
  if (!main) return;
  const patient = main.dataset.patient;
  const api = (path) => `/api/p/${encodeURIComponent(patient)}/${path}`;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const when = (ms) => window.hpWhen(ms);  // app.js: the one format, in the person's zone
  async function post(path, body) {
    const r = await fetch(api(path), {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await r.json(); } catch (e) { /* an HTML error page */ }
    return { status: r.status, data };
  }
  function live(event, handler) {
    if (window.hpLive) window.hpLive.addEventListener(event, (e) => handler(JSON.parse(e.data)));
  }

  // --- cabinet and camera commands ------------------------------------------------
  const SENT = { lon: "Turning the lights on…", lof: "Turning the lights off…", inv: "Asking for a count…", img: "Taking a photo…" };
  const DONE = { lon: "Lights on: the cabinet got the command.", lof: "Lights off: the cabinet got the command.",
    inv: "The cabinet was asked to count its items.", img: "The camera got the request; the photo appears below when it arrives." };
  function statusFor(device) { return document.querySelector(`.cmd-status[data-status-for="${device}"]`); }
  function say(device, text, kind) {
    const box = statusFor(device);
    if (!box) return;
    box.hidden = false; box.textContent = text; box.className = `cmd-status ${kind || ""}`;
  }
  document.querySelectorAll("button.cmd").forEach((button) => {
    button.addEventListener("click", async () => {
      const { device, cmd } = button.dataset;
      say(device, SENT[cmd], "pending");
      button.disabled = true;
      try {
        const { status, data } = await post(`devices/${encodeURIComponent(device)}/cmd`, { cmd });
        if (status === 200) say(device, DONE[cmd], "ok");
        else if (status === 504) say(device, "No answer from the device. It may be offline; try again.", "bad");
        else if (status === 502) say(device, `The device could not be reached: ${data.error || "unknown error"}.`, "bad");
        else say(device, data.detail || data.error || `Failed (${status}).`, "bad");
      } catch (e) {
        say(device, "The dashboard could not be reached.", "bad");
      } finally {
        button.disabled = false;
      }
    });
  });
  live("inventory", (report) => {
    const box = document.querySelector(`[data-cabinet="${report.device}"] .items`);
    if (!box) return;
    box.querySelector(".none")?.remove();
    const now = Date.now();
    for (const [name, count] of Object.entries(report.items)) {
      let li = [...box.querySelectorAll("li[data-item]")].find((x) => x.dataset.item === name);
      if (!li) {
        li = document.createElement("li"); li.dataset.item = name;
        li.innerHTML = '<span class="name"></span><span class="count"></span><span class="changed small muted"></span>';
        li.querySelector(".name").textContent = name;
        box.appendChild(li);
      }
      const c = li.querySelector(".count");
      if (c.textContent !== String(count)) {
        c.textContent = String(count);
        const t = document.createElement("time"); t.dataset.ts = now; t.textContent = when(now);
        li.querySelector(".changed").replaceChildren("changed ", t);
        li.classList.add("pulse"); setTimeout(() => li.classList.remove("pulse"), 1500);
      }
    }
  });
  live("image", (frame) => {
    const img = document.getElementById(`latest-${frame.device}`);
    if (!img) return;
    const url = img.dataset.base + encodeURIComponent(frame.name);
    img.src = url; img.hidden = false;
    const cap = img.parentElement.querySelector("figcaption");
    cap.textContent = "Taken ";
    const t = document.createElement("time"); t.dataset.ts = frame.ts; t.textContent = when(frame.ts); cap.appendChild(t);
    const gallery = document.querySelector(`.gallery[data-gallery="${frame.device}"]`);
    if (gallery) {
      const li = document.createElement("li");
      const small = document.createElement("img"); small.src = url; small.alt = "Snapshot";
      const t2 = document.createElement("time"); t2.textContent = when(frame.ts);
      li.append(small, t2); gallery.prepend(li);
      while (gallery.children.length > 12) gallery.lastElementChild.remove();
    }
    say(frame.device, "New photo received.", "ok");
  });
  live("status", (s) => {
    document.querySelectorAll(`.device-state[data-device="${s.device}"]`).forEach((p) => {
      p.querySelector(".dot").className = `dot ${s.state}`;
      p.querySelector(".state").textContent = s.state;
    });
  });

  // --- reports ------------------------------------------------------------------------
  const form = document.getElementById("report-form");
  if (form) {
    const progress = document.getElementById("report-progress");
    const STAGES = { sent: "Asked the report service…", accepted: "The report is being made…" };
    let chosen = "pdf";
    form.querySelectorAll("button[name=format]").forEach((b) => b.addEventListener("click", () => { chosen = b.value; }));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      progress.hidden = false; progress.className = "progress pending"; progress.textContent = "Asking the report service…";
      const days = Number(form.querySelector("[name=days]").value);
      const { status, data } = await post("reports", { format: chosen, days });
      if (status !== 202) { progress.className = "progress bad"; progress.textContent = data.detail || `Failed (${status}).`; return; }
      const started = Date.now();
      const poll = async () => {
        const r = await fetch(api(`reports/${data.id}`), { headers: { Accept: "application/json" }, credentials: "same-origin" });
        const s = r.ok ? await r.json() : { stage: "sent" };
        if (s.stage === "done") {
          if (s.ok) {
            progress.className = "progress ok"; progress.textContent = "Ready: ";
            const a = document.createElement("a"); a.href = s.url; a.id = "report-link"; a.textContent = "download the file";
            a.setAttribute("download", "");
            progress.append(a, " (it starts by itself; this link fetches it again).");
            a.click();  // the one click that asked for it is enough
          } else {
            progress.className = "progress bad"; progress.textContent = `The report could not be made: ${s.reason || s.error}.`;
          }
          return;
        }
        if (Date.now() - started > 120000) {
          progress.className = "progress bad"; progress.textContent = "The report service did not answer. Try again later."; return;
        }
        progress.textContent = STAGES[s.stage] || "Working…";
        setTimeout(poll, 700);
      };
      poll();
    });
  }
})();
