// The FOS console: views over the API of fos-server (see /api/openapi.json). Hash routes:
//   #/plant  #/asset/ID  #/findings  #/finding/ID  #/proposals  #/proposal/ID  #/ledger  #/chain/ID
// The session is the server's HttpOnly cookie; nothing secret is kept in JavaScript. Every string from the
// server goes through esc() before it becomes HTML.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $("#main");
let me = null; // {user, role}
let gate = { halted: false };
let events = null;
let refreshTimer = null;
let currentView = null;

function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function toast(msg, isError) {
  const t = $("#toast");
  t.textContent = msg;
  t.style.background = isError ? "#991b1b" : "#111827";
  t.style.display = "block";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.style.display = "none"), isError ? 8000 : 4000);
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = { error: text };
  }
  if (!res.ok) {
    if (res.status === 401 && path !== "/api/login") showLogin();
    throw new ApiError(res.status, (data && data.error) || `${res.status} ${res.statusText}`);
  }
  return data;
}

const get = (p) => api("GET", p);
const post = (p, b) => api("POST", p, b ?? {});

function fmtTime(t) {
  if (t === null || t === undefined || t === "") return "";
  const d = typeof t === "number" ? new Date(t < 1e12 ? t * 1000 : t) : new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function num(v, digits = 4) {
  if (typeof v !== "number" || !isFinite(v)) return esc(v);
  return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : String(Math.round(v * 10 ** digits) / 10 ** digits);
}

function badge(s) {
  return `<span class="badge ${esc(s)}" data-testid="status">${esc(String(s).replace(/_/g, " "))}</span>`;
}

// ------------------------------------------------------------------------------------------------
// Login, session, header.

function showLogin(message) {
  me = null;
  stopEvents();
  $("header").style.display = "none";
  main().innerHTML = `
    <form class="card login" id="login-form">
      <h2>FOS console: log in</h2>
      <input name="user" placeholder="user" autocomplete="username" data-testid="login-user" required>
      <input name="password" type="password" placeholder="password" autocomplete="current-password" data-testid="login-password" required>
      <button class="primary" type="submit" data-testid="login-submit">Log in</button>
      <p class="error" id="login-error">${esc(message || "")}</p>
    </form>`;
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      await post("/api/login", { user: f.get("user"), password: f.get("password") });
      await start();
    } catch (err) {
      $("#login-error").textContent = err.message;
    }
  });
}

async function start() {
  try {
    me = await get("/api/me");
  } catch (_) {
    return showLogin();
  }
  $("header").style.display = "flex";
  $("#who").textContent = `${me.user} (${me.role})`;
  $("#who").dataset.testid = "who";
  await refreshGate();
  startEvents();
  if (!location.hash || location.hash === "#/login") location.hash = "#/plant";
  route();
}

async function refreshGate() {
  try {
    gate = await get("/api/gate");
  } catch (_) {
    return;
  }
  const b = $("#stop");
  b.classList.toggle("halted", !!gate.halted);
  b.textContent = gate.halted ? "STOPPED: resume" : "STOP";
  b.title = gate.halted
    ? `Stopped by ${gate.halt ? gate.halt.by : "?"}: ${gate.halt ? gate.halt.reason : ""}. Resume needs an approver or engineer.`
    : "Halt every AI-initiated action and hold it in a safe state";
}

async function onStop() {
  try {
    if (gate.halted) {
      const reason = prompt("Resume the gate: why?", "checked, safe to resume");
      if (!reason) return;
      await post("/api/gate/resume", { reason });
      toast("gate resumed");
    } else {
      const reason = prompt("Stop every AI-initiated action: why?", "stopped from the console");
      if (reason === null) return;
      const out = await post("/api/gate/stop", { reason: reason || "stopped from the console" });
      toast(`gate stopped; ${out.held.length} proposal(s) held`);
    }
  } catch (err) {
    toast(err.message, true);
  }
  await refreshGate();
  route();
}

