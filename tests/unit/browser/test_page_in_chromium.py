"""The page of ``spertmt serve`` at ``/``, end to end: a real server, Debian's Chromium.

The tiny eager checkpoint (``tests/unit/samples.py``) finds an entity in every span of up to
four words (so entities nest and overlap), with relation scores around 0.5, so every option of
the decision rule changes what the page shows. Each test fails on any console error, uncaught
exception or request outside the server (the ``watched_page`` fixture).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from chromium import serving
from pages import check_watched, open_watched

TEXT = "Ann met Bob."
WORDS = ["Ann", "met", "Bob", "."]
SETTLED = "document.getElementById('status').textContent !== 'predicting…'"

# Every drawn document: its words, entity boxes (one per entity and line), arcs and labels.
DRAWN = """() => [...document.querySelectorAll('#out section.doc')].map((s) => ({
  header: s.querySelector('.doc-header').textContent,
  tokens: [...s.querySelectorAll('.line .tok')].map((t) => t.textContent),
  entities: [...s.querySelectorAll('g.entity')].map((g) => Number(g.dataset.entity)),
  labels: [...s.querySelectorAll('g.entity text')].map((t) => t.textContent),
  arcs: [...s.querySelectorAll('g.arc')].map((g) => Number(g.dataset.relation)),
  arc_labels: [...s.querySelectorAll('g.rlabel text')].map((t) => t.textContent),
}))"""

# Geometry, in the page's own coordinates: every entity box holds its words, no two boxes
# coincide (nested entities are stacked, not hidden), every arc runs from its head's box to
# its tail's box and stops on their top edge. Returns what is wrong (empty: nothing).
GEOMETRY = """(doc) => {
  const wrong = [], boxes = new Map();
  const s = document.querySelector('#out section.doc');
  for (const g of s.querySelectorAll('g.entity')) {
    const i = Number(g.dataset.entity), e = doc.entities[i];
    const box = g.querySelector('rect').getBoundingClientRect();
    boxes.set(i, box);
    for (let t = e.start; t < e.end; t++) {
      const w = s.querySelector('.tok[data-token="' + t + '"]').getBoundingClientRect();
      if (w.left < box.left || w.right > box.right || w.top < box.top || w.bottom > box.bottom) {
        wrong.push('word ' + t + ' outside the box of entity ' + i);
      }
    }
  }
  const seen = new Set();
  boxes.forEach((b, i) => {
    const key = [b.left, b.top, b.width, b.height].map(Math.round).join(',');
    if (seen.has(key)) wrong.push('entity ' + i + ' hides another');
    seen.add(key);
  });
  for (const g of s.querySelectorAll('g.arc')) {
    const r = doc.relations[Number(g.dataset.relation)];
    const h = boxes.get(r.head), t = boxes.get(r.tail);
    const arc = g.querySelector('path').getBoundingClientRect();
    if (arc.left < Math.min(h.left, t.left) - 1 || arc.right > Math.max(h.right, t.right) + 1) {
      wrong.push('arc ' + g.dataset.relation + ' leaves its entities');
    }
    if (Math.abs(arc.bottom - Math.max(h.top, t.top)) > 1.5 || arc.top >= Math.min(h.top, t.top)) {
      wrong.push('arc ' + g.dataset.relation + ' does not stand on its entities');
    }
  }
  return wrong;
}"""


def answered(watched, action):
    """Do ``action``, which makes the page predict; return the last request and what it shows.

    Returns:
        ``(body, answer)``: the JSON body of the page's last ``POST predict`` and the answer
        it rendered (answers to older requests are never shown).
    """
    page = watched.page
    with page.expect_request(lambda r: r.url.endswith("/predict") and r.method == "POST"):
        action()
    page.wait_for_function(SETTLED)
    body = json.loads(watched.bodies[-1])
    return body, page.evaluate("last")


def direct(url, body):
    """The server's answer to ``body``, without the page."""
    request = urllib.request.Request(
        url + "/predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def drawn(page):
    return page.evaluate(DRAWN)


def overlapping(entities):
    return any(
        a["start"] < b["end"] and b["start"] < a["end"]
        for i, a in enumerate(entities)
        for b in entities[i + 1 :]
    )


def test_the_page_loads_from_the_server_alone(watched_page, server_url):
    page = watched_page.page
    # Only the page and /info; no font, script, style sheet or icon from anywhere.
    assert [u for u in watched_page.requests if not u.startswith("data:")] == [
        server_url + "/",
        server_url + "/info",
    ]
    assert page.title() == "spertmt"
    assert page.locator("#legend .chip").all_inner_texts() == ["Peop", "Loc"]
    assert page.locator("#legend .rel").all_inner_texts() == ["Live_In →", "Near ↔"]
    # The model's rule as placeholders: this model uses all three thresholds.
    for name, value in {"entity_threshold": "0.5", "relation_threshold": "0.4"}.items():
        assert page.get_attribute(f"#{name}", "placeholder") == value
        assert page.is_enabled(f"#{name}")


def test_pasted_text_is_predicted_and_drawn(watched_page, server_url):
    page = watched_page.page
    page.fill("#text", TEXT)
    page.fill("#relation_threshold", "0.55")
    body, answer = answered(watched_page, lambda: page.click("#go"))
    assert body == {"texts": [TEXT], "relation_threshold": 0.55}
    assert answer == direct(server_url, body)
    (doc,) = answer["documents"]
    assert doc["tokens"] == WORDS and len(doc["entities"]) == 10  # every span of up to 4 words
    assert overlapping(doc["entities"]) and 0 < len(doc["relations"]) < 90
    (shown,) = drawn(page)
    assert shown["tokens"] == WORDS
    assert sorted(shown["entities"]) == list(range(10))  # nested ones too: none is hidden
    assert shown["labels"] == [doc["entities"][i]["type"] for i in shown["entities"]]
    assert sorted(shown["arcs"]) == list(range(len(doc["relations"])))
    assert sorted(shown["arc_labels"]) == sorted(r["type"] for r in doc["relations"])
    assert shown["header"] == f"#0 · 4 words · 10 entities · {len(doc['relations'])} relations"
    assert page.evaluate(GEOMETRY, doc) == []
    assert page.inner_text("#status") == "1 document"
    # The tables under the document list every entity and relation with its score.
    page.click("#out summary")
    rows = page.locator("#out table").nth(1).locator("tr")
    assert rows.count() == len(doc["relations"]) + 1
    assert f"{doc['relations'][0]['score']:.3f}" in rows.nth(1).inner_text()


def test_the_decision_rule_options_change_what_is_shown(watched_page, server_url):
    page = watched_page.page
    page.fill("#text", TEXT)
    _, default = answered(watched_page, lambda: page.click("#go"))
    relations = len(default["documents"][0]["relations"])
    assert relations > 0

    page.fill("#relation_threshold", "0.99")
    body, answer = answered(watched_page, lambda: page.press("#relation_threshold", "Enter"))
    assert body == {"texts": [TEXT], "relation_threshold": 0.99}
    assert answer["documents"][0]["relations"] == [] and drawn(page)[0]["arcs"] == []
    assert len(drawn(page)[0]["entities"]) == 10

    page.fill("#relation_threshold", "0.5")
    body, answer = answered(watched_page, lambda: page.press("#relation_threshold", "Enter"))
    between = len(answer["documents"][0]["relations"])
    assert 0 < between < relations and len(drawn(page)[0]["arcs"]) == between

    body, answer = answered(watched_page, lambda: page.select_option("#entity_overlap", "resolve"))
    assert body == {"texts": [TEXT], "relation_threshold": 0.5, "entity_overlap": "resolve"}
    (doc,) = answer["documents"]
    assert 0 < len(doc["entities"]) < 10 and not overlapping(doc["entities"])
    assert sorted(drawn(page)[0]["entities"]) == list(range(len(doc["entities"])))
    assert page.evaluate(GEOMETRY, doc) == []
    assert answer == direct(server_url, body)

    page.fill("#entity_threshold", "1")
    body, answer = answered(watched_page, lambda: page.press("#entity_threshold", "Enter"))
    assert body["entity_threshold"] == 1
    (shown,) = drawn(page)
    assert shown["entities"] == [] and shown["arcs"] == [] and shown["tokens"] == WORDS
    assert shown["header"] == "#0 · 4 words · 0 entities · 0 relations"

    # Emptying the fields goes back to the model's rule.
    page.fill("#entity_threshold", "")
    page.fill("#relation_threshold", "")
    body, answer = answered(watched_page, lambda: page.select_option("#entity_overlap", ""))
    assert body == {"texts": [TEXT]} and answer == default


def test_txt_json_and_jsonl_files_are_uploaded_and_predicted(watched_page, tmp_path):
    page = watched_page.page
    news = tmp_path / "news.txt"
    news.write_text("Ann met Bob.\n\nJohn Smith lives in Paris.\n", encoding="utf-8")
    body, answer = answered(watched_page, lambda: page.set_input_files("#file", str(news)))
    assert body == {"texts": ["Ann met Bob.", "John Smith lives in Paris."]}
    assert [d["tokens"] for d in answer["documents"]] == [
        WORDS,
        "John Smith lives in Paris .".split(),
    ]
    assert [d["tokens"] for d in drawn(page)] == [d["tokens"] for d in answer["documents"]]
    assert page.inner_text("#status") == "2 documents from news.txt"

    # A change of the rule predicts the file again, not the text box.
    page.fill("#relation_threshold", "0.99")
    body, _ = answered(watched_page, lambda: page.press("#relation_threshold", "Enter"))
    assert body == {
        "texts": ["Ann met Bob.", "John Smith lives in Paris."],
        "relation_threshold": 0.99,
    }

    tokens = [["Rome", "is", "in", "Italy", "."], ["Bob", "slept"]]
    documents = [{"tokens": t, "entities": [], "relations": []} for t in tokens]
    spert = tmp_path / "docs.json"
    spert.write_text(json.dumps(documents), encoding="utf-8")
    body, answer = answered(watched_page, lambda: page.set_input_files("#file", str(spert)))
    assert body == {"tokens": tokens, "relation_threshold": 0.99}
    assert [d["tokens"] for d in drawn(page)] == tokens
    assert page.inner_text("#status") == "2 documents from docs.json"

    lines = tmp_path / "docs.jsonl"
    lines.write_text("".join(json.dumps(d) + "\n" for d in documents[::-1]), encoding="utf-8")
    body, _ = answered(watched_page, lambda: page.set_input_files("#file", str(lines)))
    assert body["tokens"] == tokens[::-1] and [d["tokens"] for d in drawn(page)] == tokens[::-1]

    # Typing in the text box leaves the file behind.
    page.fill("#text", TEXT)
    assert page.input_value("#file") == ""
    body, _ = answered(watched_page, lambda: page.click("#go"))
    assert body == {"texts": [TEXT], "relation_threshold": 0.99}

    # A file that is not JSON is refused by the page itself, with its name.
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    sent = len(watched_page.bodies)
    page.set_input_files("#file", str(bad))
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('cannot read')"
    )
    assert page.inner_text("#status").startswith("cannot read bad.json: ")
    assert len(watched_page.bodies) == sent


