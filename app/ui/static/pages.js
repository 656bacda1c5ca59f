// The two pages: the job list, and one job with its live progress, curve, heat-map and downloads.
"use strict";

const $ = (selector) => document.querySelector(selector);
const ACTIVE = new Set(["queued", "running", "cancelling"]);

// Append an element with text content (never innerHTML: job fields come from users).
function el(tag, parent, text = "", cls = "") {
  const node = document.createElement(tag);
  if (text !== "") node.textContent = text;
  if (cls) node.className = cls;
  if (parent) parent.append(node);
  return node;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
const pct = (value) => (value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`);
const size = (bytes) =>
  !bytes ? "–" : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1048576).toFixed(1)} MiB`;
const taskName = (task) => task.name || `${task.type} (${task.train_file})`;

function showError(target, error) {
  $(target).textContent = error instanceof ApiError ? `${error.message} (HTTP ${error.status})` : String(error);
}

// ---- sign-in gate ----------------------------------------------------------------------------

async function boot() {
  $("#sign-out").addEventListener("click", () => {
    Api.signOut();
    location.reload();
  });
  $("#sign-in-form").addEventListener("submit", async (submit) => {
    submit.preventDefault();
    Api.signIn($("#api-key").value.trim());
    $("#api-key").value = "";
    await enter();
  });
  if (Api.key()) await enter();
  else $("#sign-in").hidden = false;
}

// Check the key with a cheap call, then show the page; a refused key goes back to the form.
async function enter() {
  try {
    await Api.json("/v1/jobs?limit=1");
  } catch (error) {
    Api.signOut();
    $("#sign-in").hidden = false;
    showError("#sign-in-error", error);
    return;
  }
  $("#sign-in").hidden = true;
  $("#content").hidden = false;
  $("#sign-out").hidden = false;
  const page = document.body.dataset.page;
  if (page === "jobs") await jobsPage();
  if (page === "job") await jobPage(document.body.dataset.jobId);
}

// ---- the job list ----------------------------------------------------------------------------

async function jobsPage() {
  let cursor = null;
  const load = async (append) => {
    try {
      const page = await Api.json(`/v1/jobs?limit=20${append && cursor ? `&after=${cursor}` : ""}`);
      const body = $("#jobs tbody");
      if (!append) body.replaceChildren();
      page.data.forEach((job) => jobRow(body, job));
      cursor = page.data.length ? page.data[page.data.length - 1].id : cursor;
      $("#jobs-more").hidden = !page.has_more;
      $("#jobs-empty").hidden = body.children.length > 0;
      return page.data.some((job) => ACTIVE.has(job.status));
    } catch (error) {
      showError("#jobs-error", error);
      return false;
    }
  };
  $("#jobs-more").addEventListener("click", () => load(true));
  // While a job on the first page is still going, the list refreshes itself.
  const tick = async () => {
    if ((await load(false)) && $("#jobs-more").hidden) setTimeout(tick, 5000);
  };
  await tick();
}

function jobRow(body, job) {
  const row = el("tr", body);
  row.dataset.jobId = job.id;
  const link = el("a", el("td", row), job.id);
  link.href = `/ui/jobs/${encodeURIComponent(job.id)}`;
  el("span", el("td", row), job.status, `status ${job.status}`);
  el("td", row, job.model);
  el("td", row, taskName(job.task));
  el("td", row, job.strategy);
  el("td", row, job.retention);
  const p = job.progress;
  el("td", row, p.layers_total ? `${p.layers_remaining} of ${p.layers_total} left` : "–");
  el("td", row, p.current_score === null ? "–" : p.current_score.toFixed(4));
  el("td", row, when(job.created_at));
}

// ---- one job ---------------------------------------------------------------------------------

async function jobPage(jobId) {
  const state = { job: null, rounds: [], baselineReport: null, timer: null };
  const refresh = async () => {
    try {
      const base = `/v1/jobs/${encodeURIComponent(jobId)}`;
      [state.job, state.rounds] = await Promise.all([Api.json(base), Api.json(`${base}/rounds`).then((r) => r.data)]);
      $("#job-error").textContent = "";
      renderJob(state);
    } catch (error) {
      showError("#job-error", error);
    }
  };
  // Events come in bursts (a round ends with several); one refresh covers a burst.
  const soon = () => {
    clearTimeout(state.timer);
    state.timer = setTimeout(refresh, 250);
  };
  await refresh();
  if (!state.job) return;
  const controller = new AbortController();
  window.addEventListener("pagehide", () => controller.abort());
  $("#job-live").textContent = ACTIVE.has(state.job.status) ? "Following live…" : "";
  try {
    await followEvents(jobId, 0, (event) => {
      addEvent(event);
      if (event.type === "baseline.scored") state.baselineReport = event.data.report_score ?? null;
      if (event.type !== "candidate.scored" || state.job.status !== "succeeded") soon();
    }, controller.signal, () => !ACTIVE.has(state.job.status));
  } catch (error) {
    showError("#job-error", error);
  }
  $("#job-live").textContent = "";
}

function addEvent(event) {
  const item = el("li", $("#events"));
  item.dataset.type = event.type;
  el("time", item, new Date(event.created_at).toLocaleTimeString());
  el("code", item, event.type);
  el("span", item, event.message);
}

function renderJob(state) {
  const job = state.job;
  const status = $("#job-status");
  status.textContent = job.status;
  status.className = `status ${job.status}`;
  const p = job.progress;
  const threshold = p.baseline_score === null ? null : job.retention * p.baseline_score;
  const facts = [
    ["Model", job.model], ["Task", taskName(job.task)], ["Strategy", job.strategy],
    ["Retention", job.retention], ["Round", p.round],
    ["Layers", p.layers_total ? `${p.layers_remaining} of ${p.layers_total} left` : "–"],
    ["Baseline score", p.baseline_score?.toFixed(4) ?? "–"], ["Threshold", threshold?.toFixed(4) ?? "–"],
    ["Current score", p.current_score?.toFixed(4) ?? "–"], ["Retained", pct(p.retained_fraction)],
    ["Started", when(job.started_at)], ["Finished", when(job.finished_at)],
  ];
  const list = $("#job-progress");
  list.replaceChildren();
  for (const [name, value] of facts) {
    el("dt", list, name);
    el("dd", list, String(value)).dataset.fact = name;
  }
  if (job.error) $("#job-error").textContent = `${job.error.code}: ${job.error.message}`;
  const removed = p.layers_total ? p.layers_total - p.layers_remaining : 0;
  $("#job-bar").style.width = p.layers_total ? `${(100 * removed) / p.layers_total}%` : "0";
  const baselineReport = job.result?.baseline_report_score ?? state.baselineReport;
  drawCurve($("#curve"), curveOf(state.rounds, p.baseline_score, baselineReport, threshold, p.layers_total));
  drawHeatmap($("#heatmap"), state.rounds, p.layers_total);
  renderDownloads(job);
}

// The curve's points: the full model at 0 layers removed, then each scored round.
function curveOf(rounds, baseline, baselineReport, threshold, layersTotal) {
  const points = [];
  if (baseline !== null) {
    points.push({ removed: 0, score: baseline, report: baselineReport, accepted: true, label: "full model" });
  }
  let removed = 0;
  for (const round of rounds) {
    if (round.score === null) continue;
    const at = round.removed_layer === null ? removed : removed + 1;
    if (round.accepted) removed = at;
    points.push({
      removed: at, score: round.score, report: round.report_score, accepted: round.accepted,
      label: `round ${round.round} (layer ${round.removed_layer} removed)`,
    });
  }
  return { points, threshold, layersTotal };
}

// Every downloadable depth where the API lists them; else the final model once the job succeeded.
async function renderDownloads(job) {
  const body = $("#downloads tbody");
  let depths = [];
  try {
    depths = (await Api.json(`/v1/jobs/${encodeURIComponent(job.id)}/artifacts`)).data;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error; // 404 or 409: this server lists no depths yet
  }
  const rows = depths
    .filter((d) => d.available !== false && d.url)
    .map((d) => ({ layers: d.layers, kept: d.kept_layers, score: d.score, report: d.report_score, bytes: d.bytes, url: d.url }));
  if (!rows.length && job.status === "succeeded" && job.result) {
    const r = job.result;
    rows.push({
      layers: r.kept_layers.length, kept: r.kept_layers, score: r.score, report: r.report_score,
      bytes: r.artifact.bytes, url: job.urls.artifact,
    });
  }
  body.replaceChildren();
  for (const d of rows) {
    const row = el("tr", body);
    el("td", row, d.layers);
    el("td", row, (d.kept || []).join(", "));
    el("td", row, d.score?.toFixed(4) ?? "–");
    el("td", row, d.report?.toFixed(4) ?? "–");
    el("td", row, size(d.bytes));
    const button = el("button", el("td", row), "Download", "download");
    button.type = "button";
    button.addEventListener("click", () =>
      Api.download(d.url, `${job.id}-${d.layers}-layers.tar.gz`).catch((e) => showError("#job-error", e)));
  }
  $("#downloads-none").hidden = rows.length > 0;
}

document.addEventListener("DOMContentLoaded", boot);