async function onLogout() {
  try {
    await post("/api/logout");
  } catch (_) {
    /* the session may be gone already */
  }
  showLogin("logged out");
}

// ------------------------------------------------------------------------------------------------
// Live updates (SSE): mark the indicator, re-render the view (debounced), tell people what happened.

function startEvents() {
  stopEvents();
  events = new EventSource("/api/events");
  events.onopen = () => $("#live").classList.add("on");
  events.onerror = () => $("#live").classList.remove("on");
  const refresh = () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(route, 400);
  };
  events.addEventListener("proposal", (e) => {
    const d = JSON.parse(e.data);
    if (d.status === "awaiting_approval") toast(`proposal ${d.id} (${d.kind}, ${d.machine}) awaits approval`);
    refresh();
  });
  events.addEventListener("finding", (e) => {
    const d = JSON.parse(e.data);
    if (!d.previous) toast(`new finding ${d.id} on ${d.machine}: ${d.label || "fault"}`);
    refresh();
  });
  events.addEventListener("gate", () => refreshGate().then(refresh));
  events.addEventListener("asset_health", refresh);
  events.addEventListener("lagged", refresh);
}

function stopEvents() {
  if (events) events.close();
  events = null;
  const l = $("#live");
  if (l) l.classList.remove("on");
}

// ------------------------------------------------------------------------------------------------
// Router.

async function route() {
  if (!me) return;
  const [, view, ...rest] = (location.hash || "#/plant").split("/");
  const id = decodeURIComponent(rest.join("/"));
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === view);
  const key = `${view}/${id}`;
  const fresh = key !== currentView;
  currentView = key;
  try {
    switch (view) {
      case "asset":
        return await viewAsset(id, fresh);
      case "findings":
        return await viewFindings();
      case "finding":
        return await viewFinding(id);
      case "proposals":
        return await viewProposals();
      case "proposal":
        return await viewProposal(id);
      case "ledger":
        return await viewLedger(fresh);
      case "chain":
        return await viewChain(id);
      default:
        return await viewPlant(fresh);
    }
  } catch (err) {
    if (err.status !== 401) main().innerHTML = `<div class="card error" data-testid="error">${esc(err.message)}</div>`;
  }
}

// Keeps what the user typed (filters, reasons) across live re-renders of the same view.
function preserve(ids, render) {
  const saved = ids.map((i) => [i, document.getElementById(i) && document.getElementById(i).value]);
  render();
  for (const [i, v] of saved) if (v !== null && v !== undefined && document.getElementById(i)) document.getElementById(i).value = v;
}

// ------------------------------------------------------------------------------------------------
// Plant overview.

async function viewPlant() {
  const assets = await get("/api/assets");
  const counts = { good: 0, watch: 0, alarm: 0 };
  for (const a of assets) counts[a.health.level] = (counts[a.health.level] || 0) + 1;
  const draw = () => {
    const filter = ($("#asset-filter") && $("#asset-filter").value.toLowerCase()) || "";
    const shown = assets
      .filter((a) => !filter || `${a.id} ${a.name} ${a.kind} ${a.area}`.toLowerCase().includes(filter))
      .sort((a, b) => b.health.attention - a.health.attention || a.id.localeCompare(b.id));
    const areas = [...new Set(shown.map((a) => a.area || "plant"))].sort();
    $("#tiles").innerHTML = areas
      .map(
        (area) => `<h3 class="muted">${esc(area)}</h3><div class="grid">${shown
          .filter((a) => (a.area || "plant") === area)
          .map(
            (a) => `<div class="tile ${esc(a.health.level === "good" ? "ok" : a.health.level)}" data-testid="asset-tile" data-asset="${esc(a.id)}" data-health="${esc(a.health.level)}">
              <div class="name">${esc(a.name || a.id)}</div>
              <div class="sub">${esc(a.kind)} · ${esc(a.health.level)}${a.health.open ? ` · ${a.health.open} open` : ""}${a.health.confirmed ? ` · ${a.health.confirmed} confirmed` : ""}</div>
              ${a.health.latest ? `<div class="sub">${esc(a.health.latest.label || "finding")} (${esc(a.health.latest.status)})</div>` : ""}
            </div>`,
          )
          .join("")}</div>`,
      )
      .join("");
    for (const t of document.querySelectorAll(".tile")) t.onclick = () => (location.hash = `#/asset/${encodeURIComponent(t.dataset.asset)}`);
  };
  preserve(["asset-filter"], () => {
    main().innerHTML = `
      <div class="card">
        <div class="toolbar"><h2 style="margin:0">Plant</h2>
          <span class="summary" data-testid="health-summary"><span>${assets.length} assets</span>
          <span class="badge ok">${counts.good} good</span><span class="badge watch">${counts.watch} watch</span><span class="badge alarm">${counts.alarm} alarm</span></span>
          <span style="flex:1"></span><input id="asset-filter" placeholder="filter assets"></div>
        <div id="tiles"></div>
      </div>`;
  });
  $("#asset-filter").oninput = draw;
  draw();
}

