import functools
import hashlib
import http.server
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from spertmt.cli import main
from spertmt.data import datasets
from spertmt.data.datasets import (
    CHECKSUMS,
    ENV_DATA_DIR,
    download,
    known_dataset_specs,
    resolve_data_dir,
    resolve_dataset,
)
from spertmt.data.io import read_documents
from spertmt.errors import DataError


def shared_data() -> Path | None:
    for candidate in (
        os.environ.get(ENV_DATA_DIR),
        Path(__file__).resolve().parents[4] / "shared" / "data",
    ):
        if candidate and (Path(candidate) / "conll04" / "conll04_train.json").is_file():
            return Path(candidate)
    return None


@pytest.fixture()
def data_dir(tmp_path):
    """A data folder with every built-in file present (empty: resolution only checks paths)."""
    root = tmp_path / "datasets"
    for rel in CHECKSUMS:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("[]")
    return root


@pytest.fixture(autouse=True)
def no_env_data_dir(monkeypatch):
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)


# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    ("spec", "dataset", "splits", "types"),
    [
        ("conll04:test", "conll04", [("test", "conll04/conll04_test.json")], "conll04"),
        (
            "conll04",
            "conll04",
            [(s, f"conll04/conll04_{s}.json") for s in ("train", "dev", "test")],
            "conll04",
        ),
        ("scierc:train_dev", "scierc", [("train_dev", "scierc/scierc_train_dev.json")], "scierc"),
        ("ade", "ade", [("full", "ade/ade_full.json")], "ade"),
        ("ade:full", "ade", [("full", "ade/ade_full.json")], "ade"),
        (
            "ade:3",
            "ade",
            [("train", "ade/ade_split_3_train.json"), ("test", "ade/ade_split_3_test.json")],
            "ade",
        ),
        ("ade:9:test", "ade", [("test", "ade/ade_split_9_test.json")], "ade"),
        (" ADE:0:Train ", "ade", [("train", "ade/ade_split_0_train.json")], "ade"),
    ],
)
def test_resolve_builtin_names(data_dir, spec, dataset, splits, types):
    ref = resolve_dataset(spec, data_dir=data_dir)
    assert ref.dataset == dataset
    assert ref.splits == tuple((name, data_dir / rel) for name, rel in splits)
    assert ref.types == data_dir / types / f"{types}_types.json"
    assert ref.require_types() == ref.types


def test_single_split_path_and_several_splits_error(data_dir):
    assert resolve_dataset("conll04:dev", data_dir=data_dir).path.name == "conll04_dev.json"
    ref = resolve_dataset("conll04", data_dir=data_dir)
    assert ref.split_paths["dev"] == data_dir / "conll04" / "conll04_dev.json"
    with pytest.raises(DataError) as info:
        _ = ref.path
    assert info.value.code == "E123"
    assert "several splits (train, dev, test)" in str(info.value)
    assert "conll04:train, conll04:dev, conll04:test" in str(info.value)


def test_every_known_spec_resolves(data_dir):
    for spec in known_dataset_specs():
        ref = resolve_dataset(spec, data_dir=data_dir)
        assert all(path.is_file() for _, path in ref.splits)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("conll04:tset", "did you mean 'conll04:test'"),
        ("conl04", "did you mean 'conll04'"),
        ("ade:10", "did you mean 'ade:1'"),
        ("ade:03", "unknown dataset 'ade:03'"),
        ("imdb", "unknown dataset 'imdb'. Known datasets: conll04, scierc and ade"),
    ],
)
def test_unknown_names_list_the_known_ones(data_dir, spec, fragment):
    with pytest.raises(DataError) as info:
        resolve_dataset(spec, data_dir=data_dir)
    assert info.value.code == "E120"
    assert fragment in str(info.value)
    assert "conll04:test" in str(info.value)


def test_missing_dataset_files_say_how_to_get_them(tmp_path):
    empty = tmp_path / "nothing"
    with pytest.raises(DataError) as info:
        resolve_dataset("scierc:test", data_dir=empty)
    message = str(info.value)
    assert info.value.code == "E121"
    assert "scierc/scierc_test.json, scierc/scierc_types.json" in message
    assert str(empty) in message and "(from --data-dir)" in message
    assert "spertmt download scierc" in message and "--data-dir" in message


def test_data_dir_resolution_order(monkeypatch, tmp_path, data_dir):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == tmp_path / "home" / ".cache" / "spertmt" / "datasets"
    monkeypatch.setenv(ENV_DATA_DIR, str(data_dir))
    assert resolve_data_dir() == data_dir
    assert resolve_dataset("ade", data_dir=None).path == data_dir / "ade" / "ade_full.json"
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    with pytest.raises(DataError) as info:
        resolve_dataset("ade", data_dir=tmp_path / "explicit")
    assert "(from --data-dir)" in str(info.value)
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "elsewhere"))
    with pytest.raises(DataError) as info:
        resolve_dataset("ade")
    assert f"(from ${ENV_DATA_DIR})" in str(info.value)


def make_file(folder: Path, name: str, content: str = "[]") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(content)
    return folder / name


