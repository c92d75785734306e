"""A page for people, for ``spertmt serve`` to show at ``/``: paste text, see what the model finds.

:func:`web_page_html` returns one self-contained HTML page (inline CSS and JavaScript, no
fonts, images or network beyond the server that serves it). It talks to the server's own
``GET info`` and ``POST predict`` (relative URLs, so it also works behind a path prefix):

- paste text, or upload a ``.txt`` file (one document per non-empty line) or a ``.json`` /
  ``.jsonl`` file of SpERT documents (their ``tokens`` are sent);
- entities are highlighted in the colour of their type (the palette of the HTML export,
  :mod:`spertmt.inference.render`) with the label and score; relations are arcs from head to
  tail above the words (arrows at both ends for symmetric types), also listed in a table;
- the thresholds, the entity rule and overlap handling can be changed; the result is
  predicted again (Ctrl+Enter, the button, or any change of an option);
- the last answer can be downloaded as JSON; an API key, when the server needs one, is sent
  as ``X-API-Key``.

Everything is reachable with the keyboard (native form controls with labels, a visible
focus ring, a live region announcing the status). All text from the model is inserted as
text, never as HTML.

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

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>spertmt</title>
<style>
body{margin:24px;background:#f6f8fa;color:#1f2328;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;font-size:14px}
h1{font-size:20px;margin:0 0 4px}
.summary{color:#57606a;margin:0 0 12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;margin:0 0 14px}
textarea{width:100%;min-height:110px;box-sizing:border-box;font:14px/1.4 monospace}
fieldset{border:1px solid #d0d7de;border-radius:6px;margin:8px 0;display:flex;flex-wrap:wrap;
gap:8px 18px;align-items:center}
label{font-size:13px}
input[type=number]{width:5.5em}
button{font-size:14px;padding:4px 12px;border-radius:6px;border:1px solid #8c959f;background:#f6f8fa;
cursor:pointer}
button.primary{background:#1f883d;color:#fff;border-color:#1a7f37}
:focus-visible{outline:2px solid #0969da;outline-offset:2px}
.doc{position:relative;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;
margin:0 0 14px;overflow-x:auto}
.words{position:relative;line-height:2.6;font:14px/2.6 "DejaVu Sans Mono",Menlo,Consolas,monospace;
white-space:normal}
.ent{border-radius:4px;padding:2px 3px;border:1.5px solid}
.lab{font:700 10px system-ui,sans-serif;vertical-align:super;margin-left:2px}
svg.arcs{position:absolute;left:0;top:0;pointer-events:none;overflow:visible}
svg.arcs path{fill:none;stroke:#57606a;stroke-width:1.4}
svg.arcs text{font:600 10px system-ui,sans-serif;fill:#24292f}
table{border-collapse:collapse;font-size:12px;margin:8px 0 2px}
th,td{border:1px solid #d0d7de;padding:2px 8px;text-align:left}
th{background:#f6f8fa}
.error{color:#cf222e}
</style>
</head>
<body>
<h1>spertmt</h1>
<p class="summary" id="model">Joint entity and relation extraction.</p>
<div class="card">
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
<button class="primary" id="go" type="button">Predict</button>
<button id="download" type="button" disabled="disabled">Download JSON</button>
<span id="status" role="status" aria-live="polite"></span>
</div>
<div id="out"></div>
<script>
"use strict";
const PALETTE = __PALETTE__;
let colours = {}, symmetric = new Set(), inputs = null, last = null;
const $ = (id) => document.getElementById(id);
function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function colour(type) {
  if (!(type in colours)) colours[type] = PALETTE[Object.keys(colours).length % PALETTE.length];
  return colours[type];
}
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
    (data.entity_types || []).forEach((t) => colour(t.name));
    symmetric = new Set((data.relation_types || []).filter((t) => t.symmetric).map((t) => t.name));
    $("model").textContent = "Entities: " + (data.entity_types || []).map((t) => t.name).join(", ")
      + " · relations: " + (data.relation_types || []).map((t) => t.name).join(", ");
  } catch (e) { /* the page still works without /info */ }
}
function request() {
  const body = inputs || {texts: [$("text").value]};
  for (const id of ["entity_threshold", "relation_threshold", "iou_threshold"]) {
    if ($(id).value !== "") body[id] = Number($(id).value);
    else delete body[id];
  }
  for (const id of ["entity_score", "entity_overlap"]) {
    if ($(id).value) body[id] = $(id).value; else delete body[id];
  }
  return body;
}
async function predict() {
  $("status").textContent = "predicting…";
  try {
    const r = await fetch("predict", {method: "POST", headers: headers(),
                                      body: JSON.stringify(request())});
    const data = await r.json();
    if (!r.ok) throw new Error((data.error && (data.error.code + " " + data.error.message))
                               || r.statusText);
    last = data;
    $("download").disabled = false;
    render(data.documents || []);
    $("status").textContent = (data.documents || []).length + " document(s)";
  } catch (e) {
    $("status").textContent = "";
    $("out").replaceChildren(el("p", {class: "error", role: "alert"}, String(e.message || e)));
  }
}
function render(documents) {
  const out = $("out");
  out.replaceChildren();
  documents.forEach((doc, d) => {
    const section = el("section", {class: "doc", "aria-label": "document " + d});
    const words = el("div", {class: "words"});
    const start = new Map(), inside = new Array(doc.tokens.length).fill(null);
    doc.entities.forEach((e, i) => { if (!start.has(e.start)) start.set(e.start, i); });
    const nodes = [];
    let i = 0;
    while (i < doc.tokens.length) {
      if (start.has(i)) {
        const k = start.get(i), e = doc.entities[k], c = colour(e.type);
        const span = el("span", {class: "ent", title: e.type + " · score " + e.score.toFixed(3),
                                 style: "border-color:" + c + ";background:" + c + "22"});
        span.append(doc.tokens.slice(e.start, e.end).join(" "));
        const lab = el("span", {class: "lab", style: "color:" + c}, e.type);
        span.append(lab);
        nodes[k] = span;
        words.append(span, " ");
        i = Math.max(e.end, i + 1);
      } else {
        words.append(doc.tokens[i] + " ");
        i += 1;
      }
    }
    section.append(words);
    if (doc.relations.length) {
      const table = el("table");
      const head = el("tr");
      ["head", "relation", "tail", "score"].forEach((h) => head.append(el("th", {scope: "col"}, h)));
      table.append(head);
      doc.relations.forEach((r) => {
        const row = el("tr");
        const h = doc.entities[r.head], t = doc.entities[r.tail];
        row.append(el("td", {}, doc.tokens.slice(h.start, h.end).join(" ")),
                   el("td", {}, r.type + (symmetric.has(r.type) ? " ↔" : " →")),
                   el("td", {}, doc.tokens.slice(t.start, t.end).join(" ")),
                   el("td", {}, r.score.toFixed(3)));
        table.append(row);
      });
      section.append(table);
    }
    out.append(section);
    requestAnimationFrame(() => arcs(section, words, doc, nodes));
  });
}
function arcs(section, words, doc, nodes) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "arcs");
  svg.setAttribute("aria-hidden", "true");
  const box = words.getBoundingClientRect();
  svg.setAttribute("width", box.width);
  svg.setAttribute("height", box.height);
  const ordered = doc.relations.map((r, k) => [Math.abs(r.tail - r.head), k]).sort((a, b) => a[0] - b[0]);
  ordered.forEach(([, k], level) => {
    const r = doc.relations[k], a = nodes[r.head], b = nodes[r.tail];
    if (!a || !b) return;
    const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
    if (Math.abs(ra.top - rb.top) > 4) return;  // on different lines: the table shows it
    const x1 = ra.left + ra.width / 2 - box.left, x2 = rb.left + rb.width / 2 - box.left;
    const y = ra.top - box.top + 2, top = y - 10 - 7 * (level % 4);
    const path = document.createElementNS(ns, "path");
    const arrow = (x) => ` M${x - 3},${y - 5} L${x},${y} L${x + 3},${y - 5}`;
    path.setAttribute("d", `M${x1},${y} L${x1},${top} L${x2},${top} L${x2},${y}` + arrow(x2)
                      + (symmetric.has(r.type) ? arrow(x1) : ""));
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", (x1 + x2) / 2);
    label.setAttribute("y", top - 2);
    label.setAttribute("text-anchor", "middle");
    label.textContent = r.type;
    svg.append(path, label);
  });
  words.append(svg);
}
$("file").addEventListener("change", async () => {
  const file = $("file").files[0];
  if (!file) { inputs = null; return; }
  const text = await file.text();
  try {
    if (file.name.endsWith(".txt")) {
      inputs = {texts: text.split("\\n").filter((line) => line.trim())};
    } else {
      const docs = file.name.endsWith(".jsonl")
        ? text.split("\\n").filter((l) => l.trim()).map((l) => JSON.parse(l)) : JSON.parse(text);
      inputs = {tokens: docs.map((d) => d.tokens)};
    }
    predict();
  } catch (e) {
    inputs = null;
    $("status").textContent = "cannot read " + file.name + ": " + e.message;
  }
});
$("text").addEventListener("input", () => { inputs = null; $("file").value = ""; });
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); predict(); }
});
for (const id of ["entity_threshold", "relation_threshold", "iou_threshold", "entity_score",
                  "entity_overlap"]) $(id).addEventListener("change", predict);
$("go").addEventListener("click", predict);
$("download").addEventListener("click", () => {
  const url = URL.createObjectURL(new Blob([JSON.stringify(last, null, 2)],
                                           {type: "application/json"}));
  const a = el("a", {href: url, download: "predictions.json"});
  document.body.append(a); a.click(); a.remove(); URL.revokeObjectURL(url);
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
