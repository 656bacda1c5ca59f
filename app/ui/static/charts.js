// Two small SVG charts drawn by hand (no library needed): the pruning curve and the candidate heat-map.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

// Create an SVG element with attributes, optionally appended to `parent`; `text` sets its content.
function svg(tag, attrs = {}, parent = null, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  if (parent) parent.append(node);
  return node;
}

function clear(root) {
  while (root.firstChild) root.firstChild.remove();
}

// A linear map from [d0, d1] onto [r0, r1].
function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (value) => r0 + ((value - d0) / span) * (r1 - r0);
}

// About `count` round-numbered ticks covering [lo, hi].
function ticks(lo, hi, count) {
  const raw = (hi - lo) / count || 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step / 1e6; t += step) out.push(+t.toFixed(10));
  return out;
}

const fmt = (value) => (value === null || value === undefined ? "–" : Number(value).toFixed(4));

// The pruning curve. `curve`: {points: [{removed, score, report, accepted, label}], threshold, layersTotal}.
function drawCurve(root, curve) {
  clear(root);
  const W = 900, H = 330, left = 58, right = 150, top = 16, bottom = 44;
  root.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const points = curve.points;
  if (!points.length) {
    svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, root, "No scores yet.");
    return;
  }
  const values = points.flatMap((p) => [p.score, p.report]).concat([curve.threshold]);
  const known = values.filter((v) => v !== null && v !== undefined);
  const pad = (Math.max(...known) - Math.min(...known)) * 0.12 || 0.05;
  const y = scale(Math.min(...known) - pad, Math.max(...known) + pad, H - bottom, top);
  const xMax = Math.max(curve.layersTotal ? curve.layersTotal - 1 : 1, ...points.map((p) => p.removed), 1);
  const x = scale(0, xMax, left, W - right);

  for (const t of ticks(Math.min(...known) - pad, Math.max(...known) + pad, 5)) {
    svg("line", { x1: left, x2: W - right, y1: y(t), y2: y(t), class: "gridline" }, root);
    svg("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end", class: "tick" }, root, t.toFixed(2));
  }
  for (let removed = 0; removed <= xMax; removed += 1) {
    svg("text", { x: x(removed), y: H - bottom + 16, "text-anchor": "middle", class: "tick" }, root, removed);
  }
  svg("text", { x: (left + W - right) / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, root, "layers removed");
  svg("text", { x: 14, y: (top + H - bottom) / 2, class: "axis", transform: `rotate(-90 14 ${(top + H - bottom) / 2})`, "text-anchor": "middle" }, root, "score");

  if (curve.threshold !== null && curve.threshold !== undefined) {
    const ty = y(curve.threshold);
    svg("line", { x1: left, x2: W - right, y1: ty, y2: ty, class: "threshold" }, root);
    svg("text", { x: W - right + 6, y: ty + 4, class: "threshold-label" }, root, `threshold ${fmt(curve.threshold)}`);
  }
  const line = (series, cls) => {
    const pts = series.map((p) => `${x(p.removed)},${y(p[cls === "report" ? "report" : "score"])}`).join(" ");
    if (series.length > 1) svg("polyline", { points: pts, class: `series ${cls}` }, root);
  };
  const accepted = points.filter((p) => p.accepted);
  line(points.filter((p) => p.report !== null && p.report !== undefined), "report");
  line(accepted, "selection");
  for (const p of points) {
    const dot = svg("circle", {
      cx: x(p.removed), cy: y(p.score), r: 4.5,
      class: `point ${p.accepted ? "accepted" : "rejected"}`, "data-removed": p.removed,
    }, root);
    svg("title", {}, dot, `${p.label}: score ${fmt(p.score)}, report ${fmt(p.report)}${p.accepted ? "" : " (below the threshold)"}`);
  }
  const legend = svg("g", { transform: `translate(${W - right + 6}, ${top + 4})`, class: "legend" }, root);
  svg("line", { x1: 0, x2: 18, y1: 0, y2: 0, class: "series selection" }, legend);
  svg("text", { x: 24, y: 4 }, legend, "selection half");
  svg("line", { x1: 0, x2: 18, y1: 18, y2: 18, class: "series report" }, legend);
  svg("text", { x: 24, y: 22 }, legend, "report half");
}