// ------------------------------------------------------------------------------------------------
// One asset: trends, spectrum and envelope spectrum, its findings.

const assetState = { tags: {} };

async function viewAsset(id, fresh) {
  const [a, findings] = await Promise.all([get(`/api/assets/${encodeURIComponent(id)}`), get("/api/findings")]);
  const mine = findings.filter((f) => (a.machines && a.machines.length ? a.machines : [a.id]).includes(f.machine));
  if (fresh || !assetState.tags[id]) assetState.tags[id] = (a.tags || []).slice(0, 3).map((t) => t.tag);
  const chosen = assetState.tags[id];
  if (fresh || !$("#asset-view")) {
    main().innerHTML = `
      <div id="asset-view">
        <div class="card"><div class="toolbar"><h2 style="margin:0">${esc(a.name || a.id)}</h2> ${badge(a.health.level)}
          <span class="muted">${esc(a.kind)} · ${esc(a.area)}</span></div>
          <div class="toolbar"><label class="muted">trends</label>
            <select id="tag-pick" multiple size="4" style="min-width:260px">${(a.tags || [])
              .map((t) => `<option value="${esc(t.tag)}" ${chosen.includes(t.tag) ? "selected" : ""}>${esc(t.name || t.tag)}${t.unit ? ` (${esc(t.unit)})` : ""}</option>`)
              .join("")}</select>
            <select id="trend-range"><option value="600000">10 min</option><option value="3600000" selected>1 h</option><option value="86400000">24 h</option></select>
          </div>
          <canvas id="trend" data-testid="trend"></canvas></div>
        ${a.vibration ? `<div class="row"><div class="card"><h2>Spectrum</h2><canvas id="spec" data-testid="spectrum"></canvas></div>
          <div class="card"><h2>Squared-envelope spectrum</h2><canvas id="env" data-testid="envelope"></canvas><p class="muted" id="spec-info"></p></div></div>` : ""}
        <div class="card"><h2>Findings on this asset</h2><div id="asset-findings"></div></div>
      </div>`;
    $("#tag-pick").onchange = () => {
      assetState.tags[id] = [...$("#tag-pick").selectedOptions].map((o) => o.value);
      drawTrends(id);
    };
    $("#trend-range").onchange = () => drawTrends(id);
  }
  $("#asset-findings").innerHTML = findingsTable(mine);
  bindRows();
  await Promise.all([drawTrends(id), a.vibration ? drawSpectra(id) : null]);
}

