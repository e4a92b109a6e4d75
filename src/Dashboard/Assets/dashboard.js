// TempMe dashboard: renders the snapshot that /api/events pushes every second (server-sent events, no reload).
// The same page serves `tempme silo` (many jobs, workers, cancel/retry) and `tempme index --dashboard` (one run).
(() => {
  "use strict";
  const TOKEN_KEY = "tempme.apiToken";
  const view = document.getElementById("view");
  const live = document.getElementById("live");
  const banner = document.getElementById("banner");
  const toast = document.getElementById("toast");
  const dialog = document.getElementById("token-dialog");
  const tokenInput = document.getElementById("token-input");
  let snapshot = null;
  let failures = { jobId: null, failed: -1, rows: null, error: null };
  // Search state lives here, not in the DOM: the page is redrawn on every snapshot.
  let search = { jobId: null, q: "", results: null, error: null, busy: false };
  let pendingAction = null;

  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const int = (n) => Number(n ?? 0).toLocaleString("en-US");
  const rate = (r) => (r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2));
  const pct = (part, total) => (total > 0 ? (100 * part) / total : 0);
  function duration(s) {
    if (s == null || !isFinite(s)) return "–";
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    const h = Math.floor(s / 3600);
    return h + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  const ago = (s) => (s < 1.5 ? "just now" : duration(s) + " ago");
  const route = () => { const m = location.hash.match(/^#\/jobs\/(.+)$/); return m ? { job: decodeURIComponent(m[1]) } : {}; };

  function showToast(text) {
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(showToast.timer);
    showToast.timer = setTimeout(() => { toast.hidden = true; }, 4000);
  }

  // ---- chart: videos/s over time, drawn as inline SVG ----
  function chart(points, label) {
    const w = 600, h = 180, left = 40, right = 8, top = 10, bottom = 22;
    if (!points || points.length < 2) {
      return `<div class="chart"><svg viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(label)}: no samples yet"><text x="${w / 2}" y="${h / 2}" text-anchor="middle">collecting samples…</text></svg></div>`;
    }
    const t0 = points[0][0], t1 = points[points.length - 1][0];
    const span = Math.max(1, t1 - t0);
    const maxV = Math.max(...points.map((p) => p[1]));
    const niceMax = maxV <= 0 ? 1 : Math.pow(10, Math.floor(Math.log10(maxV))) * [1, 2, 2.5, 5, 10].find((f) => f * Math.pow(10, Math.floor(Math.log10(maxV))) >= maxV);
    const x = (t) => left + ((t - t0) / span) * (w - left - right);
    const y = (v) => top + (1 - v / niceMax) * (h - top - bottom);
    const path = points.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1)).join(" ");
    const area = path + ` L${x(t1).toFixed(1)} ${y(0)} L${x(t0).toFixed(1)} ${y(0)} Z`;
    let grid = "";
    for (let i = 0; i <= 4; i++) {
      const v = (niceMax * i) / 4;
      grid += `<line class="${i ? "grid" : "axis"}" x1="${left}" x2="${w - right}" y1="${y(v)}" y2="${y(v)}"/>` +
        `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v >= 10 ? v.toFixed(0) : v.toFixed(v >= 1 ? 1 : 2)}</text>`;
    }
    const fmt = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    grid += `<text x="${left}" y="${h - 6}">${fmt(t0)}</text><text x="${w - right}" y="${h - 6}" text-anchor="end">${fmt(t1)}</text>`;
    return `<div class="chart"><svg viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(label)}">${grid}<path class="area" d="${area}"/><path class="line" d="${path}"/></svg></div>`;
  }

  function bar(job) {
    const t = job.total || 0;
    return `<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${pct(job.done + job.failed, t).toFixed(0)}">` +
      `<span class="done" data-pct="${pct(job.done, t)}" title="done ${int(job.done)}"></span>` +
      `<span class="failed" data-pct="${pct(job.failed, t)}" title="failed ${int(job.failed)}"></span>` +
      `<span class="running" data-pct="${pct(job.running, t)}" title="running ${int(job.running)}"></span></div>`;
  }

  const legend = `<div class="legend"><span><i class="done"></i>done</span><span><i class="failed"></i>failed</span><span><i class="running"></i>running</span><span><i class="queued"></i>queued</span></div>`;

  function jobPercent(job) {
    if (job.state === "finalizing") return "writing index…";
    if (!job.total) return job.state === "queued" ? "listing…" : "0%";
    const p = pct(job.done + job.failed, job.total);
    return (p >= 100 ? "100" : p >= 99.5 ? "99.5" : p.toFixed(p < 10 ? 1 : 0)) + "%";
  }

  function jobBlock(job) {
    const eta = job.state === "running" ? `<span>ETA <b>${duration(job.etaSeconds)}</b></span>` : "";
    return `<div class="job" data-job-id="${esc(job.id)}">
      <div class="job-head"><a class="job-id" href="#/jobs/${encodeURIComponent(job.id)}">${esc(job.id)}</a>
        <span class="state ${esc(job.state)}">${esc(job.state.replaceAll("_", " "))}</span><span class="pct">${jobPercent(job)}</span></div>
      ${bar(job)}
      <div class="meta"><span><b>${int(job.done)}</b> done</span><span><b>${int(job.failed)}</b> failed</span><span><b>${int(job.running)}</b> running</span>
        <span><b>${int(job.queued)}</b> queued</span><span>of <b>${int(job.total)}</b></span><span><b>${rate(job.videosPerSecond)}</b> videos/s</span>${eta}</div>
    </div>`;
  }

  function splitBlock(split) {
    const parts = [["download", split.download], ["decode", split.decode], ["encode", split.encode], ["upload", split.upload]].filter((p) => p[1] != null);
    const sum = parts.reduce((a, p) => a + p[1], 0);
    if (sum <= 0) return `<div class="split"></div><div class="legend"><span>no work timed yet</span></div>`;
    const label = (name) => (name === "decode" && split.download == null ? "download + decode" : name);
    return `<div class="split">${parts.map(([n, v]) => `<span class="${n}" data-pct="${pct(v, sum)}" title="${label(n)} ${v.toFixed(1)} s"></span>`).join("")}</div>
      <div class="legend">${parts.map(([n, v]) => `<span><i class="${n}"></i>${label(n)} ${pct(v, sum).toFixed(0)}%</span>`).join("")}</div>`;
  }

  function workersBlock(workers) {
    if (!workers.length) return `<div class="empty">No worker has reported yet.</div>`;
    return workers.map((w) => `<div class="worker${w.stale ? " stale" : ""}" data-worker-id="${esc(w.id)}">
      <div class="worker-head"><span class="worker-id">${esc(w.id)}</span><span class="state">${w.stale ? "stale" : "alive"}</span>
        <span class="meta">heartbeat ${ago(w.heartbeatAgeSeconds)}</span></div>
      <div class="meta"><span>job <b>${esc(w.currentJob ?? "–")}</b></span><span>shard <b>${w.currentShard ?? "–"}</b></span>
        <span><b>${rate(w.videosPerSecond)}</b> videos/s</span><span><b>${int(w.videosDone)}</b> done</span><span><b>${int(w.videosFailed)}</b> failed</span>${w.shardsDone != null ? `<span><b>${int(w.shardsDone)}</b> shards</span>` : ""}</div>
      ${splitBlock(w.split)}
    </div>`).join("");
  }

  function stat(label, value, id) { return `<div class="stat"${id ? ` id="${id}"` : ""}><div class="label">${label}</div><div class="value">${value}</div></div>`; }

  function renderOverview(s) {
    const t = s.totals;
    const running = s.jobs.filter((j) => j.state === "running" || j.state === "queued" || j.state === "finalizing").length;
    const stats = s.mode === "silo"
      ? stat("videos/s", rate(t.videosPerSecond)) + stat("jobs running", int(running)) + stat("queue depth", int(t.queueDepth), "queue-depth") +
        stat("active leases", int(t.activeLeases)) + stat("workers", int(t.workersActive)) + stat("retries", int(t.retries))
      : stat("videos/s", rate(t.videosPerSecond)) + stat("done", int(s.jobs[0]?.done)) + stat("failed", int(s.jobs[0]?.failed)) + stat("ETA", duration(s.jobs[0]?.etaSeconds));
    view.innerHTML = `<h1>${s.mode === "silo" ? "Jobs" : "This run"}</h1>
      <div class="stats">${stats}</div>
      <div class="grid2">
        <section class="card" id="jobs"><h2>Progress</h2>${s.jobs.length ? s.jobs.map(jobBlock).join("") + legend : `<div class="empty">No jobs yet. Submit one with <code>tempme submit</code>.</div>`}</section>
        <section class="card"><h2>Videos/s</h2>${chart(t.rate, "videos per second over time")}</section>
      </div>
      <section class="card" id="workers"><h2>Workers</h2>${workersBlock(s.workers)}</section>`;
  }

  function failuresTable(job) {
    if (job.failed === 0) return `<div class="empty">No failures.</div>`;
    if (failures.error) return `<div class="empty">Cannot load failures: ${esc(failures.error)}</div>`;
    if (!failures.rows) return `<div class="empty">Loading…</div>`;
    const more = job.failed > failures.rows.length ? `<div class="empty">Showing ${int(failures.rows.length)} of ${int(job.failed)}; download the JSONL for all.</div>` : "";
    return `<table class="failures" id="failures"><thead><tr><th>Video</th><th>Error</th><th class="hide-narrow">Message</th><th class="num">Attempts</th></tr></thead><tbody>` +
      failures.rows.map((f) => `<tr><td class="src mono">${esc(f.source)}</td><td><code>${esc(f.error_code)}</code></td><td class="hide-narrow">${esc(f.message)}</td><td class="num">${f.attempts}</td></tr>`).join("") +
      `</tbody></table>${more}`;
  }

  function loadFailures(job) {
    if (failures.jobId === job.id && failures.failed === job.failed) return;
    failures = { jobId: job.id, failed: job.failed, rows: failures.jobId === job.id ? failures.rows : null, error: null };
    if (job.failed === 0) { failures.rows = []; return; }
    fetch(`api/jobs/${encodeURIComponent(job.id)}/failures?limit=200`, { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status))))
      .then((rows) => { if (failures.jobId === job.id) { failures.rows = rows; render(); } })
      .catch((e) => { if (failures.jobId === job.id) { failures.error = e.message; render(); } });
  }

  // A result's thumbnail: only a well-formed content hash becomes a URL (the server checks again).
  const SHA = /^[0-9a-f]{64}$/;
  function thumbCell(jobId, r) {
    if (!r.thumbnail || !SHA.test(r.content_sha256 || "")) return `<td class="thumb"><span class="no-thumb" title="no thumbnail">–</span></td>`;
    return `<td class="thumb"><img src="api/jobs/${encodeURIComponent(jobId)}/thumbnails/${r.content_sha256}.jpg" alt="${esc(r.source)}" width="80" height="80" decoding="async"></td>`;
  }

  function searchBodyHtml() {
    if (search.error) return `<div class="empty" id="search-error">${esc(search.error)}</div>`;
    if (search.busy) return `<div class="empty">Searching…</div>`;
    if (search.results && search.results.length === 0) return `<div class="empty">No videos in this index.</div>`;
    if (!search.results) return "";
    return `<table id="search-results"><thead><tr><th><span class="sr-only">Thumbnail</span></th><th class="num">#</th><th class="num">Score</th><th>Video</th><th>Sampled at (s)</th></tr></thead><tbody>${search.results.map((r) =>
      `<tr>${thumbCell(search.jobId, r)}<td class="num">${int(r.rank)}</td><td class="num">${r.score.toFixed(4)}</td><td class="src mono">${esc(r.source)}</td><td class="mono">${esc(r.timestamps_s.map((t) => t.toFixed(2)).join(" "))}</td></tr>`).join("")}</tbody></table>`;
  }

  // The results are built once per search and moved into each redraw, so their images load once instead of every second.
  let searchBody = { state: null, el: null };
  function searchBodyElement() {
    if (searchBody.state !== search || !searchBody.el) {
      const el = document.createElement("div");
      el.className = "spaced";
      el.id = "search-body";
      el.innerHTML = searchBodyHtml();
      searchBody = { state: search, el };
    }
    return searchBody.el;
  }

  function searchCard(job) {
    if (search.jobId !== job.id) search = { jobId: job.id, q: "", results: null, error: null, busy: false };
    const done = job.state === "completed" || job.state === "completed_with_failures";
    return `<section class="card"><h2>Search this index</h2>
      <form id="search-form" class="row" autocomplete="off"><input id="search-q" type="search" name="q" placeholder="${done ? "a man is cooking pasta" : "available once the job has completed"}" value="${esc(search.q)}" ${done ? "" : "disabled"} aria-label="Search text">
      <button type="submit" ${done ? "" : "disabled"}>Search</button></form><div id="search-body-slot"></div></section>`;
  }

  async function runSearch(jobId, q) {
    search = { jobId, q, results: null, error: null, busy: true };
    render();
    try {
      const r = await fetch(`api/jobs/${encodeURIComponent(jobId)}/search?q=${encodeURIComponent(q)}&k=10`, { headers: { Accept: "application/json" } });
      const body = await r.json().catch(() => null);
      if (search.jobId !== jobId || search.q !== q) return;
      search = r.ok ? { jobId, q, results: body, error: null, busy: false }
        : { jobId, q, results: null, error: (body && (body.detail || body.title)) || "HTTP " + r.status, busy: false };
    } catch (e) { search = { jobId, q, results: null, error: "Request failed: " + e.message, busy: false }; }
    render();
  }

  function renderJob(s, id) {
    const job = s.jobs.find((j) => j.id === id);
    if (!job) { view.innerHTML = `<a class="back" href="#/">← All jobs</a><div class="card empty">Job ${esc(id)} is not among the jobs shown.</div>`; return; }
    loadFailures(job);
    const open = job.state === "running" || job.state === "queued";
    const actions = s.controls
      ? `<div class="row actions"><button type="button" class="danger" data-action="cancel" ${open ? "" : "disabled"}>Cancel job</button>
         <button type="button" data-action="retry-failed" ${job.failed > 0 ? "" : "disabled"}>Retry failed</button></div>` : "";
    const errors = job.topErrors.length
      ? `<table id="top-errors"><thead><tr><th>Error code</th><th class="num">Videos</th><th>Example</th></tr></thead><tbody>${job.topErrors.map((e) =>
          `<tr><td><code>${esc(e.code)}</code></td><td class="num">${int(e.count)}</td><td class="src mono">${esc(e.example)}</td></tr>`).join("")}</tbody></table>`
      : `<div class="empty">No failures.</div>`;
    view.innerHTML = `<a class="back" href="#/">← All jobs</a>
      <h1 class="job-id">${esc(job.id)}</h1>${actions}
      <section class="card" id="job-detail" data-job-id="${esc(job.id)}">${jobBlock(job).replace('class="job"', 'class="job single"')}${legend}</section>
      <div class="grid2">
        <section class="card"><h2>Videos/s</h2>${chart(job.rate, "videos per second of this job")}</section>
        <section class="card"><h2>Job</h2><dl class="facts">
          <dt>Source</dt><dd class="mono">${esc(job.source)}</dd><dt>Output</dt><dd class="mono">${esc(job.output)}</dd><dt>Model</dt><dd class="mono">${esc(job.model)}</dd>
          ${job.shardsTotal ? `<dt>Shards</dt><dd>${int(job.shardsDone)} of ${int(job.shardsTotal)}</dd>` : ""}
          <dt>Created</dt><dd>${new Date(job.created).toLocaleString()}</dd>${job.finished ? `<dt>Finished</dt><dd>${new Date(job.finished).toLocaleString()}</dd>` : ""}
          ${job.message ? `<dt>Message</dt><dd>${esc(job.message)}</dd>` : ""}</dl></section>
      </div>
      ${searchCard(job)}
      <section class="card"><h2>Most frequent errors</h2>${errors}</section>
      <section class="card"><div class="row"><h2 class="flush">Failures</h2><a id="download-failures" class="push" href="api/jobs/${encodeURIComponent(job.id)}/failures?format=jsonl" download="${esc(job.id)}-failures.jsonl">Download JSONL</a></div>
        <div class="spaced">${failuresTable(job)}</div></section>`;
  }

  // Widths are set through the CSSOM: the Content-Security-Policy (style-src 'self') blocks inline style attributes.
  function applyWidths(root) {
    for (const el of root.querySelectorAll("[data-pct]")) el.style.width = el.dataset.pct + "%";
  }

  function render() {
    if (!snapshot) return;
    document.getElementById("mode").textContent = snapshot.mode === "silo" ? "silo" : "index run";
    document.getElementById("token-button").hidden = !snapshot.controls;
    banner.hidden = snapshot.ok;
    banner.textContent = snapshot.ok ? "" : snapshot.error || "The ledger cannot be read; showing the last known state.";
    const r = route();
    const scroll = window.scrollY;
    const typing = document.activeElement && document.activeElement.id === "search-q";
    if (r.job) renderJob(snapshot, r.job); else renderOverview(snapshot);
    const slot = document.getElementById("search-body-slot");
    if (slot) slot.replaceWith(searchBodyElement());
    if (typing) { const input = document.getElementById("search-q"); if (input) { input.focus(); input.setSelectionRange(input.value.length, input.value.length); } }
    applyWidths(view);
    window.scrollTo(0, scroll);
  }

  // ---- cancel / retry-failed, with the token from sessionStorage ----
  async function act(action, jobId) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) { pendingAction = { action, jobId }; openToken(); return; }
    if (action === "cancel" && !confirm(`Cancel job ${jobId}?`)) return;
    try {
      const r = await fetch(`api/jobs/${encodeURIComponent(jobId)}/${action}`, { method: "POST", headers: { Authorization: "Bearer " + token } });
      const body = await r.json().catch(() => ({}));
      if (r.status === 401 || r.status === 403) { showToast(body.detail || "The token was refused."); sessionStorage.removeItem(TOKEN_KEY); pendingAction = { action, jobId }; openToken(); return; }
      if (!r.ok) { showToast(body.detail || body.title || "HTTP " + r.status); return; }
      showToast(action === "cancel" ? `Job ${jobId} cancelled.` : `Requeued ${body.requeued} failed video(s).`);
      failures.failed = -1;
    } catch (e) { showToast("Request failed: " + e.message); }
  }

  function openToken() { tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || ""; dialog.showModal(); tokenInput.focus(); }
  document.getElementById("token-button").addEventListener("click", openToken);
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "save" && tokenInput.value.trim()) {
      sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim());
      showToast("Token saved for this tab.");
      if (pendingAction) { const p = pendingAction; pendingAction = null; act(p.action, p.jobId); }
    } else if (dialog.returnValue === "clear") { sessionStorage.removeItem(TOKEN_KEY); showToast("Token forgotten."); pendingAction = null; }
    else pendingAction = null;
  });
  view.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button) act(button.dataset.action, route().job);
  });
  // A thumbnail that fails to load (CSP allows no inline handler) is hidden instead of showing a broken image.
  view.addEventListener("error", (e) => { if (e.target instanceof HTMLImageElement) e.target.classList.add("broken"); }, true);
  view.addEventListener("input", (e) => { if (e.target.id === "search-q") search.q = e.target.value; });
  view.addEventListener("submit", (e) => {
    if (e.target.id !== "search-form") return;
    e.preventDefault();
    const q = document.getElementById("search-q").value.trim();
    if (q) runSearch(route().job, q);
  });
  window.addEventListener("hashchange", () => { window.scrollTo(0, 0); render(); });

  // ---- live updates ----
  function connect() {
    const events = new EventSource("api/events");
    events.addEventListener("snapshot", (e) => {
      snapshot = JSON.parse(e.data);
      live.textContent = "live"; live.className = "live on";
      render();
    });
    events.onerror = () => { live.textContent = "reconnecting…"; live.className = "live off"; };
  }
  connect();
})();