// Light to dark blue as `t` goes from 0 to 1.
function shade(t) {
  const lo = [239, 246, 255], hi = [30, 64, 175];
  const c = lo.map((v, i) => Math.round(v + (hi[i] - v) * Math.min(1, Math.max(0, t))));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// The layer x round heat-map. `rounds`: the API's rounds; `layersTotal`: the model's depth.
function drawHeatmap(root, rounds, layersTotal) {
  clear(root);
  const layers = Math.max(layersTotal || 0, ...rounds.flatMap((r) => r.candidates.map((c) => c.layer + 1)), 0);
  const cellW = Math.max(44, Math.min(110, 700 / Math.max(rounds.length, 1))), cellH = 26;
  const left = 70, top = 34, W = Math.max(900, left + rounds.length * cellW + 120);
  const H = top + layers * cellH + 30;
  root.setAttribute("viewBox", `0 0 ${W} ${H}`);
  if (!rounds.length) {
    svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, root, "No finished round yet.");
    return;
  }
  const scores = rounds.flatMap((r) => r.candidates.map((c) => c.score));
  const lo = Math.min(...scores), hi = Math.max(...scores);
  const t = scale(lo, hi, 0, 1);
  rounds.forEach((round, col) => {
    svg("text", { x: left + col * cellW + cellW / 2, y: top - 10, "text-anchor": "middle", class: "tick" }, root, `round ${round.round}`);
  });
  for (let layer = 0; layer < layers; layer += 1) {
    svg("text", { x: left - 8, y: top + layer * cellH + cellH / 2 + 4, "text-anchor": "end", class: "tick" }, root, `layer ${layer}`);
  }
  rounds.forEach((round, col) => {
    for (const c of round.candidates) {
      const winner = c.layer === round.removed_layer;
      const cell = svg("rect", {
        x: left + col * cellW + 1, y: top + c.layer * cellH + 1, width: cellW - 2, height: cellH - 2,
        fill: shade(t(c.score)), class: `cell${winner ? " winner" : ""}${winner && !round.accepted ? " rejected" : ""}`,
        "data-round": round.round, "data-layer": c.layer,
      }, root);
      const verdict = !winner ? "" : round.accepted ? " (removed)" : " (best, but below the threshold: kept)";
      svg("title", {}, cell, `round ${round.round}, without layer ${c.layer}: ${fmt(c.score)}${verdict}`);
      if (cellW >= 44) {
        svg("text", {
          x: left + col * cellW + cellW / 2, y: top + c.layer * cellH + cellH / 2 + 4, "text-anchor": "middle",
          class: t(c.score) > 0.55 ? "cell-label dark" : "cell-label",
        }, root, c.score.toFixed(3));
      }
    }
  });
  const key = svg("g", { transform: `translate(${left + rounds.length * cellW + 16}, ${top})`, class: "legend" }, root);
  for (let i = 0; i < 5; i += 1) {
    svg("rect", { x: 0, y: i * 14, width: 14, height: 14, fill: shade(1 - i / 4) }, key);
  }
  svg("text", { x: 20, y: 11 }, key, fmt(hi));
  svg("text", { x: 20, y: 69 }, key, fmt(lo));
  svg("rect", { x: 0, y: 86, width: 14, height: 14, class: "cell winner", fill: "none" }, key);
  svg("text", { x: 20, y: 97 }, key, "removed");
  svg("rect", { x: 0, y: 108, width: 14, height: 14, class: "cell winner rejected", fill: "none" }, key);
  svg("text", { x: 20, y: 119 }, key, "best, rejected");
}