async function drawTrends(id) {
  const range = Number(($("#trend-range") || {}).value || 3600000);
  const to = Date.now();
  const series = await Promise.all(
    (assetState.tags[id] || []).map(async (tag) => {
      try {
        const t = await get(`/api/assets/${encodeURIComponent(id)}/trend?tag=${encodeURIComponent(tag)}&from=${to - range}&to=${to}&points=300`);
        return { name: tag, points: t.points.map((p) => [p.t_ms, p.mean]) };
      } catch (err) {
        return { name: `${tag}: ${err.message}`, points: [] };
      }
    }),
  );
  if ($("#trend")) FosCharts.drawTrend($("#trend"), series);
}

async function drawSpectra(id) {
  let s;
  try {
    s = await get(`/api/assets/${encodeURIComponent(id)}/spectrum`);
  } catch (err) {
    if ($("#spec-info")) $("#spec-info").textContent = err.message;
    FosCharts.drawSpectrum($("#spec"), [], [], []);
    FosCharts.drawSpectrum($("#env"), [], [], []);
    return;
  }
  const axis = (ser) => ser.amplitude.map((_, i) => ser.f0 + i * ser.df);
  const marks = [];
  for (const m of s.markers || []) {
    m.harmonics.forEach((hz, k) => marks.push({ hz, kind: m.family, label: `${k ? `${k + 1}×` : ""}${m.family}` }));
  }
  const top = Math.min(s.envelope_spectrum.f0 + s.envelope_spectrum.df * s.envelope_spectrum.amplitude.length, Math.max(...marks.map((m) => m.hz)) * 1.15 || 1000);
  FosCharts.drawSpectrum($("#spec"), axis(s.spectrum), s.spectrum.amplitude, [], {});
  FosCharts.drawSpectrum($("#env"), axis(s.envelope_spectrum), s.envelope_spectrum.amplitude, marks, { maxHz: top });
  $("#spec-info").textContent = `block ${s.block_hash.slice(0, 16)}… at ${fmtTime(s.block_start)}, ${num(s.rate_hz, 0)} Hz, shaft ${num(
    s.shaft_hz,
    2,
  )} Hz${s.shaft_estimated ? " (estimated)" : ""}, envelope band ${num(s.band_hz[0], 0)}–${num(s.band_hz[1], 0)} Hz, envelope kurtosis ${num(s.envelope_kurtosis, 2)}`;
}

// ------------------------------------------------------------------------------------------------
// Findings.

function findingsTable(list) {
  if (!list.length) return `<p class="muted">no findings</p>`;
  return `<table data-testid="findings-table"><tr><th>finding</th><th>time</th><th>machine</th><th>fault</th><th>score</th><th>status</th><th>summary</th></tr>${list
    .slice()
    .reverse()
    .map(
      (f) => `<tr class="clickable" data-href="#/finding/${esc(encodeURIComponent(f.id))}" data-testid="finding-row" data-finding="${esc(f.id)}" data-machine="${esc(f.machine)}">
        <td>${esc(f.id)}</td><td>${esc(fmtTime(f.time))}</td><td>${esc(f.machine)}</td><td>${esc(f.label || "")}${
          f.verdict_label && f.verdict_label !== f.label ? ` → ${esc(f.verdict_label)}` : ""
        }</td><td>${num(f.score, 2)}</td><td>${badge(f.status)}</td><td>${esc(f.summary)}</td></tr>`,
    )
    .join("")}</table>`;
}

function bindRows() {
  for (const r of document.querySelectorAll("tr[data-href]")) r.onclick = () => (location.hash = r.dataset.href);
}

async function viewFindings() {
  const list = await get("/api/findings");
  main().innerHTML = `<div class="card"><h2>Findings</h2>${findingsTable(list)}</div>`;
  bindRows();
}

