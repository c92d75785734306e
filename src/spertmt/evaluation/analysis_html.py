"""Render an :class:`~spertmt.evaluation.analysis.ErrorAnalysis` as one self-contained HTML page.

The page has inline CSS only (no JavaScript, fonts or network) in the style of the prediction
view (:mod:`spertmt.inference.render`): the scores, entity errors by kind with IoU buckets and
shapes, relation errors by cause on the gold and on the predicted side, the two confusion
matrices (cells shaded by count, the diagonal outlined) and, per error kind, example sentences
with the gold span underlined in green and the predicted one boxed in red. The output is
deterministic and also well-formed XML.
"""

from __future__ import annotations

from collections.abc import Sequence

from spertmt.evaluation.analysis import ErrorAnalysis, ErrorExample
from spertmt.html_page import escape as _esc
from spertmt.html_page import page

__all__ = ["render_analysis_html"]

CONTEXT_WORDS = 12
"""Words shown on each side of an example's spans; the rest of a long sentence is elided."""

_CSS = """
body{margin:24px;background:#f6f8fa;color:#1f2328;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;font-size:14px}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:16px;margin:22px 0 8px}
h3{font-size:14px;margin:14px 0 6px}
.summary{color:#57606a;margin:0 0 12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;
margin:0 0 14px;overflow-x:auto}
.row{display:flex;flex-wrap:wrap;gap:14px}
table{border-collapse:collapse;font-size:13px;margin:4px 0}
caption{text-align:left;color:#57606a;padding:0 0 4px}
th,td{border:1px solid #d0d7de;padding:3px 9px;text-align:left}
th{background:#f6f8fa;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.diag{outline:2px solid #1a7f37;outline-offset:-2px}
.bar{display:inline-block;height:9px;background:#4e79a7;border-radius:2px;vertical-align:middle}
details{margin:6px 0}
summary{cursor:pointer;font-weight:600}
summary:focus{outline:2px solid #0969da;outline-offset:2px}
ol.examples{margin:6px 0;padding-left:22px}
ol.examples li{margin:0 0 8px}
.sent{font-family:"DejaVu Sans Mono",Menlo,Consolas,"Liberation Mono",monospace;font-size:13px;
line-height:1.9}
.g{border-bottom:3px solid #1a7f37}
.p{outline:2px solid #cf222e;outline-offset:1px;border-radius:3px}
.meta{color:#57606a;font-size:12px}
.key{font-size:12px;color:#57606a;margin:0 0 8px}
"""


