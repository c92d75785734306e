import copy
import dataclasses
import itertools
import threading

import pytest
import torch
from samples import TYPES, build_model, save_eager_checkpoint

import spertmt
from spertmt import SpertMT
from spertmt.config import DecisionRule
from spertmt.data.text import tokenize_text
from spertmt.errors import InputError
from spertmt.inference.planning import Plan, merge
from spertmt.inference.predictor import Predictor
from spertmt.schema import Document, Entity, Relation

TEXT = "John Smith lives in Paris. 東京 😀 is\x07 big!\n\nمرحبا بالعالم في القاهرة."
GOLD = [
    Document(
        ("John", "Smith", "lives", "in", "Paris", "near", "Lyon", "."),
        (Entity("Peop", 0, 2), Entity("Loc", 4, 5), Entity("Loc", 6, 7)),
        (Relation("Live_In", 0, 1), Relation("Near", 1, 2)),
        orig_id="g0",
    ),
    Document(("Anna", "moved", "to", "Rome"), (Entity("Peop", 0, 1), Entity("Loc", 3, 4)), ()),
]


def scored(doc):
    return (
        doc.tokens,
        [(e.type, e.start, e.end, e.score, e.char_start, e.char_end, e.text) for e in doc.entities],
        [(r.type, r.head, r.tail, r.score) for r in doc.relations],
    )


def same(a, b):
    """Equal predictions, up to float noise between different batch compositions."""
    (tokens_a, ents_a, rels_a), (tokens_b, ents_b, rels_b) = scored(a), scored(b)
    assert tokens_a == tokens_b
    assert [e[:3] + e[4:] for e in ents_a] == [e[:3] + e[4:] for e in ents_b]
    assert [r[:3] for r in rels_a] == [r[:3] for r in rels_b]
    assert [e[3] for e in ents_a] == pytest.approx([e[3] for e in ents_b], abs=1e-5)
    assert [r[3] for r in rels_a] == pytest.approx([r[3] for r in rels_b], abs=1e-5)
    return True


def assert_char_offsets(doc):
    assert doc.text is not None
    assert len(doc.token_offsets) == len(doc.tokens)
    for token, (start, end) in zip(doc.tokens, doc.token_offsets, strict=True):
        assert doc.text[start:end] == token
    for entity in doc.entities:
        assert doc.text[entity.char_start : entity.char_end] == entity.text
        assert entity.char_start == doc.token_offsets[entity.start][0]
        assert entity.char_end == doc.token_offsets[entity.end - 1][1]