def test_the_answer_downloads_as_json(watched_page, server_url):
    page = watched_page.page
    assert page.is_disabled("#download")  # nothing to download yet
    page.fill("#text", TEXT)
    body, answer = answered(watched_page, lambda: page.click("#go"))
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "predictions.json"
    saved = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert saved == answer == direct(server_url, body)
    assert (
        saved["documents"][0]["tokens"] == WORDS and saved["decision"]["entity_overlap"] == "allow"
    )


def test_the_page_works_with_the_keyboard_alone(watched_page):
    page = watched_page.page
    order = ["text", "file", "entity_threshold", "relation_threshold", "iou_threshold"]
    order += ["entity_score", "entity_overlap", "key", "go"]  # Download is off until an answer
    focused = []
    for _ in order:
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id"))
        # The focus ring shows where the keyboard is.
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    assert focused == order

    page.keyboard.press("Shift+Tab")  # back to the text box
    for _ in order[1:-1]:
        page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "text"
    page.keyboard.press("Control+A")
    page.keyboard.type(TEXT)
    body, _ = answered(watched_page, lambda: page.keyboard.press("Control+Enter"))
    assert body == {"texts": [TEXT]}

    for _ in range(3):  # file, entity threshold, relation threshold
        page.keyboard.press("Tab")
    page.keyboard.type("0.99")
    body, _ = answered(watched_page, lambda: page.keyboard.press("Enter"))
    assert body == {"texts": [TEXT], "relation_threshold": 0.99}
    assert drawn(page)[0]["arcs"] == []

    for _ in range(3):  # IoU threshold, entity rule, overlap
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "entity_overlap"

    def choose_resolve():
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")

    body, _ = answered(watched_page, choose_resolve)
    assert body["entity_overlap"] == "resolve"

    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "go"
    body, _ = answered(watched_page, lambda: page.keyboard.press("Space"))
    assert body == {"texts": [TEXT], "relation_threshold": 0.99, "entity_overlap": "resolve"}

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "download"
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert json.loads(Path(download.value.path()).read_text(encoding="utf-8")) == page.evaluate(
        "last"
    )

    page.keyboard.press("Tab")  # the tables of the document open from the keyboard too
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    assert not page.is_visible("#out table")
    page.keyboard.press("Enter")
    assert page.is_visible("#out table")