async function viewFinding(id) {
  const d = await get(`/api/findings/${encodeURIComponent(id)}`);
  const f = d.finding;
  const canChallenge = me.role !== "auditor";
  const canSettle = me.role === "engineer" || me.role === "approver";
  const features = Object.entries(f.features || {})
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${num(v)}</td></tr>`)
    .join("");
  const cases = (f.nearest_cases || [])
    .map((c) => `<tr><td>${esc(c.case_id)}${c.source ? ` <span class="muted">${esc(c.source)}</span>` : ""}</td><td>${esc(c.label || "")}</td><td>${num(c.distance, 3)}</td><td>${esc(c.reason || "")}</td></tr>`)
    .join("");
  const sims = (f.simulations || [])
    .map((s) => `<li data-testid="simulation"><b>${esc(s.name)}</b>: ${esc(s.summary)}${Object.keys(s.figures || {}).length ? ` <span class="muted">(${Object.entries(s.figures)
      .map(([k, v]) => `${esc(k)} ${num(v, 3)}`)
      .join(", ")})</span>` : ""}</li>`)
    .join("");
  const history = [...d.challenges, ...d.verdicts]
    .sort((a, b) => a.index - b.index)
    .map((e) => `<li>#${e.index} ${esc(fmtTime(e.time))} <b>${esc(e.by)}</b> ${esc(e.kind)}: ${esc(e.entity ? e.entity.reason || e.entity.outcome || "" : "")}${e.entity && e.entity.label ? ` (label ${esc(e.entity.label)})` : ""}</li>`)
    .join("");
  preserve(["dispute-reason", "dispute-label"], () => {
    main().innerHTML = `
    <div class="card" data-testid="finding-detail"><div class="toolbar"><h2 style="margin:0">Finding ${esc(d.id)}</h2> ${badge(d.status)}
      <span class="muted">ledger record #${d.index} · by ${esc(d.actor)} · ${esc(fmtTime(d.time))}</span>
      <span style="flex:1"></span><a href="#/chain/${esc(encodeURIComponent(d.id))}" data-testid="provenance-link">provenance</a></div>
      <p><b>${esc(f.machine)}</b>: ${esc(f.summary)} ${f.label ? `(fault ${esc(f.label)}, score ${num(f.score, 2)})` : ""}</p>
      <p class="muted">model ${esc(f.model.name)} ${esc(f.model.version)}${f.window ? ` · evidence ${esc(fmtTime(f.window[0]))} – ${esc(fmtTime(f.window[1]))}` : ""}${f.file ? ` · ${esc(f.file)} ${esc(f.signal || "")}` : ""}</p>
      <div class="toolbar" data-testid="finding-actions">
        ${canSettle ? `<button class="primary" id="confirm" data-testid="confirm">Confirm</button>` : ""}
        ${canChallenge || canSettle ? `<input id="dispute-reason" placeholder="reason, e.g. humidity, not bearing wear" size="40" data-testid="dispute-reason">
          <input id="dispute-label" placeholder="true cause (label)" size="18" data-testid="dispute-label">
          <button id="dispute" data-testid="dispute">Dispute</button>` : `<span class="muted">auditors read only</span>`}
      </div></div>
    <div class="row">
      <div class="card"><h2>Evidence</h2><table>${features || "<tr><td class=muted>no features</td></tr>"}</table></div>
      <div class="card"><h2>Nearest historical cases</h2><table><tr><th>case</th><th>fault</th><th>distance</th><th>why</th></tr>${cases || "<tr><td class=muted colspan=4>none cited</td></tr>"}</table>
        <h2>Simulations</h2><ul>${sims || "<li class=muted>none</li>"}</ul></div>
    </div>
    <div class="card"><h2>Inputs</h2><pre>${esc(JSON.stringify(d.used, null, 1))}</pre>
      <h2>Challenges and verdicts</h2><ul data-testid="finding-history">${history || "<li class=muted>none</li>"}</ul></div>`;
  });
  if ($("#confirm")) $("#confirm").onclick = () => settle(d.id, "confirmed");
  if ($("#dispute"))
    $("#dispute").onclick = async () => {
      const reason = $("#dispute-reason").value.trim();
      if (!reason) return toast("say why: a dispute needs a reason", true);
      const label = $("#dispute-label").value.trim();
      if (canSettle && d.challenges.length) return settle(d.id, "disputed", reason, label);
      try {
        await post(`/api/findings/${encodeURIComponent(d.id)}/challenge`, { reason, alternative: label || null });
        toast(`finding ${d.id} disputed: logged`);
        $("#dispute-reason").value = "";
        $("#dispute-label").value = "";
      } catch (err) {
        toast(err.message, true);
      }
      route();
    };
}