def test_file_path_finds_the_types_file_beside_it(tmp_path):
    data = make_file(tmp_path, "my_train.json")
    types = make_file(tmp_path, "my_types.json", "{}")
    for spec in (str(data), data):
        ref = resolve_dataset(spec)
        assert ref.dataset is None
        assert ref.splits == (("my_train.json", data),)
        assert ref.path == data
        assert ref.types == types


def test_file_path_with_no_or_several_types_files(tmp_path):
    data = make_file(tmp_path / "a", "train.jsonl", "")
    ref = resolve_dataset(data)
    assert ref.types is None
    with pytest.raises(DataError) as info:
        ref.require_types()
    assert info.value.code == "E122"
    assert info.value.file == str(data)
    assert "no *_types.json file beside it" in str(info.value)
    assert "pass --types FILE" in str(info.value)

    make_file(tmp_path / "a", "x_types.json", "{}")
    make_file(tmp_path / "a", "y_types.json", "{}")
    with pytest.raises(DataError) as info:
        resolve_dataset(data).require_types()
    assert "several types files beside it" in str(info.value)
    assert "(x_types.json, y_types.json)" in str(info.value)

    explicit = make_file(tmp_path / "b", "chosen.json", "{}")
    assert resolve_dataset(data, types=explicit).require_types() == explicit


def test_explicit_types_override_the_dataset_types(data_dir, tmp_path):
    explicit = make_file(tmp_path, "mine_types.json", "{}")
    assert resolve_dataset("conll04:test", data_dir=data_dir, types=explicit).types == explicit
    with pytest.raises(DataError) as info:
        resolve_dataset("conll04:test", data_dir=data_dir, types=tmp_path / "nope.json")
    assert info.value.code == "E101"
    assert "nope.json" in str(info.value) and "--types" in str(info.value)


def test_missing_file_and_folder_paths(tmp_path):
    with pytest.raises(DataError) as info:
        resolve_dataset(tmp_path / "missing.json")
    assert info.value.code == "E101"
    assert "missing.json" in str(info.value) and "data file not found" in str(info.value)
    with pytest.raises(DataError) as info:
        resolve_dataset(str(tmp_path))
    assert info.value.code == "E101" and "is a folder" in str(info.value)


# ----------------------------------------------------------------------------- download


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


@pytest.fixture()
def server(tmp_path):
    """Serve ``tmp_path / "remote"`` over HTTP on the loopback; yields (folder, base URL)."""
    remote = tmp_path / "remote"
    remote.mkdir()
    handler = functools.partial(QuietHandler, directory=str(remote))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield remote, f"http://127.0.0.1:{httpd.server_address[1]}/datasets"
    finally:
        httpd.shutdown()
        httpd.server_close()


FAKE_FILES = {
    "conll04/conll04_train.json": b'[{"tokens": ["A"], "entities": [], "relations": []}]',
    "conll04/conll04_types.json": b'{"entities": {"X": {}}, "relations": {}}',
    "scierc/scierc_types.json": b"{}",
}


@pytest.fixture()
def fake_checksums(monkeypatch):
    sums = {rel: hashlib.sha256(content).hexdigest() for rel, content in FAKE_FILES.items()}
    monkeypatch.setattr(datasets, "CHECKSUMS", sums)
    return sums