# --------------------------------------------------------------------------- the package
def test_package_root_exports_spertmt_lazily():
    import subprocess
    import sys

    code = (
        "import sys, spertmt; assert 'torch' not in sys.modules; "
        "from spertmt import SpertMT; assert 'torch' in sys.modules; print(SpertMT.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "SpertMT"
    assert "SpertMT" in spertmt.__all__ and "SpertMT" in dir(spertmt)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        spertmt.nothing  # noqa: B018


def test_properties_and_repr(eager_api, eager_checkpoint):
    assert eager_api.types == TYPES
    assert eager_api.config.entity_binary_head and eager_api.config.max_span_width == 4
    assert eager_api.rule == DecisionRule()  # saved without a rule: SpERT's
    assert eager_api.predictor.model is eager_api.model
    assert eager_api.device == torch.device("cpu")
    assert eager_api.metadata.path == eager_checkpoint and eager_api.metadata.training == {
        "seed": 7
    }
    assert "Peop" in repr(eager_api) and "device='cpu'" in repr(eager_api)


# --------------------------------------------------------------------------- input kinds
def test_one_item_gives_a_document_and_a_list_gives_a_list(eager_api):
    one = eager_api.predict("John lives in Paris.")
    assert isinstance(one, Document)
    many = eager_api.predict(["John lives in Paris."])
    assert isinstance(many, list) and len(many) == 1
    assert scored(many[0]) == scored(one)
    assert eager_api.predict([]) == []
    doc = eager_api.predict(Document(("Ann", "met", "Bob")))
    assert isinstance(doc, Document) and doc.tokens == ("Ann", "met", "Bob")
    assert eager_api.predict((["Ann", "met", "Bob"],))[0] == doc


def test_mixed_inputs_keep_their_order_and_match_single_calls(eager_api):
    inputs = [
        "Ann met Bob in Rome. They left.",
        ["John", "lives", "in", "Paris"],
        Document(("Lyon", "is", "near", "Paris"), orig_id=42),
        ("A", "tuple", "of", "tokens"),
        "",
        "Short.",
    ]
    results = eager_api.predict(inputs, batch_size=2)
    assert len(results) == len(inputs)
    for item, result in zip(inputs, results, strict=True):
        alone = (
            eager_api.predict(item)
            if isinstance(item, (str, Document))
            else eager_api.predict([item])[0]
        )
        assert same(result, alone)
    assert results[2].orig_id == 42
    assert results[1].tokens == ("John", "lives", "in", "Paris") and results[1].text is None
    assert all(e.char_start is None for e in results[1].entities)
    reversed_results = eager_api.predict(inputs[::-1], batch_size=3)
    assert all(map(same, reversed_results, results[::-1]))


@pytest.mark.parametrize("blank", ["", " ", "\n\t  \r\n", "\u3000"])
def test_empty_and_whitespace_text_give_an_empty_document(eager_api, blank):
    results = eager_api.predict(["Ann met Bob.", blank, "Bob met Ann."])
    assert len(results) == 3
    empty = results[1]
    assert empty.tokens == () and empty.entities == () and empty.relations == ()
    assert empty.text == blank and empty.token_offsets == ()
    assert results[0].entities and results[2].entities
    assert eager_api.predict(blank).tokens == ()
    assert eager_api.predict([[]])[0].tokens == ()


# --------------------------------------------------------------------------- raw text
def test_raw_text_is_one_document_with_exact_character_offsets(eager_api):
    doc = eager_api.predict(TEXT)
    sentences = tokenize_text(TEXT)
    assert len(sentences) == 3
    assert doc.text == TEXT
    assert doc.tokens == tuple(t for s in sentences for t in s.tokens)
    assert doc.entities and doc.relations
    assert_char_offsets(doc)
    assert {e.text for e in doc.entities} >= {"John Smith", "東京 😀", "is", "مرحبا"}


def test_raw_text_merges_the_per_sentence_predictions(eager_api):
    sentences = tokenize_text(TEXT)
    per_sentence = eager_api.predict([list(s.tokens) for s in sentences])
    merged = eager_api.predict(TEXT)
    entities, relations, word_base = [], [], 0
    for sentence, predicted in zip(sentences, per_sentence, strict=True):
        first = len(entities)
        entities += [
            (e.type, e.start + word_base, e.end + word_base, e.score) for e in predicted.entities
        ]
        relations += [
            (r.type, r.head + first, r.tail + first, r.score) for r in predicted.relations
        ]
        word_base += len(sentence.tokens)
    assert [(e.type, e.start, e.end, e.score) for e in merged.entities] == entities
    assert [(r.type, r.head, r.tail, r.score) for r in merged.relations] == relations
    # Relations never cross a sentence boundary.
    sentence_of = [i for i, s in enumerate(sentences) for _ in s.tokens]
    for relation in merged.relations:
        head, tail = merged.entities[relation.head], merged.entities[relation.tail]
        assert sentence_of[head.start] == sentence_of[tail.start]


def test_merge_shifts_spans_and_relations_of_later_sentences():
    text = "Ann ran. Bob met Cy."
    sentences = tokenize_text(text)
    plan = Plan(
        tokens=("Ann", "ran", ".", "Bob", "met", "Cy", "."),
        units=tuple(Document(s.tokens) for s in sentences),
        bases=(0, 3),
        text=text,
        token_offsets=tuple(o for s in sentences for o in s.token_offsets),
    )
    predicted = [
        Document(sentences[0].tokens, (Entity("Peop", 0, 1, 0.9),)),
        Document(
            sentences[1].tokens,
            (Entity("Peop", 0, 1, 0.8), Entity("Peop", 2, 3, 0.7)),
            (Relation("Near", 0, 1, 0.6),),
        ),
    ]
    doc = merge(plan, predicted)
    assert [(e.start, e.end, e.char_start, e.char_end, e.text) for e in doc.entities] == [
        (0, 1, 0, 3, "Ann"),
        (3, 4, 9, 12, "Bob"),
        (5, 6, 17, 19, "Cy"),
    ]
    assert doc.relations == (Relation("Near", 1, 2, 0.6),)
    assert doc.text is text and doc.token_offsets == plan.token_offsets


def test_document_with_text_and_offsets_gets_character_offsets(eager_api):
    text = "  Ann   met Bob"
    doc = Document(("Ann", "met", "Bob"), text=text, token_offsets=((2, 5), (8, 11), (12, 15)))
    result = eager_api.predict(doc)
    assert result.entities
    assert_char_offsets(result)
    bad = dataclasses.replace(doc, token_offsets=((2, 5),))
    with pytest.raises(InputError, match=r"\[E506\] input 0: the Document has 1 token_offsets"):
        eager_api.predict(bad)


@pytest.mark.parametrize(
    "text",
    [
        "Ann\x00 met\x1b[0m Bob\x7f. Then\x07 left.",
        "I 😀 love 👩‍👩‍👧 Paris 🇫🇷 !",
        "東京は日本の首都です。 北京也是首都。",
        "ذهب أحمد إلى القاهرة. وعاد إلى دبي.",
    ],
)
def test_control_characters_emoji_and_other_scripts(eager_api, text):
    doc = eager_api.predict(text)
    assert doc.tokens and doc.entities
    assert_char_offsets(doc)


def test_a_100k_character_text(eager_api):
    unit = "John Smith lives in Paris near Lyon, 東京 😀! "
    text = (unit * (100_000 // len(unit) + 1))[:100_000]
    # entity_threshold=1.0 keeps the tiny model from turning all ~60,000 spans into entities
    # (and ~3 million pairs); the whole text still goes through tokenisation, the encoder,
    # span scoring and the merge.
    doc = eager_api.predict(text, entity_threshold=1.0, batch_size=256)
    assert doc.text is text
    assert doc.tokens == tuple(t for s in tokenize_text(text) for t in s.tokens)
    assert doc.entities == ()
    assert_char_offsets(doc)
    # Relation-only mode over known entities far apart in the same long text.
    last = len(doc.tokens) - 1
    given = [Entity("Peop", 0, 2), Entity("Loc", 4, 5), Entity("Loc", last - 1, last)]
    related = eager_api.predict(text, entities=given, relation_threshold=0.0, batch_size=256)
    assert_char_offsets(related)
    assert [e.text for e in related.entities] == ["John Smith", "Paris", doc.tokens[last - 1]]
    assert {(r.head, r.tail) for r in related.relations} == {(0, 1), (1, 0)}


def test_a_document_longer_than_the_window_finds_each_span_once(tiny_bert_dir, tmp_path):
    # Windows of 16 pieces over an 80-word document: many window borders. The eager model
    # keeps every candidate span, so each one, borders included, must come out exactly once.
    path = save_eager_checkpoint(tiny_bert_dir, tmp_path / "model", max_length=16)
    model = SpertMT.from_pretrained(path, device="cpu")
    words = ("John Smith lives in Paris near Lyon , 東京 😀 !".split() * 8)[:80]
    pieces = model.tokenizer(words, is_split_into_words=True)["input_ids"]
    assert len(pieces) > 5 * 16
    doc = model.predict([words], relation_threshold=1.0)[0]
    spans = [(e.start, e.end) for e in doc.entities]
    width = model.config.max_span_width
    expected = {(s, s + w) for s in range(len(words)) for w in range(1, width + 1)}
    assert len(spans) == len(set(spans)) and set(spans) == {
        span for span in expected if span[1] <= len(words)
    }


# --------------------------------------------------------------------------- decision rule
def test_thresholds_apply_to_one_call_only(eager_api):
    original = eager_api.rule
    before = eager_api.predict(TEXT)
    assert before.relations
    assert eager_api.predict(TEXT, relation_threshold=1.0).relations == ()
    assert eager_api.predict(TEXT, entity_threshold=1.0).entities == ()
    fewer = eager_api.predict(TEXT, relation_threshold=0.5)
    assert 0 < len(fewer.relations) < len(before.relations)
    assert all(r.score >= 0.5 for r in fewer.relations)
    assert eager_api.rule is original
    assert scored(eager_api.predict(TEXT)) == scored(before)
    streamed = list(eager_api.pipe([TEXT, TEXT], relation_threshold=1.0))
    assert all(d.relations == () for d in streamed)
    assert scored(eager_api.predict(TEXT)) == scored(before)


def test_a_rule_value_replaces_the_default_for_one_call(eager_api):
    before = eager_api.predict(TEXT)
    strict = DecisionRule(relation_threshold=1.0)
    assert scored(eager_api.predict(TEXT, rule=strict)) == scored(
        eager_api.predict(TEXT, relation_threshold=1.0)
    )
    assert eager_api.predict(TEXT, rule=strict).relations == ()
    # Per-call fields apply on top of the given rule.
    looser = eager_api.predict(TEXT, rule=strict, relation_threshold=0.5)
    assert looser.relations and scored(looser) == scored(
        eager_api.predict(TEXT, relation_threshold=0.5)
    )
    assert all(d.relations == () for d in eager_api.pipe([TEXT], rule=strict))
    assert scored(eager_api.predict(TEXT)) == scored(before)
    with pytest.raises(InputError, match=r"\[E505\] rule must be a DecisionRule, got a dict"):
        eager_api.predict(TEXT, rule={"relation_threshold": 1.0})


def _overlapping(doc):
    spans = [(e.start, e.end) for e in doc.entities]
    return [(a, b) for a, b in itertools.combinations(spans, 2) if a[0] < b[1] and b[0] < a[1]]


def test_entity_overlap_resolve_for_one_call(eager_api):
    # The eager checkpoint keeps every span: under "allow" they overlap everywhere.
    original = eager_api.rule
    allowed = eager_api.predict(TEXT)
    assert original.entity_overlap == "allow" and _overlapping(allowed)
    resolved = eager_api.predict(TEXT, entity_overlap="resolve")
    assert resolved.entities and _overlapping(resolved) == []
    assert len(resolved.entities) < len(allowed.entities)
    kept = {(e.type, e.start, e.end) for e in allowed.entities}
    assert {(e.type, e.start, e.end) for e in resolved.entities} <= kept
    for relation in resolved.relations:
        assert relation.head < len(resolved.entities) and relation.tail < len(resolved.entities)
    # The override does not leak into the next call, nor into the model's rule.
    assert eager_api.rule is original
    assert scored(eager_api.predict(TEXT)) == scored(allowed)
    (streamed,) = eager_api.pipe([TEXT], entity_overlap="resolve")
    assert scored(streamed) == scored(resolved)
    assert scored(eager_api.predict(TEXT)) == scored(allowed)
    many = eager_api.predict([TEXT, ["Ann", "met", "Bob", "in", "Rome"]], entity_overlap="resolve")
    assert all(d.entities and _overlapping(d) == [] for d in many)


def test_from_pretrained_takes_a_default_decision_rule(eager_checkpoint, eager_api):
    loaded = SpertMT.from_pretrained(eager_checkpoint, device="cpu", entity_overlap="resolve")
    assert loaded.rule == DecisionRule(entity_overlap="resolve")
    assert scored(loaded.predict(TEXT)) == scored(eager_api.predict(TEXT, entity_overlap="resolve"))
    # A per-call option goes back to "allow" for that call only.
    assert _overlapping(loaded.predict(TEXT, entity_overlap="allow"))
    assert _overlapping(loaded.predict(TEXT)) == []
    strict = SpertMT.from_pretrained(
        eager_checkpoint, device="cpu", rule=DecisionRule(relation_threshold=1.0)
    )
    assert strict.rule.relation_threshold == 1.0 and strict.predict(TEXT).relations == ()
    with pytest.raises(InputError, match=r"\[E505\] unknown option 'entity_overlp'"):
        SpertMT.from_pretrained(eager_checkpoint, device="cpu", entity_overlp="resolve")


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        (
            {"entity_overlp": "resolve"},
            r"\[E505\] unknown option 'entity_overlp' \(did you mean 'entity_overlap'\?\)",
        ),
        ({"relation_score": "product"}, r"\[E505\] unknown option 'relation_score'"),
        (
            {"entity_overlap": "merge"},
            r"\[E505\] option entity_overlap: 'merge' is not one of 'allow', 'resolve'",
        ),
        ({"entity_score": "sum"}, r"\[E505\] option entity_score: 'sum' is not one of"),
        ({"iou_threshold": -0.5}, r"\[E505\] option iou_threshold: must lie in \[0, 1\]"),
        (
            {"relation_binary_threshold": True},
            r"\[E505\] option relation_binary_threshold: must be a number",
        ),
    ],
)
def test_bad_decision_options(eager_api, options, pattern):
    with pytest.raises(InputError, match=pattern):
        eager_api.predict("Ann met Bob.", **options)
    with pytest.raises(InputError, match=pattern):
        eager_api.pipe(["Ann met Bob."], **options)
    with pytest.raises(InputError, match=pattern):
        eager_api.evaluate(GOLD, **options)


def test_the_call_rule_reaches_the_predictor_and_nothing_is_kept(eager_api, monkeypatch):
    original = eager_api.rule
    seen = []

    def failing(docs, *, rule=None, **kwargs):
        seen.append(rule)
        raise RuntimeError("boom")

    monkeypatch.setattr(eager_api.predictor, "predict", failing)
    with pytest.raises(RuntimeError, match="boom"):
        eager_api.predict("Ann met Bob.", relation_threshold=0.9, entity_threshold=0.2)
    assert seen == [original.replace(relation_threshold=0.9, entity_threshold=0.2)]
    assert eager_api.rule is original and eager_api.predictor.rule is original


def test_a_paused_stream_does_not_hold_its_thresholds(eager_api):
    stream = eager_api.pipe(["Ann met Bob."] * 3, batch_size=1, relation_threshold=1.0)
    assert next(stream).relations == ()
    assert eager_api.rule.relation_threshold == 0.4
    assert eager_api.predict("Ann met Bob.").relations  # in another "thread" of work, meanwhile
    assert [d.relations for d in stream] == [(), ()]


def test_entity_threshold_on_a_model_without_a_binary_entity_head(tiny_bert_dir):
    model, tokenizer = build_model(tiny_bert_dir)
    baseline = SpertMT(model, tokenizer)
    assert baseline.metadata is None
    with pytest.raises(InputError, match=r"\[E505\] entity_threshold has no effect"):
        baseline.predict("Ann met Bob.", entity_threshold=0.5)
    assert isinstance(baseline.predict("Ann met Bob.", relation_threshold=0.5), Document)


def test_concurrent_calls_with_different_thresholds(eager_api):
    expected_none = eager_api.predict(TEXT, relation_threshold=1.0)
    expected_all = eager_api.predict(TEXT, relation_threshold=0.0)
    failures = []

    def work(threshold, expected):
        for _ in range(3):
            if scored(eager_api.predict(TEXT, relation_threshold=threshold)) != scored(expected):
                failures.append(threshold)

    threads = [
        threading.Thread(target=work, args=(1.0, expected_none)),
        threading.Thread(target=work, args=(0.0, expected_all)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


# --------------------------------------------------------------------------- inputs untouched
def test_inputs_are_not_mutated(eager_api):
    tokens = ["John", "lives", "in", "Paris"]
    inputs = [TEXT, tokens, GOLD[0], ("Ann", "met", "Bob")]
    given = [[Entity("Peop", 0, 2)], [Entity("Peop", 0, 1), Entity("Loc", 3, 4)], [], []]
    snapshot = copy.deepcopy((inputs, given))
    eager_api.predict(inputs)
    eager_api.predict(inputs, entities=given)
    list(eager_api.pipe(iter(inputs)))
    assert (inputs, given) == snapshot
    assert inputs[1] is tokens and inputs[2] is GOLD[0]


# --------------------------------------------------------------------------- relation-only mode
def test_relation_only_mode_keeps_the_given_entities(eager_api):
    tokens = ["John", "Smith", "lives", "in", "Paris", "near", "Lyon"]
    given = [Entity("Loc", 6, 7), Entity("Peop", 0, 2), Entity("Loc", 4, 5, score=0.5)]
    result = eager_api.predict([tokens], entities=[given], relation_threshold=0.0)[0]
    assert result.entities == tuple(given)
    # The same relations as the Predictor in relation-only mode, indexed in given order.
    ordered = sorted(given, key=lambda e: (e.start, e.end))
    (direct,) = Predictor(eager_api.model, eager_api.tokenizer).predict(
        [Document(tuple(tokens), tuple(ordered))], given_entities=True
    )
    assert direct.entities == tuple(ordered)
    # The Predictor used the default rule (relation threshold 0.4); compare that call too.
    result = eager_api.predict([tokens], entities=[given])[0]
    remap = [given.index(e) for e in ordered]
    expected = sorted(
        ((r.type, remap[r.head], remap[r.tail], r.score) for r in direct.relations),
        key=lambda r: (r[1], r[2]),
    )
    assert [(r.type, r.head, r.tail, r.score) for r in result.relations] == expected


def test_relation_only_mode_on_raw_text(eager_api):
    text = "John Smith lives in Paris. Anna likes Rome."
    given = [Entity("Loc", 4, 5), Entity("Peop", 0, 2), Entity("Peop", 6, 7), Entity("Loc", 8, 9)]
    doc = eager_api.predict(text, entities=given, relation_threshold=0.0)
    assert [e.text for e in doc.entities] == ["Paris", "John Smith", "Anna", "Rome"]
    assert_char_offsets(doc)
    pairs = {(r.head, r.tail) for r in doc.relations}
    # Every ordered pair within a sentence, none across the boundary.
    assert pairs == {(0, 1), (1, 0), (2, 3), (3, 2)}
    # An entity across the sentence boundary joins the two sentences.
    crossing = [*given, Entity("Loc", 4, 7)]
    joined = eager_api.predict(text, entities=crossing, relation_threshold=0.0)
    assert (0, 2) in {(r.head, r.tail) for r in joined.relations}
    assert joined.entities[4].text == "Paris. Anna"


def test_relation_only_shape_errors(eager_api):
    with pytest.raises(InputError, match=r"\[E503\] entities must hold one list .* 2 inputs"):
        eager_api.predict(["a b", "c d"], entities=[[Entity("Peop", 0, 1)]])
    with pytest.raises(InputError, match=r"\[E503\] entities holds lists, but there is one"):
        eager_api.predict("a b", entities=[[Entity("Peop", 0, 1)]])
    with pytest.raises(InputError, match=r"\[E503\] input 1: entities\[1\] is a dict"):
        eager_api.predict(["a b", "c d"], entities=[[], {"type": "Peop"}])
    with pytest.raises(InputError, match=r"\[E504\] input 1, entities\[0\] has span \(1, 5\)"):
        eager_api.predict(["a b", "c d"], entities=[[], [Entity("Peop", 1, 5)]])
    with pytest.raises(InputError, match=r"\[E504\] input 0, entities\[1\] has type 'Org'"):
        eager_api.predict(["a b"], entities=[[Entity("Peop", 0, 1), Entity("Org", 1, 2)]])
    with pytest.raises(InputError, match=r"\[E504\] input 0, entities\[0\] is a tuple"):
        eager_api.predict(["a b"], entities=[[("Peop", 0, 1)]])


# --------------------------------------------------------------------------- pipe
def test_pipe_equals_predict_and_reads_lazily(eager_api):
    items = [
        "Ann met Bob in Rome.",
        ["John", "lives", "in", "Paris"],
        "",
        Document(("Lyon", "is", "old")),
        TEXT,
    ] * 5
    consumed = []

    def source():
        for item in items:
            consumed.append(item)
            yield item

    stream = eager_api.pipe(source(), batch_size=2)
    assert consumed == []  # nothing read before the first document is asked for
    first = next(stream)
    assert len(consumed) == 16  # one chunk of 8 × batch_size
    streamed = [first, *stream]
    assert len(consumed) == len(items)
    assert len(streamed) == len(items)
    assert all(map(same, streamed, eager_api.predict(items)))


def test_pipe_of_an_infinite_stream_is_usable(eager_api):
    endless = itertools.cycle(["Ann met Bob."])
    taken = list(itertools.islice(eager_api.pipe(endless, batch_size=1), 3))
    assert len(taken) == 3 and all(d.tokens == ("Ann", "met", "Bob", ".") for d in taken)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("inputs", "pattern"),
    [
        (42, r"\[E501\] inputs is a int; pass a str, a Document, or a list"),
        (b"bytes", r"\[E501\] inputs is a bytes"),
        (["fine", 3.5], r"\[E501\] input 1 is a float; expected a str"),
        (["fine", {"tokens": ["a"]}], r"\[E501\] input 1 is a dict"),
        ([["a", "b"], ["c", 7]], r"\[E502\] input 1, token 1 is a int"),
        ([["a", "b"], ["c", " "]], r"\[E502\] input 1, token 1 is blank"),
        ([["", "b"]], r"\[E502\] input 0, token 0 is empty"),
        (["ok", "bad \udcff"], r"\[E507\] input 1 holds the lone surrogate U\+DCFF"),
        ([["ok"], ["b\ud800d"]], r"\[E507\] input 1, token 0 holds the lone surrogate U\+D800"),
    ],
)
def test_bad_inputs_name_their_index(eager_api, inputs, pattern):
    with pytest.raises(InputError, match=pattern):
        eager_api.predict(inputs)


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"batch_size": 0}, r"\[E505\] batch_size must be a positive integer, got 0"),
        ({"batch_size": True}, r"\[E505\] batch_size"),
        ({"relation_threshold": 1.5}, r"\[E505\] option relation_threshold: must lie in \[0, 1\]"),
        ({"entity_threshold": "0.5"}, r"\[E505\] option entity_threshold: must be a number"),
    ],
)
def test_bad_options(eager_api, options, pattern):
    with pytest.raises(InputError, match=pattern):
        eager_api.predict("Ann met Bob.", **options)
    with pytest.raises(InputError, match=pattern):
        eager_api.pipe(["Ann met Bob."], **options)  # raised at once, not at the first next()