async function settle(id, outcome, reason, label) {
  try {
    await post(`/api/findings/${encodeURIComponent(id)}/verdict`, { outcome, label: label || null, reason: reason || (outcome === "confirmed" ? "confirmed in the console" : "") });
    toast(`finding ${id} ${outcome}: logged`);
  } catch (err) {
    toast(err.message, true);
  }
  route();
}

// ------------------------------------------------------------------------------------------------
// Approvals.

async function viewProposals() {
  const list = await get("/api/proposals");
  const order = { awaiting_approval: 0, approved: 1, auto_approved: 2 };
  const rows = list.proposals
    .slice()
    .sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9) || b.created_at - a.created_at)
    .map(
      (p) => `<tr class="clickable" data-href="#/proposal/${esc(encodeURIComponent(p.id))}" data-testid="proposal-row" data-proposal="${esc(p.id)}" data-status="${esc(p.status)}" data-kind="${esc(p.kind)}">
      <td>${esc(p.id)}</td><td>${esc(fmtTime(p.created_at))}</td><td>${esc(p.kind)}</td><td>${esc(p.machine)}${p.subsystem ? ` / ${esc(p.subsystem)}` : ""}</td>
      <td>${num(p.deviation_mm, 4)} mm</td><td>${esc(p.initiated_by)}</td><td>${badge(p.status)}</td><td>${p.approvals}${p.required ? ` / ${p.required}` : ""}</td></tr>`,
    )
    .join("");
  main().innerHTML = `<div class="card"><h2>Approval queue</h2>${list.halted ? `<p class="error">The gate is stopped: nothing executes until an approver or engineer resumes.</p>` : ""}
    <table data-testid="proposals-table"><tr><th>proposal</th><th>created</th><th>kind</th><th>machine</th><th>deviation</th><th>by</th><th>status</th><th>approvals</th></tr>${
      rows || "<tr><td class=muted colspan=8>no proposals</td></tr>"
    }</table></div>`;
  bindRows();
}