def publish(remote: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        (remote / "datasets" / rel).parent.mkdir(parents=True, exist_ok=True)
        (remote / "datasets" / rel).write_bytes(content)


def test_download_verifies_and_skips_present_files(server, fake_checksums, tmp_path):
    remote, url = server
    publish(remote, FAKE_FILES)
    target = tmp_path / "local"
    seen = []
    result = download("conll04", data_dir=target, base_url=url, on_file=seen.append)
    assert seen == ["conll04/conll04_train.json", "conll04/conll04_types.json"]
    assert result.data_dir == target
    assert result.downloaded == (
        target / "conll04" / "conll04_train.json",
        target / "conll04" / "conll04_types.json",
    )
    assert result.present == ()
    for rel in seen:
        assert (target / rel).read_bytes() == FAKE_FILES[rel]
    assert sorted(p.name for p in (target / "conll04").iterdir()) == [
        "conll04_train.json",
        "conll04_types.json",
    ]
    # Everything verified is kept, so a second run needs no server at all.
    again = download("conll04", data_dir=target, base_url="http://127.0.0.1:9/none")
    assert again.downloaded == () and len(again.present) == 2
    # A damaged local copy is fetched again.
    (target / "conll04" / "conll04_types.json").write_text("{}")
    repaired = download("conll04", data_dir=target, base_url=url)
    assert [p.name for p in repaired.downloaded] == ["conll04_types.json"]
    assert resolve_dataset("conll04:train", data_dir=target).path.is_file()


def test_download_rejects_a_corrupted_file(server, fake_checksums, tmp_path):
    remote, url = server
    publish(remote, {**FAKE_FILES, "conll04/conll04_types.json": b'{"tampered": true}'})
    target = tmp_path / "local"
    with pytest.raises(DataError) as info:
        download("conll04", data_dir=target, base_url=url)
    message = str(info.value)
    assert info.value.code == "E125"
    assert "checksum mismatch for" in message and "conll04/conll04_types.json" in message
    assert fake_checksums["conll04/conll04_types.json"] in message
    assert "the file was not saved" in message
    # The verified file stays; the corrupted one is neither saved nor left as a temporary.
    assert [p.name for p in (target / "conll04").iterdir()] == ["conll04_train.json"]


def test_download_http_error(server, fake_checksums, tmp_path):
    remote, url = server
    publish(remote, {"conll04/conll04_train.json": FAKE_FILES["conll04/conll04_train.json"]})
    with pytest.raises(DataError) as info:
        download("conll04", data_dir=tmp_path / "local", base_url=url)
    assert info.value.code == "E126"
    assert "404" in str(info.value) and "conll04_types.json" in str(info.value)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_server_fails_fast_with_one_clear_message(fake_checksums, tmp_path):
    started = time.perf_counter()
    with pytest.raises(DataError) as info:
        download("conll04", data_dir=tmp_path / "d", base_url=f"http://127.0.0.1:{closed_port()}/x")
    assert time.perf_counter() - started < 3
    message = str(info.value)
    assert info.value.code == "E124"
    assert "cannot reach" in message
    assert "--data-dir" in message and ENV_DATA_DIR in message


def test_silent_server_times_out(fake_checksums, tmp_path):
    # Accepts connections (kernel backlog) but never answers: only the timeout ends it.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x"
        started = time.perf_counter()
        with pytest.raises(DataError) as info:
            download("conll04", data_dir=tmp_path / "d", base_url=url, timeout=0.5)
        assert time.perf_counter() - started < 3
    assert info.value.code == "E124"
    assert "timed out" in str(info.value)


def test_hanging_name_lookup_fails_fast(fake_checksums, monkeypatch, tmp_path):
    def slow_lookup(*args, **kwargs):
        time.sleep(5)
        raise OSError("too late")

    monkeypatch.setattr(datasets.socket, "getaddrinfo", slow_lookup)
    started = time.perf_counter()
    with pytest.raises(DataError) as info:
        download(
            "conll04", data_dir=tmp_path / "d", base_url="http://example.invalid/x", timeout=0.3
        )
    assert time.perf_counter() - started < 2
    assert info.value.code == "E124"
    assert "no answer for host 'example.invalid' within 0.3 s" in str(info.value)


def test_download_unknown_name_and_bad_folder(fake_checksums, tmp_path):
    with pytest.raises(DataError) as info:
        download("conl04")
    assert info.value.code == "E120" and "did you mean 'conll04'" in str(info.value)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(DataError) as info:
        download("conll04", data_dir=blocker, base_url="http://127.0.0.1:9/x")
    assert info.value.code == "E127"
    assert "--data-dir" in str(info.value)


def test_download_accepts_a_split_spec_and_all(server, fake_checksums, tmp_path):
    remote, url = server
    publish(remote, FAKE_FILES)
    result = download("conll04:train", data_dir=tmp_path / "a", base_url=url)
    assert len(result.downloaded) == 2
    result = download("all", data_dir=tmp_path / "b", base_url=url)
    assert len(result.downloaded) == 3


@pytest.mark.skipif(shared_data() is None, reason="benchmark data not available")
def test_download_of_the_real_files_verifies_against_the_built_in_checksums(server, tmp_path):
    remote, url = server
    shutil.copytree(shared_data() / "conll04", remote / "datasets" / "conll04")
    target = tmp_path / "local"
    result = download("conll04", data_dir=target, base_url=url)
    assert sorted(p.name for p in result.downloaded) == [
        f"conll04_{s}.json" for s in ("dev", "test", "train", "train_dev", "types")
    ]
    docs = read_documents(resolve_dataset("conll04:train", data_dir=target).path)
    assert len(docs) == 922


@pytest.mark.skipif(shared_data() is None, reason="benchmark data not available")
def test_built_in_checksums_match_the_shared_files():
    root = shared_data()
    listed = dict(reversed(line.split()) for line in (root / "SHA256SUMS").read_text().splitlines())
    assert listed == dict(CHECKSUMS)


# ---------------------------------------------------------------------------------- CLI


def test_cli_download(server, fake_checksums, tmp_path, capsys):
    remote, url = server
    publish(remote, FAKE_FILES)
    target = tmp_path / "cli"
    code = main(["download", "conll04", "--data-dir", str(target), "--base-url", url])
    out, err = capsys.readouterr()
    assert code == 0
    assert f"conll04: 2 files downloaded, 0 already present, all verified, in {target}" in out
    assert "downloading conll04/conll04_train.json" in err
    assert json.loads((target / "conll04" / "conll04_types.json").read_text())["entities"]


def test_cli_download_offline_prints_one_line(fake_checksums, tmp_path, capsys):
    code = main(
        [
            "download",
            "conll04",
            "--data-dir",
            str(tmp_path),
            "--base-url",
            f"http://127.0.0.1:{closed_port()}/x",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: [E124] cannot reach")