def test_pipe_rejects_a_single_text_and_names_bad_items_in_the_stream(eager_api):
    with pytest.raises(InputError, match=r"\[E501\] pipe\(\) takes an iterable .* single str"):
        eager_api.pipe("Ann met Bob.")
    stream = eager_api.pipe(["a b"] * 8 + [None], batch_size=1)  # chunks of 8 inputs
    assert len([next(stream) for _ in range(8)]) == 8
    with pytest.raises(InputError, match=r"\[E501\] input 8 is a NoneType"):
        next(stream)


# --------------------------------------------------------------------------- save and evaluate
def test_a_bad_device_names_the_device_option(eager_checkpoint):
    from spertmt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\[E209\] config key device: unknown device 'tpu0'"):
        SpertMT.from_pretrained(eager_checkpoint, device="tpu0")


def test_save_and_load_give_identical_scores(eager_api, tmp_path):
    inputs = [TEXT, ["John", "lives", "in", "Paris"], GOLD[0]]
    before = eager_api.predict(inputs)
    folder = eager_api.save_pretrained(tmp_path / "copy")
    loaded = SpertMT.from_pretrained(folder, device=torch.device("cpu"))
    assert [scored(d) for d in loaded.predict(inputs)] == [scored(d) for d in before]
    assert loaded.config == eager_api.config and loaded.types == eager_api.types
    assert loaded.metadata.training == {"seed": 7}


