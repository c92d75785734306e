"""A page for people, for ``spertmt serve`` to show at ``/``: paste text, see what the model finds.

:func:`web_page_html` returns one self-contained HTML page (inline CSS and JavaScript, no
fonts, images or network beyond the server that serves it; an empty ``data:`` icon keeps the
browser from asking for ``/favicon.ico``). It talks to the server's own ``GET info`` and
``POST predict`` (relative URLs, so it also works behind a path prefix):

- paste text, or upload a ``.txt`` file (one document per non-empty line) or a ``.json`` /
  ``.jsonl`` file of SpERT documents (their ``tokens`` are sent);
- each document is drawn as the HTML export draws it (:mod:`spertmt.inference.render`, the
  same geometry and palette): entities are boxes tinted in the colour of their type with a
  label strip under the words, nested and overlapping entities are stacked in levels (never
  hidden), relations are arcs from head to tail above the words (arrows at both ends for
  symmetric types, stacked so that neither arcs nor labels collide), and long documents wrap,
  breaking where no entity is cut if that keeps half a line. The words are HTML text laid out
  by the browser; the boxes and arcs are an SVG behind them, placed from the words' measured
  widths. Every entity and relation, with its score, is also in tables under the document
  (open when a relation could not be drawn, e.g. its entities are on different lines);
- the thresholds, the entity rule and overlap handling can be changed; the result is
  predicted again (Enter in a field, Ctrl+Enter in the text, the button, or any change of an
  option), and only the answer to the latest request is shown. The model's own values are the
  placeholders; a threshold the model cannot use (``entity_threshold`` without head A, the
  IoU threshold without the IoU head) is switched off, since the server refuses the first;
- the last answer can be downloaded as JSON; an API key, when the server needs one, is sent
  as ``X-API-Key``.

Everything is reachable with the keyboard (one form of native controls with labels, a visible
focus ring, a live region announcing the status). All text from the model is inserted as
text, never as HTML. ``tests/unit/browser`` drives the page in Chromium.

To mount it (in ``spertmt.serve.app``), serve it at ``GET /`` without the API key check, so
the page can ask for the key::

    from fastapi.responses import HTMLResponse
    from spertmt.inference.web_page import web_page_html

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(web_page_html())
"""

# ruff: noqa: E501  (the page's CSS and JavaScript keep their natural line lengths)
from __future__ import annotations

import json

from spertmt.inference.render import PALETTE

__all__ = ["web_page_html"]