def _counts_table(caption: str, counts: dict[str, int], total: int | None = None) -> str:
    total = sum(counts.values()) if total is None else total
    rows = [f"<table><caption>{_esc(caption)}</caption>"]
    rows.append(
        '<tr><th scope="col">kind</th><th scope="col">count</th><th scope="col">share</th></tr>'
    )
    if not counts or not any(counts.values()):
        # One "none" row, not a row of zeros for every kind under it.
        rows.append('<tr><td colspan="3">none</td></tr>')
        counts = {}
    for kind, count in counts.items():
        share = count / total if total else 0.0
        rows.append(
            f'<tr><th scope="row">{_esc(kind)}</th><td class="n">{count}</td>'
            f'<td><span class="bar" style="width:{round(120 * share)}px"></span> '
            f"{100 * share:.1f}%</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _matrix_table(caption: str, matrix: dict[str, dict[str, int]]) -> str:
    labels = list(matrix)
    peak = max((v for row in matrix.values() for v in row.values()), default=0) or 1
    out = [
        f"<table><caption>{_esc(caption)}</caption>",
        '<tr><th scope="col">gold \\ predicted</th>',
    ]
    out[-1] += "".join(f'<th scope="col">{_esc(p)}</th>' for p in labels) + "</tr>"
    for g in labels:
        cells = []
        for p in labels:
            value = matrix[g][p]
            shade = f"background:rgba(78,121,167,{0.08 + 0.6 * value / peak:.2f})" if value else ""
            cls = "n diag" if g == p and g != "none" else "n"
            cells.append(f'<td class="{cls}" style="{shade}">{value or ""}</td>')
        out.append(f'<tr><th scope="row">{_esc(g)}</th>{"".join(cells)}</tr>')
    out.append("</table>")
    return "\n".join(out)


def _sentence(example: ErrorExample) -> str:
    tokens = example.tokens
    spans = [*example.gold, *example.pred]
    if spans:
        low = max(min(s[0] for s in spans) - CONTEXT_WORDS, 0)
        high = min(max(s[1] for s in spans) + CONTEXT_WORDS, len(tokens))
    else:
        low, high = 0, min(len(tokens), 2 * CONTEXT_WORDS)
    words = []
    for i in range(low, high):
        classes = []
        if any(s[0] <= i < s[1] for s in example.gold):
            classes.append("g")
        if any(s[0] <= i < s[1] for s in example.pred):
            classes.append("p")
        word = _esc(tokens[i])
        words.append(f'<span class="{" ".join(classes)}">{word}</span>' if classes else word)
    text = " ".join(words)
    return ("… " if low > 0 else "") + text + (" …" if high < len(tokens) else "")


def _examples(kind: str, examples: Sequence[ErrorExample]) -> str:
    items = []
    for example in examples:
        where = f"document {example.doc_index}"
        if example.orig_id is not None:
            where += f" (id {example.orig_id})"
        iou = f" · IoU {example.iou:.2f}" if example.iou is not None else ""
        items.append(
            f'<li><div class="sent">{_sentence(example)}</div>'
            f'<div class="meta">{_esc(where)}{iou} · gold: {_esc(example.gold_text)} · '
            f"predicted: {_esc(example.pred_text)}</div></li>"
        )
    return (
        f"<details><summary>{_esc(kind)} ({len(examples)} shown)</summary>\n"
        f'<ol class="examples">{"".join(items)}</ol></details>'
    )


def render_analysis_html(analysis: ErrorAnalysis, *, title: str = "spertmt error analysis") -> str:
    """Render the analysis as a self-contained HTML page (see the module docstring).

    Args:
        analysis: The result of :func:`~spertmt.evaluation.analysis.analyze_documents`.
        title: Page title and heading.

    Returns:
        The page, as a string.

    Example:
        >>> from spertmt.evaluation.analysis import analyze_documents
        >>> from spertmt.schema import Document, Entity
        >>> doc = Document(("Ann", "met", "Bob"), (Entity("Peop", 0, 1),))
        >>> page = render_analysis_html(analyze_documents([doc], [Document(doc.tokens)]))
        >>> page.startswith("<!DOCTYPE html>") and "missed" in page
        True
    """
    a = analysis
    parts = [
        f'<p class="summary">{a.documents} documents · entities: {a.gold_entities} gold, '
        f"{a.pred_entities} predicted, {a.entity_correct} correct · relations: "
        f"{a.gold_relations} gold, {a.pred_relations} predicted, {a.relation_correct} "
        "correct</p>",
    ]
    if a.scores is not None:
        rows = [
            "<table><caption>Scores (SpERT-compatible, micro, %)</caption>",
            '<tr><th scope="col">setting</th><th scope="col">precision</th>'
            '<th scope="col">recall</th><th scope="col">F1</th></tr>',
        ]
        for name in ("entity", "relation_boundaries", "relation_strict"):
            micro = getattr(a.scores, name).micro
            rows.append(
                f'<tr><th scope="row">{name.replace("_", " ")}</th>'
                f'<td class="n">{micro.precision:.2f}</td><td class="n">{micro.recall:.2f}</td>'
                f'<td class="n">{micro.f1:.2f}</td></tr>'
            )
        rows.append("</table>")
        parts.append('<div class="card">' + "\n".join(rows) + "</div>")

    errors = sum(a.entity_errors.values())
    parts += [
        '<h2 id="entities">Entity errors</h2>',
        '<div class="card row">',
        _counts_table(f"By kind ({errors} errors)", a.entity_errors),
        _counts_table("Boundary errors by IoU", a.boundary_iou),
        _counts_table("Boundary errors by shape", a.boundary_shape),
        "</div>",
        '<h2 id="relations">Relation errors (strict)</h2>',
        '<div class="card row">',
        _counts_table(
            f"Gold relations not predicted ({sum(a.gold_relation_errors.values())}), by cause",
            a.gold_relation_errors,
        ),
        _counts_table(
            f"Predicted relations not in gold ({sum(a.pred_relation_errors.values())}), by cause",
            a.pred_relation_errors,
        ),
        "</div>",
        '<h2 id="confusion">Confusion matrices</h2>',
        '<div class="card row">',
        _matrix_table("Entities (one-to-one pairs by span overlap)", a.entity_confusion),
        _matrix_table("Relations (per ordered pair of entity spans)", a.relation_confusion),
        "</div>",
        '<h2 id="examples">Examples</h2>',
        '<div class="card">',
        '<p class="key"><span class="g">gold span</span> · '
        '<span class="p">predicted span</span></p>',
    ]
    if not a.examples:
        parts.append("<p>No errors.</p>")
    parts += [_examples(kind, examples) for kind, examples in a.examples.items()]
    parts.append("</div>")
    return page(title, _CSS, parts)