def test_evaluate_documents_and_a_file(eager_api, tmp_path):
    from spertmt.data.io import write_documents
    from spertmt.evaluation.metrics import evaluate_documents

    report = eager_api.evaluate(GOLD, batch_size=1)
    predictor = Predictor(eager_api.model, eager_api.tokenizer)
    predictions = predictor.predict(GOLD)
    assert report == evaluate_documents(GOLD, predictions, TYPES)
    strict = eager_api.evaluate(GOLD, relation_threshold=1.0, entity_overlap="resolve")
    rule = DecisionRule(relation_threshold=1.0, entity_overlap="resolve")
    assert strict == evaluate_documents(GOLD, predictor.predict(GOLD, rule=rule), TYPES)
    assert strict != report and eager_api.evaluate(GOLD) == report
    path = tmp_path / "gold.json"
    write_documents(path, GOLD)
    assert eager_api.evaluate(path) == report
    assert eager_api.evaluate(str(path), no_overlap=True).no_overlap
    with pytest.raises(InputError, match=r"\[E501\] input 1 is a str, not a Document"):
        eager_api.evaluate([GOLD[0], "text"])


def test_evaluate_reports_progress_per_batch(eager_api):
    seen = []
    report = eager_api.evaluate(GOLD, batch_size=1, progress=seen.append)
    assert seen == [1] * len(GOLD)
    assert report.to_dict() == eager_api.evaluate(GOLD).to_dict()