_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<link rel="icon" href="data:,"/>
<title>spertmt</title>
<style>
body{margin:24px;background:#f6f8fa;color:#1f2328;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;font-size:14px}
h1{font-size:20px;margin:0 0 4px}
.summary{color:#57606a;margin:0 0 12px}
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;margin:0 0 14px}
.legend:empty{display:none}
.legend b{font-weight:600;margin-right:2px}
.chip{display:inline-block;padding:1px 7px;border-radius:4px;font-size:12px;font-weight:600}
.rel{font-size:12px;color:#57606a}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;margin:0 0 14px}
textarea{width:100%;min-height:90px;box-sizing:border-box;font:14px/1.4 monospace}
fieldset{border:1px solid #d0d7de;border-radius:6px;margin:8px 0;display:flex;flex-wrap:wrap;
gap:8px 18px;align-items:center}
label{font-size:13px}
input[type=number]{width:5.5em}
input:disabled{background:#eaeef2}
button{font-size:14px;padding:4px 12px;border-radius:6px;border:1px solid #8c959f;background:#f6f8fa;
cursor:pointer}
button.primary{background:#1f883d;color:#fff;border-color:#1a7f37}
:focus-visible{outline:2px solid #0969da;outline-offset:2px}
.doc{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;
margin:0 0 14px;overflow-x:auto}
.doc-header{margin:0 0 6px;font-size:13px;color:#57606a}
.doc-header b{color:#1f2328;font-size:14px}
.empty{color:#57606a;font-style:italic;margin:4px 0}
.line{position:relative;isolation:isolate;box-sizing:border-box;white-space:nowrap;font-size:0}
.tok{display:inline-block;vertical-align:top;text-align:center;white-space:pre;unicode-bidi:isolate;
font:14px/22px "DejaVu Sans Mono",Menlo,Consolas,"Liberation Mono",monospace}
svg.marks{position:absolute;left:0;top:0;z-index:-1}
svg.marks text{font-family:"DejaVu Sans Mono",Menlo,Consolas,"Liberation Mono",monospace}
.elabel{font-size:10px;font-weight:700}
.arc path{fill:none;stroke:#57606a;stroke-width:1.4}
.arc path.arrow{fill:#57606a;stroke:none}
.rlabel rect{fill:#fff;fill-opacity:.92}
.rlabel text{font-size:10px;font-weight:600;fill:#24292f}
details{margin:6px 0 0;font-size:13px}
summary{cursor:pointer;color:#57606a}
.tables{display:flex;flex-wrap:wrap;gap:4px 18px;align-items:flex-start}
table{border-collapse:collapse;font-size:12px;margin:6px 0 2px}
caption{text-align:left;color:#57606a;padding:0 0 3px}
th,td{border:1px solid #d0d7de;padding:2px 8px;text-align:left;unicode-bidi:isolate}
th{background:#f6f8fa;font-weight:600}
.error{color:#cf222e}
</style>
</head>
<body>
<h1>spertmt</h1>
<p class="summary" id="model">Joint entity and relation extraction.</p>
<div class="legend" id="legend"></div>
<form class="card" id="form" novalidate="novalidate">
<label for="text">Text (one document; Ctrl+Enter predicts)</label>
<textarea id="text">John Smith lives in Paris. He works for Acme Corp.</textarea>
<p><label for="file">Or a file (.txt: one document a line; .json/.jsonl: SpERT documents)</label>
<input type="file" id="file" accept=".txt,.json,.jsonl"/></p>
<fieldset><legend>Decision rule (empty: the model's)</legend>
<label>entity threshold <input type="number" id="entity_threshold" min="0" max="1" step="0.05"/></label>
<label>relation threshold <input type="number" id="relation_threshold" min="0" max="1" step="0.05"/></label>
<label>IoU threshold <input type="number" id="iou_threshold" min="0" max="1" step="0.05"/></label>
<label>entity rule <select id="entity_score"><option value="">model's</option>
<option>gate</option><option>product</option></select></label>
<label>overlap <select id="entity_overlap"><option value="">model's</option>
<option>allow</option><option>resolve</option></select></label>
<label>API key <input type="password" id="key" autocomplete="off"/></label>
</fieldset>
<button class="primary" id="go" type="submit">Predict</button>
<button id="download" type="button" disabled="disabled">Download JSON</button>
<span id="status" role="status" aria-live="polite"></span>
</form>
<div id="out"></div>
<script>
"use strict";
const PALETTE = __PALETTE__;
// Layout of a document, in px: the same geometry as the HTML export (spertmt.inference.render).
const PAD_X = 4, LEVEL_PAD_X = 3, PAD_Y = 3, LEVEL_PAD_Y = 5, STRIP = 14, STRIP_GAP = 3,
      STRIP_TEXT_PAD = 4, WORD_GAP = 12, BOX_SEPARATION = 4, ROW = 22, MARGIN_X = 8,
      MARGIN_TOP = 6, MARGIN_BOTTOM = 6, ARC_RISE = 16, ARC_STEP = 22, ARC_SEPARATION = 6,
      ARC_CORNER = 6, FOOT_STEP = 10, ARROW = 7, LABEL_CHAR = 6, LABEL_PAD = 3,
      LABEL_HEIGHT = 14, LINE_MIN_FILL = 0.5;
const SVG_NS = "http://www.w3.org/2000/svg";
const THRESHOLDS = ["entity_threshold", "relation_threshold", "iou_threshold"];
const CHOICES = ["entity_score", "entity_overlap"];
let colours = {}, symmetric = new Set(), decision = null;
let inputs = null, source = null, last = null, asked = 0;
const $ = (id) => document.getElementById(id);
function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function colour(type) {
  if (!(type in colours)) colours[type] = PALETTE[Object.keys(colours).length % PALETTE.length];
  return colours[type];
}
function luminance(hex) {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function textColour(background) {  // dark or white text, whichever contrasts more
  const l = luminance(background);
  return (1.05 / (l + 0.05) >= (l + 0.05) / (luminance("#1f2328") + 0.05)) ? "#ffffff" : "#1f2328";
}
function setStatus(text) { $("status").textContent = text; }
function headers() {
  const h = {"Content-Type": "application/json"};
  if ($("key").value) h["X-API-Key"] = $("key").value;
  return h;
}
async function info() {
  try {
    const r = await fetch("info", {headers: headers()});
    if (!r.ok) return;
    const data = await r.json();
    const entities = data.entity_types || [], relations = data.relation_types || [];
    entities.forEach((t) => colour(t.name));
    symmetric = new Set(relations.filter((t) => t.symmetric).map((t) => t.name));
    decision = data.decision || null;
    $("model").textContent = "Model: " + data.encoder + " on " + data.device
      + " · spertmt " + data.spertmt_version;
    const legend = $("legend");
    legend.replaceChildren(el("b", {}, "Entities"));
    entities.forEach((t) => {
      const c = colour(t.name);
      legend.append(el("span", {class: "chip", title: t.description || t.name,
                                style: "background:" + c + ";color:" + textColour(c)}, t.name));
    });
    legend.append(el("b", {}, "Relations"));
    relations.forEach((t) => legend.append(
      el("span", {class: "rel", title: t.description || t.name},
         t.name + (t.symmetric ? " ↔" : " →"))));
    options();
  } catch (e) { /* the page still works without /info */ }
}
// The model's rule as placeholders; a threshold the model cannot use is switched off.
function options() {
  if (!decision) return;
  for (const id of THRESHOLDS) $(id).placeholder = String(decision[id]);
  const product = ($("entity_score").value || decision.entity_score) === "product";
  const reasons = {
    entity_threshold: decision.entity_binary_head || (decision.iou_mode === "head" && product)
      ? "" : "this model decides entities by arg-max (no binary entity head)",
    iou_threshold: decision.iou_mode === "head" ? "" : "this model has no IoU head",
  };
  for (const [id, reason] of Object.entries(reasons)) {
    $(id).disabled = Boolean(reason);
    $(id).title = reason;
    if (reason) { $(id).value = ""; $(id).placeholder = "unused"; }
  }
}
function request() {
  const body = Object.assign({}, inputs || {texts: [$("text").value]});
  for (const id of THRESHOLDS) {
    if ($(id).value !== "" && !$(id).disabled) body[id] = Number($(id).value);
  }
  for (const id of CHOICES) if ($(id).value) body[id] = $(id).value;
  return body;
}
async function predict() {
  const ticket = ++asked;  // only the answer to the latest request is shown
  setStatus("predicting…");
  try {
    const r = await fetch("predict", {method: "POST", headers: headers(),
                                      body: JSON.stringify(request())});
    const data = await r.json().catch(() => ({}));
    if (ticket !== asked) return;
    if (!r.ok) {
      throw new Error((data.error && (data.error.code + " " + data.error.message))
                      || (r.status + " " + r.statusText));
    }
    last = data;
    $("download").disabled = false;
    render(data.documents || []);
    const n = (data.documents || []).length;
    setStatus(n + (n === 1 ? " document" : " documents") + (source ? " from " + source : ""));
  } catch (e) {
    if (ticket !== asked) return;
    setStatus("");
    $("out").replaceChildren(el("p", {class: "error", role: "alert"}, String(e.message || e)));
  }
}
function plural(n, one, many) { return n + " " + (n === 1 ? one : many || one + "s"); }
function words(doc, k) {
  const e = doc.entities[k];
  return e ? doc.tokens.slice(e.start, e.end).join(" ") + " [" + e.type + "]" : "#" + k + " (no such entity)";
}
function render(documents) {
  const out = $("out");
  out.replaceChildren();
  documents.forEach((doc, d) => {
    const section = el("section", {class: "doc", "aria-label": "document " + d});
    out.append(section);
    drawDocument(section, doc, d);
  });
}
// Stack overlapping entities: shorter spans lower; overlapping spans never share a level.
function entityLevels(doc) {
  const n = doc.tokens.length;
  const valid = (e) => Number.isInteger(e.start) && Number.isInteger(e.end)
    && 0 <= e.start && e.start < e.end && e.end <= n;
  const levels = doc.entities.map(() => null);
  const order = doc.entities.map((e, i) => i).filter((i) => valid(doc.entities[i]))
    .sort((a, b) => (doc.entities[a].end - doc.entities[a].start)
                    - (doc.entities[b].end - doc.entities[b].start)
                    || doc.entities[a].start - doc.entities[b].start || a - b);
  const placed = [];
  for (const i of order) {
    const e = doc.entities[i];
    let level = 0;
    for (const j of placed) {
      const o = doc.entities[j];
      if (o.start < e.end && e.start < o.end) level = Math.max(level, levels[j] + 1);
    }
    levels[i] = level;
    placed.push(i);
  }
  return levels;
}
function drawDocument(section, doc, d) {
  const n = doc.tokens.length;
  section.append(el("p", {class: "doc-header"}, "#" + d + " · " + plural(n, "word") + " · "
    + plural(doc.entities.length, "entity", "entities") + " · "
    + plural(doc.relations.length, "relation")));
  if (!n) { section.append(el("p", {class: "empty"}, "(no words)")); return; }
  const levels = entityLevels(doc);
  const padX = (level) => PAD_X + level * LEVEL_PAD_X;
  const leftPad = new Array(n).fill(0), rightPad = new Array(n).fill(0);
  doc.entities.forEach((e, i) => {
    if (levels[i] === null) return;
    leftPad[e.start] = Math.max(leftPad[e.start], padX(levels[i]));
    rightPad[e.end - 1] = Math.max(rightPad[e.end - 1], padX(levels[i]));
  });
  const gaps = doc.tokens.map((t, i) => (i < n - 1
    ? Math.max(WORD_GAP, rightPad[i] + leftPad[i + 1] + BOX_SEPARATION) : 0));
  // Measure the words once, in the font they are shown in.
  const measure = el("div", {class: "line"});
  const toks = doc.tokens.map((t, i) => el("span", {class: "tok", "data-token": i}, t));
  measure.append(...toks);
  section.append(measure);
  const widths = toks.map((t) => Math.max(t.getBoundingClientRect().width, 8));
  measure.remove();
  // Widen the words of an entity whose label is wider than its words (inner entities first).
  doc.entities.map((e, i) => i).filter((i) => levels[i] !== null)
    .sort((a, b) => levels[a] - levels[b] || a - b).forEach((i) => {
      const e = doc.entities[i];
      const needed = e.type.length * LABEL_CHAR + 2 * STRIP_TEXT_PAD - 2 * padX(levels[i]);
      let have = 0;
      for (let t = e.start; t < e.end; t++) have += widths[t] + (t < e.end - 1 ? gaps[t] : 0);
      if (needed > have) for (let t = e.start; t < e.end; t++) widths[t] += (needed - have) / (e.end - e.start);
    });
  const margin = MARGIN_X + Math.max(0, ...levels.filter((l) => l !== null).map(padX));
  // Lines: as many words as fit, breaking where no entity is cut if that keeps half a line.
  const style = getComputedStyle(section);
  const room = Math.max(section.clientWidth - parseFloat(style.paddingLeft)
                        - parseFloat(style.paddingRight) - 2 * margin, 200);
  const cuts = (b) => doc.entities.some((e, i) => levels[i] !== null && e.start < b && b < e.end);
  const lines = [];
  let start = 0;
  while (start < n) {
    let end = start + 1, width = widths[start];
    while (end < n && width + gaps[end - 1] + widths[end] <= room) {
      width += gaps[end - 1] + widths[end];
      end += 1;
    }
    if (end < n && cuts(end)) {
      let b = end - 1, w = width;
      while (b > start && cuts(b)) { w -= widths[b] + gaps[b - 1]; b -= 1; }
      if (b > start && w >= LINE_MIN_FILL * room) end = b;
    }
    lines.push([start, end]);
    start = end;
  }
  // Each relation goes on the first line that shows both of its entities.
  const onLine = lines.map(() => []), notDrawn = [];
  const shows = (e, [a, b]) => e.start < b && e.end > a;
  doc.relations.forEach((r, k) => {
    const h = doc.entities[r.head], t = doc.entities[r.tail];
    if (!h || !t || levels[r.head] === null || levels[r.tail] === null) {
      notDrawn.push([k, "no such entity"]);
    } else if (r.head === r.tail) {
      notDrawn.push([k, "head and tail are the same entity"]);
    } else {
      const line = lines.findIndex((l) => shows(h, l) && shows(t, l));
      if (line < 0) notDrawn.push([k, "entities on different lines"]);
      else onLine[line].push(k);
    }
  });
  lines.forEach((line, k) => section.append(
    drawLine(doc, line, toks, widths, gaps, levels, margin, onLine[k])));
  section.append(tables(doc, notDrawn));
}
function drawLine(doc, [start, end], toks, widths, gaps, levels, margin, relations) {
  const xs = [];
  let x = margin;
  for (let t = start; t < end; t++) { xs.push(x); x += widths[t] + (t < end - 1 ? gaps[t] : 0); }
  const width = x + margin;
  const pieces = new Map();
  doc.entities.forEach((e, i) => {
    if (levels[i] === null || e.end <= start || e.start >= end) return;
    const first = Math.max(e.start, start), lastTok = Math.min(e.end, end) - 1;
    const x0 = xs[first - start], x1 = xs[lastTok - start] + widths[lastTok];
    pieces.set(i, {x0, x1, centre: (x0 + x1) / 2, level: levels[i]});
  });
  const topLevel = Math.max(0, ...[...pieces.values()].map((p) => p.level));
  // Feet of the arcs: spread on each entity so that arcs nest instead of sharing a point.
  const ends = new Map();
  relations.forEach((k) => {
    const r = doc.relations[k];
    for (const [own, other, key] of [[r.head, r.tail, 2 * k], [r.tail, r.head, 2 * k + 1]]) {
      const offset = pieces.get(other).centre - pieces.get(own).centre;
      const side = offset < 0 ? 0 : 1;
      if (!ends.has(own)) ends.set(own, []);
      ends.get(own).push([side, Math.abs(offset) * (1 - 2 * side), key]);
    }
  });
  const feet = new Map();
  ends.forEach((items, own) => {
    const p = pieces.get(own);
    items.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    const step = items.length > 1 ? Math.min(FOOT_STEP, (p.x1 - p.x0) / (items.length - 1)) : 0;
    items.forEach(([, , key], rank) => feet.set(key, p.centre + (rank - (items.length - 1) / 2) * step));
  });
  const arcs = relations.map((k) => {
    const r = doc.relations[k], xh = feet.get(2 * k), xt = feet.get(2 * k + 1);
    const half = r.type.length * LABEL_CHAR / 2 + LABEL_PAD;
    const lx = Math.min(Math.max((xh + xt) / 2, half), width - half);
    return {k, r, xh, xt, lx, half, lo: Math.min(xh, xt, lx - half), hi: Math.max(xh, xt, lx + half)};
  });
  // Stack arcs: shorter arcs lower; arcs whose extents overlap never share a level.
  const placed = [];
  [...arcs].sort((a, b) => Math.abs(a.xt - a.xh) - Math.abs(b.xt - b.xh) || a.lo - b.lo || a.k - b.k)
    .forEach((a) => {
      a.level = 1;
      for (const b of placed) {
        if (b.lo < a.hi + ARC_SEPARATION && a.lo < b.hi + ARC_SEPARATION) a.level = Math.max(a.level, b.level + 1);
      }
      placed.push(a);
    });
  const arcLevels = Math.max(0, ...arcs.map((a) => a.level));
  const lowest = MARGIN_TOP + LABEL_HEIGHT / 2 + (arcLevels - 1) * ARC_STEP;
  const rowTop = (arcLevels ? lowest + ARC_RISE : MARGIN_TOP) + topLevel * LEVEL_PAD_Y + PAD_Y;
  const boxTop = (level) => rowTop - PAD_Y - level * LEVEL_PAD_Y;
  const boxBottom = (level) => rowTop + ROW + (level + 1) * STRIP + level * STRIP_GAP;
  const height = (pieces.size ? boxBottom(topLevel) : rowTop + ROW) + MARGIN_BOTTOM;

  const div = el("div", {class: "line"});
  div.style.cssText = "width:" + width + "px;height:" + height + "px;padding:" + rowTop + "px 0 0 "
    + margin + "px";
  for (let t = start; t < end; t++) {
    const tok = toks[t];
    tok.style.width = widths[t] + "px";
    tok.style.marginRight = (t < end - 1 ? gaps[t] : 0) + "px";
    div.append(tok);
    if (t < end - 1) div.append(" ");  // copied text keeps its spaces (font-size 0 here)
  }
  const svg = svgEl("svg", {class: "marks", width, height, "aria-hidden": "true"});
  [...pieces.entries()].sort((a, b) => b[1].level - a[1].level || a[1].x0 - b[1].x0 || a[0] - b[0])
    .forEach(([i, p]) => {
      const e = doc.entities[i], c = colour(e.type), pad = PAD_X + p.level * LEVEL_PAD_X;
      const bx = p.x0 - pad, bw = p.x1 - p.x0 + 2 * pad, top = boxTop(p.level), bottom = boxBottom(p.level);
      const g = svgEl("g", {class: "entity", "data-entity": i, "data-type": e.type});
      const score = typeof e.score === "number" ? " · score " + e.score.toFixed(3) : "";
      g.append(svgEl("title", {}, e.type + ": " + doc.tokens.slice(e.start, e.end).join(" ") + score));
      g.append(svgEl("rect", {x: bx, y: top, width: bw, height: bottom - top, rx: 4, fill: c,
                              "fill-opacity": 0.12, stroke: c, "stroke-width": 1.5}));
      const st = bottom - STRIP, r = 4;
      g.append(svgEl("path", {fill: c, d: `M${bx} ${st}H${bx + bw}V${bottom - r}Q${bx + bw} ${bottom} `
        + `${bx + bw - r} ${bottom}H${bx + r}Q${bx} ${bottom} ${bx} ${bottom - r}Z`}));
      g.append(svgEl("text", {class: "elabel", x: bx + STRIP_TEXT_PAD, y: st + STRIP / 2,
                              "dominant-baseline": "central", fill: textColour(c)},
                     (e.start < start ? "… " : "") + e.type));
      svg.append(g);
    });
  const labels = [];
  arcs.forEach((a) => {
    const y = lowest - (a.level - 1) * ARC_STEP;
    const yh = boxTop(pieces.get(a.r.head).level), yt = boxTop(pieces.get(a.r.tail).level);
    const dir = a.xt >= a.xh ? 1 : -1, rad = Math.min(ARC_CORNER, Math.abs(a.xt - a.xh) / 2);
    const tip = (x, y0) => `M${x} ${y0}L${x - ARROW / 2} ${y0 - ARROW}L${x + ARROW / 2} ${y0 - ARROW}Z`;
    const score = typeof a.r.score === "number" ? " · score " + a.r.score.toFixed(3) : "";
    const tooltip = a.r.type + ": " + words(doc, a.r.head)
      + (symmetric.has(a.r.type) ? " ↔ " : " → ") + words(doc, a.r.tail) + score;
    const g = svgEl("g", {class: "arc", "data-relation": a.k});
    g.append(svgEl("title", {}, tooltip));
    g.append(svgEl("path", {d: `M${a.xh} ${yh}V${y + rad}Q${a.xh} ${y} ${a.xh + dir * rad} ${y}`
      + `H${a.xt - dir * rad}Q${a.xt} ${y} ${a.xt} ${y + rad}V${yt}`}));
    g.append(svgEl("path", {class: "arrow", d: tip(a.xt, yt)}));
    if (symmetric.has(a.r.type)) g.append(svgEl("path", {class: "arrow", d: tip(a.xh, yh)}));
    svg.append(g);
    const label = svgEl("g", {class: "rlabel", "data-relation": a.k});
    label.append(svgEl("title", {}, tooltip));
    label.append(svgEl("rect", {x: a.lx - a.half, y: y - LABEL_HEIGHT / 2, width: 2 * a.half,
                                height: LABEL_HEIGHT, rx: 3}));
    label.append(svgEl("text", {x: a.lx, y, "text-anchor": "middle", "dominant-baseline": "central"},
                       a.r.type));
    labels.push(label);
  });
  svg.append(...labels);  // on top of every arc: a label's background hides arcs behind it
  div.append(svg);
  return div;
}
function tables(doc, notDrawn) {
  const details = el("details");
  if (notDrawn.length) details.open = true;
  details.append(el("summary", {}, "entities and relations as tables"
    + (notDrawn.length ? " (" + plural(notDrawn.length, "relation") + " not drawn as arcs)" : "")));
  const box = el("div", {class: "tables"});
  const table = (caption, head, rows) => {
    const t = el("table");
    t.append(el("caption", {}, caption));
    const tr = el("tr");
    head.forEach((h) => tr.append(el("th", {scope: "col"}, h)));
    t.append(tr);
    rows.forEach((cells) => {
      const row = el("tr");
      cells.forEach((c) => row.append(el("td", {}, c)));
      t.append(row);
    });
    return t;
  };
  const score = (s) => (typeof s === "number" ? s.toFixed(3) : "");
  const why = new Map(notDrawn);
  box.append(table("Entities", ["#", "type", "words", "score"], doc.entities.map((e, i) =>
    [String(i), e.type, doc.tokens.slice(e.start, e.end).join(" "), score(e.score)])));
  box.append(table("Relations", ["head", "relation", "tail", "score", "arc"], doc.relations.map((r, k) =>
    [words(doc, r.head), r.type + (symmetric.has(r.type) ? " ↔" : " →"), words(doc, r.tail),
     score(r.score), why.has(k) ? "not drawn: " + why.get(k) : "drawn"])));
  details.append(box);
  return details;
}
$("file").addEventListener("change", async () => {
  const file = $("file").files[0];
  if (!file) { inputs = null; source = null; return; }
  const text = await file.text();
  try {
    if (file.name.endsWith(".txt")) {
      inputs = {texts: text.split("\n").filter((line) => line.trim())};
    } else {
      let docs = file.name.endsWith(".jsonl")
        ? text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)) : JSON.parse(text);
      if (!Array.isArray(docs)) docs = [docs];
      inputs = {tokens: docs.map((d) => d.tokens)};
    }
    source = file.name;
    predict();
  } catch (e) {
    inputs = null;
    source = null;
    setStatus("cannot read " + file.name + ": " + e.message);
  }
});
$("text").addEventListener("input", () => { inputs = null; source = null; $("file").value = ""; });
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); predict(); }
});
for (const id of THRESHOLDS) $(id).addEventListener("change", predict);
for (const id of CHOICES) $(id).addEventListener("change", () => { options(); predict(); });
$("key").addEventListener("change", info);
$("form").addEventListener("submit", (e) => { e.preventDefault(); predict(); });
$("download").addEventListener("click", () => {
  const url = URL.createObjectURL(new Blob([JSON.stringify(last, null, 2)],
                                           {type: "application/json"}));
  const a = el("a", {href: url, download: "predictions.json"});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
});
let resizing = null;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => { if (last) render(last.documents || []); }, 150);
});
info();
</script>
</body>
</html>
"""


def web_page_html() -> str:
    """The page (see the module docstring), as a string.

    Example:
        >>> page = web_page_html()
        >>> page.startswith("<!DOCTYPE html>") and 'fetch("predict"' in page
        True
    """
    return _PAGE.replace("__PALETTE__", json.dumps(list(PALETTE)))