def test_an_error_of_the_server_is_shown_to_the_reader(watched_page):
    page = watched_page.page
    watched_page.expect_problem(r"status of 422")  # Chromium logs every failed request
    page.fill("#text", TEXT)
    page.fill("#relation_threshold", "2")
    answered(watched_page, lambda: page.click("#go"))
    alert = page.locator("#out [role=alert]")
    assert alert.is_visible()
    assert alert.inner_text().startswith("E520 ") and "relation_threshold" in alert.inner_text()


def test_thresholds_the_model_cannot_use_are_turned_off(watched_page):
    """Without head A entities are decided by arg-max, and the server refuses τ_e (E505)."""
    page = watched_page.page

    def arg_max_model(route):  # this server's /info, as a model without heads A and B1 says it
        info = route.fetch().json()
        info["decision"].update(
            entity_binary_head=False, iou_mode="off", entity_threshold_used=False
        )
        route.fulfill(json=info)

    page.route("**/info", arg_max_model)
    page.reload()
    page.wait_for_selector("#legend .chip")
    for name in ("entity_threshold", "iou_threshold"):
        assert page.is_disabled(f"#{name}")
        assert page.get_attribute(f"#{name}", "placeholder") == "unused"
    assert "arg-max" in page.get_attribute("#entity_threshold", "title")
    assert page.is_enabled("#relation_threshold")
    page.fill("#text", TEXT)
    # The product rule needs the IoU head, which this model has not: still off.
    body, _ = answered(watched_page, lambda: page.select_option("#entity_score", "product"))
    assert page.is_disabled("#entity_threshold")
    assert body == {"texts": [TEXT], "entity_score": "product"}


def test_a_server_with_an_api_key_gets_it_from_the_page(chromium, eager_checkpoint, tmp_path):
    with serving(eager_checkpoint, "--api-key", "s3cret", log=tmp_path / "server.log") as url:
        context = chromium.new_context()
        try:
            watched = open_watched(context, url)
            watched.expect_problem(r"status of 401")  # /info and the first /predict
            page = watched.page
            page.goto(url + "/")  # the page itself needs no key
            page.fill("#text", TEXT)
            answered(watched, lambda: page.click("#go"))
            assert page.inner_text("#out [role=alert]").startswith("E527 ")
            assert page.locator("#legend .chip").count() == 0  # /info needs the key too

            page.fill("#key", "s3cret")
            page.press("#key", "Tab")  # the key is taken on change: /info again
            page.wait_for_selector("#legend .chip")
            with page.expect_request("**/predict") as sent:
                body, answer = answered(watched, lambda: page.click("#go"))
            assert sent.value.headers["x-api-key"] == "s3cret"
            assert answer["documents"][0]["tokens"] == WORDS
            check_watched(watched)
        finally:
            context.close()