async function viewProposal(id) {
  const d = await get(`/api/proposals/${encodeURIComponent(id)}`);
  const p = d.proposal;
  const facts = p.facts;
  const effect = d.predicted_effect;
  const canVote = me.role === "approver" || me.role === "engineer";
  const canExecute = me.role !== "auditor" && (d.status === "approved" || d.status === "auto_approved");
  const records = d.records
    .map((r) => `<tr><td><a href="#/ledger" data-record="${r.index}" class="record-link">#${r.index}</a></td><td>${esc(r.kind)}</td><td>${esc(fmtTime(r.time))}</td><td>${esc(r.actor)}</td><td>${esc(r.summary)}</td></tr>`)
    .join("");
  preserve(["reject-reason"], () => {
    main().innerHTML = `
    <div class="card" data-testid="proposal-detail"><div class="toolbar"><h2 style="margin:0">Proposal ${esc(d.id)}</h2> ${badge(d.status)}
      <span class="muted">${esc(facts.kind)} on ${esc(facts.machine)}${facts.subsystem ? ` / ${esc(facts.subsystem)}` : ""} · by ${esc(
        typeof facts.initiated_by === "string" ? facts.initiated_by : JSON.stringify(facts.initiated_by),
      )}</span>
      <span style="flex:1"></span><a href="#/chain/${esc(encodeURIComponent(d.id))}" data-testid="provenance-link">provenance</a></div>
      <p>Deviation <b>${num(facts.deviation_mm, 4)} mm</b> (the policy's tolerance applies to the cumulative deviation per machine since its last human approval) · payload SHA-256 <code>${esc(
        facts.payload_hash,
      )}</code></p>
      ${p.requirement ? `<p class="muted">needs ${esc(JSON.stringify(p.requirement))}</p>` : ""}
      <div class="toolbar">
        ${canVote && d.status === "awaiting_approval" ? `<button class="primary" id="approve" data-testid="approve">Approve</button>
          <input id="reject-reason" placeholder="reason to reject" size="30"><button id="reject" data-testid="reject">Reject</button>` : ""}
        ${canExecute && !p.execution ? `<button class="primary" id="execute" data-testid="execute">Execute</button>` : ""}
      </div></div>
    <div class="row">
      <div class="card"><h2>The exact change</h2><pre data-testid="change">${esc(d.executable || JSON.stringify(d.action, null, 1))}</pre></div>
      <div class="card"><h2>Predicted effect</h2><div data-testid="effect">${effect ? `<p>${esc(effect.summary)}</p><table>${Object.entries(effect.figures || {})
          .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${num(v)}</td></tr>`)
          .join("")}</table>` : `<p class="muted">none stated</p>`}</div>
        ${p.execution ? `<h2>Execution</h2><pre data-testid="execution">${esc(JSON.stringify(p.execution, null, 1))}</pre>` : ""}</div>
    </div>
    <div class="card"><h2>Ledger records</h2><table><tr><th>record</th><th>kind</th><th>time</th><th>actor</th><th>what</th></tr>${records}</table></div>`;
  });
  const act = async (what, path, body) => {
    try {
      const out = await post(path, body);
      toast(`${what}: ${out.status || "done"}${out.detail ? `, ${out.detail}` : ""}`);
    } catch (err) {
      toast(`${what} refused: ${err.message}`, true);
    }
    route();
  };
  if ($("#approve")) $("#approve").onclick = () => act("approve", `/api/proposals/${encodeURIComponent(id)}/approve`, { reason: "" });
  if ($("#reject"))
    $("#reject").onclick = () => {
      const reason = $("#reject-reason").value.trim();
      if (!reason) return toast("a rejection needs a reason", true);
      act("reject", `/api/proposals/${encodeURIComponent(id)}/reject`, { reason });
    };
  if ($("#execute")) $("#execute").onclick = () => act("execute", `/api/proposals/${encodeURIComponent(id)}/execute`);
  for (const a of document.querySelectorAll(".record-link"))
    a.onclick = (e) => {
      e.preventDefault();
      ledgerState.pending = Number(a.dataset.record);
      location.hash = "#/ledger";
    };
}

// ------------------------------------------------------------------------------------------------
// Ledger: the checkpoint, any record's inclusion proof checked here, in the browser.

const ledgerState = { pending: null };

async function viewLedger() {
  const cp = await get("/api/ledger/checkpoint");
  preserve(["record-index"], () => {
    main().innerHTML = `
    <div class="card"><h2>Ledger</h2>
      <table data-testid="checkpoint"><tr><th>log</th><td>${esc(cp.origin)}</td></tr><tr><th>records</th><td data-testid="ledger-size">${cp.size}</td></tr>
      <tr><th>root</th><td><code>${esc(cp.root)}</code></td></tr><tr><th>signed</th><td>${esc(fmtTime(cp.timestamp_ms))}</td></tr>
      <tr><th>site key</th><td><code>${esc(cp.verifier_key)}</code></td></tr></table></div>
    <div class="card"><h2>Check a record</h2>
      <div class="toolbar"><input id="record-index" type="number" min="0" max="${cp.size - 1}" placeholder="record #" data-testid="record-index">
        <button class="primary" id="check" data-testid="check-proof">Check its inclusion proof here</button>
        <button id="verify-all" data-testid="verify-all">Verify the whole ledger (server)</button></div>
      <div id="proof-result" data-testid="proof-result"></div></div>`;
  });
  $("#check").onclick = () => checkRecord(Number($("#record-index").value), cp.verifier_key);
  $("#verify-all").onclick = async () => {
    const v = await get("/api/audit/verify");
    $("#proof-result").innerHTML = v.ok
      ? `<p class="okmsg" data-testid="verify-ok">ledger intact: ${v.records} records, ${v.checkpoints} checkpoints</p>`
      : `<p class="error">${v.problems.length} problem(s)</p><pre>${esc(JSON.stringify(v.problems, null, 1))}</pre>`;
  };
  if (ledgerState.pending !== null) {
    $("#record-index").value = ledgerState.pending;
    const i = ledgerState.pending;
    ledgerState.pending = null;
    await checkRecord(i, cp.verifier_key);
  }
}

async function checkRecord(index, trustedKey) {
  const out = $("#proof-result");
  if (!Number.isInteger(index) || index < 0) return (out.innerHTML = `<p class="error">give a record number</p>`);
  try {
    const r = await get(`/api/ledger/records/${index}`);
    const v = await FosLedger.verifyBundle(r.bundle, trustedKey);
    out.innerHTML = `<p class="okmsg" data-testid="proof-ok">✓ record #${v.index} is in the log ${esc(v.origin)} of ${v.treeSize} records, signed by the site key at ${esc(
      fmtTime(v.timestampMs),
    )}; leaf hash <code>${esc(v.leafHash)}</code>, checked in this browser (RFC 9162 proof, Ed25519 checkpoint).</p><pre>${esc(
      JSON.stringify(JSON.parse(v.record), null, 1),
    )}</pre>`;
  } catch (err) {
    out.innerHTML = `<p class="error" data-testid="proof-bad">✗ ${esc(err.message)}</p>`;
  }
}

async function viewChain(id) {
  const c = await get(`/api/ledger/chain/${encodeURIComponent(id)}`);
  const cp = await get("/api/ledger/checkpoint");
  main().innerHTML = `<div class="card" data-testid="chain"><h2>Provenance of ${esc(c.id)}</h2>
    ${c.problems.length ? `<p class="error">${esc(c.problems.join("; "))}</p>` : ""}
    <table><tr><th>record</th><th>kind</th><th>time</th><th>actor</th><th>what</th><th></th></tr>${c.chain
      .map(
        (l) => `<tr><td>#${l.index}</td><td>${esc(l.kind)}</td><td>${esc(fmtTime(l.time))}</td><td>${esc(l.actor)}</td><td>${esc(l.summary)}</td>
        <td><button class="check-link" data-index="${l.index}" data-testid="chain-check">check proof</button> <span id="chk-${l.index}"></span></td></tr>`,
      )
      .join("")}</table>
    <h2>Inputs</h2><table><tr><th>SHA-256</th><th>what</th><th>role</th><th>cited by</th></tr>${c.inputs
      .map((i) => `<tr><td><code>${esc(i.sha256.slice(0, 24))}…</code></td><td>${esc(i.entity)}</td><td>${esc(i.role)}</td><td>#${i.cited_by}</td></tr>`)
      .join("")}</table></div>`;
  for (const b of document.querySelectorAll(".check-link"))
    b.onclick = async () => {
      const span = $(`#chk-${b.dataset.index}`);
      try {
        const r = await get(`/api/ledger/records/${b.dataset.index}`);
        await FosLedger.verifyBundle(r.bundle, cp.verifier_key);
        span.innerHTML = `<span class="okmsg" data-testid="chain-ok">✓ proven</span>`;
      } catch (err) {
        span.innerHTML = `<span class="error">✗ ${esc(err.message)}</span>`;
      }
    };
}

// ------------------------------------------------------------------------------------------------

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("#stop").onclick = onStop;
  $("#logout").onclick = onLogout;
  // Views with live data refresh every 5 s besides the events (trends move without events).
  setInterval(() => {
    if (me && currentView && (currentView.startsWith("asset/") || currentView.startsWith("plant/"))) route();
  }, 5000);
  start();
});
