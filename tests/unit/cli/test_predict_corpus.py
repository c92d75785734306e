"""``spertmt predict`` over a corpus: lazy reading, ``--shard i/n``, ``--resume`` after a stop
(Ctrl-C, SIGTERM, ``kill -9``), with the final file equal to an uninterrupted run's (issue 18)."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spertmt.cli import INTERRUPTED, TERMINATED, main
from spertmt.data.inputs import open_prediction_inputs
from spertmt.errors import ConfigError
from spertmt.inference.files import Shard

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _sigint_as_default() -> None:
    # A shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT;
    # the child must see Ctrl-C as a user's terminal delivers it, wherever the suite runs.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


CHILD = {"env": ENV, "preexec_fn": _sigint_as_default}
WORDS = ["John", "Anna", "lives", "in", "Paris", "Rome", "and", "works", "for", "Acme", "."]


def predict(eager_checkpoint, *args):
    return main(["predict", "--model", str(eager_checkpoint), "-q", *map(str, args)])


def write_text_corpus(path: Path, count: int) -> Path:
    """``count`` one-line documents of 3-9 words, with a blank line every 7 lines."""
    lines = []
    for i in range(count):
        lines.append(" ".join(WORDS[(i + j) % len(WORDS)] for j in range(3 + i % 7)))
        if i % 7 == 3:
            lines.append("   ")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jsonl_corpus(path: Path, count: int, *, longest: int = 7) -> Path:
    rows = (
        json.dumps({"tokens": [WORDS[(i + j) % len(WORDS)] for j in range(3 + i % (longest - 2))],
                    "orig_id": i})
        for i in range(count)
    )  # fmt: skip
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def unscored(lines: list[str]) -> list[dict]:
    """The documents without their scores: other batches change them in the 6th decimal."""
    docs = [json.loads(line) for line in lines]
    for doc in docs:
        for item in (*doc["entities"], *doc["relations"]):
            assert 0.0 <= item.pop("score") <= 1.0
    return docs


# --------------------------------------------------------------------------- shards
def test_shard_is_i_of_n():
    shard = Shard.parse("2/3")
    assert (shard.index, shard.count, str(shard)) == (2, 3, "2/3")
    assert [k for k in range(10) if shard.takes(k)] == [2, 5, 8] and shard.size(10) == 3
    for bad in ("3/3", "-1/2", "1", "a/b", "1/0", "1/2/3", ""):
        with pytest.raises(ConfigError, match=r"\[E215\]"):
            Shard.parse(bad)


@pytest.fixture(scope="module")
def text_corpus(tmp_path_factory):
    return write_text_corpus(tmp_path_factory.mktemp("corpus") / "news.txt", 61)


@pytest.fixture(scope="module")
def whole_run(eager_checkpoint, text_corpus, tmp_path_factory):
    """The uninterrupted run over the text corpus, batch size 2 (chunks of 16 documents)."""
    out = tmp_path_factory.mktemp("whole") / "all.jsonl"
    assert predict(eager_checkpoint, text_corpus, "-o", out, "--batch-size", "2") == 0
    return lines_of(out)


def test_shards_hold_every_nth_document_with_its_id_and_merge_back(
    eager_checkpoint, text_corpus, whole_run, tmp_path, capsys
):
    shards = []
    for i in range(3):
        out = tmp_path / f"part.{i}.jsonl"
        args = [text_corpus, "-o", out, "--batch-size", "2", "--shard", f"{i}/3"]
        assert predict(eager_checkpoint, *args) == 0
        shards.append(out)
        # Document k is in shard k mod 3, in order (its batches hold other documents).
        assert unscored(lines_of(out)) == unscored(whole_run[i::3])
    assert "wrote 20 documents" in capsys.readouterr().err
    ids = [json.loads(line)["orig_id"] for line in whole_run]
    assert ids == sorted(ids) and len(ids) == 61  # line numbers: blank lines never shift them
    # Merging: round robin (the documented `paste` recipe), or by orig_id for text input.
    rows = [lines_of(path) for path in shards]
    merged = [rows[k % 3][k // 3] for k in range(sum(map(len, rows)))]
    assert unscored(merged) == unscored(whole_run)
    if shutil.which("paste"):
        pasted = subprocess.run(
            ["paste", "-d", "\\n", *map(str, shards)], capture_output=True, text=True, check=True
        ).stdout
        assert [line for line in pasted.splitlines() if line] == merged
    by_id = sorted((line for r in rows for line in r), key=lambda line: json.loads(line)["orig_id"])
    assert by_id == merged


# --------------------------------------------------------------------------- laziness
def test_a_text_input_is_read_a_block_at_a_time(monkeypatch):
    """The first document comes after reading about one block, not the 20 MB input."""

    class Counting(io.BytesIO):
        taken = 0

        def read(self, size=-1):
            data = super().read(size)
            Counting.taken += len(data)
            return data

    data = b"".join(b"John lives in Paris number %d .\n" % i for i in range(600_000))
    assert len(data) > 20_000_000
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(Counting(data), encoding="utf-8"))
    stream = open_prediction_inputs("-")
    documents = stream.documents()
    first = next(documents)
    assert first.item == "John lives in Paris number 0 ." and first.line_number == 1
    assert Counting.taken <= 2 * (1 << 20)
    documents.close()


def test_a_jsonl_input_is_read_a_block_at_a_time(tmp_path, monkeypatch):
    import spertmt.data.io as io_module

    path = write_jsonl_corpus(tmp_path / "big.jsonl", 50_000)
    opened = []
    real_open = Path.open

    def tracking(self, *args, **kwargs):
        handle = real_open(self, *args, **kwargs)
        opened.append(handle)
        return handle

    monkeypatch.setattr(Path, "open", tracking)
    monkeypatch.setattr(io_module, "_LINE_BLOCK", 4096)
    documents = open_prediction_inputs(path).documents()
    assert next(documents).item.tokens == ("John", "Anna", "lives")
    assert opened and opened[-1].tell() <= 2 * 4096 < path.stat().st_size
    documents.close()


def test_the_report_says_how_fast(eager_checkpoint, text_corpus, tmp_path, capsys):
    assert predict(eager_checkpoint, text_corpus, "-o", tmp_path / "o.jsonl") == 0
    err = capsys.readouterr().err
    assert "wrote 61 documents" in err and "skipped 9 blank lines" in err
    assert "; 61 in " in err and " documents/s)" in err


# --------------------------------------------------------------------------- resume
def stopped_run(eager_checkpoint, source, out, monkeypatch, *extra, after_chunks=2):
    """Run ``predict`` until ``after_chunks`` chunks are written, then stop it as Ctrl-C does."""
    from spertmt.data.io import JsonLinesWriter

    real = JsonLinesWriter.write
    calls = []

    def write(self, docs):
        if len(calls) == after_chunks:
            raise KeyboardInterrupt
        calls.append(1)
        return real(self, docs)

    with monkeypatch.context() as patch:
        patch.setattr(JsonLinesWriter, "write", write)
        code = predict(eager_checkpoint, source, "-o", out, "--batch-size", "2", *extra)
    assert code == INTERRUPTED
    return Path(f"{out}.partial")


def test_resume_continues_a_stopped_run_to_the_uninterrupted_file(
    eager_checkpoint, text_corpus, whole_run, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "out.jsonl"
    partial = stopped_run(eager_checkpoint, text_corpus, out, monkeypatch)
    assert len(lines_of(partial)) == 32 and not out.exists()
    record = json.loads(Path(f"{partial}.json").read_text())
    assert record["input"]["path"] == str(text_corpus.resolve())
    assert record["options"]["shard"] is None and record["model"]["weights_sha256"]
    capsys.readouterr()
    assert predict(eager_checkpoint, text_corpus, "-o", out, "--batch-size", "2", "--resume") == 0
    assert lines_of(out) == whole_run
    assert not partial.exists() and not Path(f"{partial}.json").exists()
    report = capsys.readouterr().err
    assert "wrote 61 documents, 32 of them from the stopped run" in report
    assert "relations in the 29 predicted now) as jsonl" in report  # what the counts cover


def test_resume_cuts_a_torn_last_line_and_redoes_its_document(
    eager_checkpoint, text_corpus, whole_run, tmp_path, monkeypatch
):
    """What ``kill -9`` in the middle of a chunk's write can leave: part of a line."""
    out = tmp_path / "out.jsonl"
    partial = stopped_run(eager_checkpoint, text_corpus, out, monkeypatch, after_chunks=1)
    kept = partial.read_text() + whole_run[16] + "\n" + whole_run[17][:25]  # 17 lines and a half
    partial.write_text(kept)
    assert predict(eager_checkpoint, text_corpus, "-o", out, "--batch-size", "2", "--resume") == 0
    assert lines_of(out) == whole_run


def test_resume_of_a_shard(eager_checkpoint, text_corpus, whole_run, tmp_path, monkeypatch):
    out = tmp_path / "s.jsonl"
    stopped_run(eager_checkpoint, text_corpus, out, monkeypatch, "--shard", "1/2", after_chunks=1)
    args = [text_corpus, "-o", out, "--batch-size", "2", "--shard", "1/2", "--resume"]
    assert predict(eager_checkpoint, *args) == 0
    assert unscored(lines_of(out)) == unscored(whole_run[1::2])


def test_resume_without_a_partial_file_starts_from_the_beginning(
    eager_checkpoint, text_corpus, whole_run, tmp_path
):
    out = tmp_path / "fresh.jsonl"
    assert predict(eager_checkpoint, text_corpus, "-o", out, "--batch-size", "2", "--resume") == 0
    assert lines_of(out) == whole_run


def test_resume_refuses_a_partial_file_of_another_run(
    eager_checkpoint, text_corpus, tmp_path, monkeypatch, capsys
):
    source = tmp_path / "in.txt"
    shutil.copy(text_corpus, source)
    out = tmp_path / "out.jsonl"
    partial = stopped_run(eager_checkpoint, source, out, monkeypatch)
    before = partial.read_bytes()
    capsys.readouterr()

    def refused(*extra, code="E216"):
        args = [source, "-o", out, "--batch-size", "2", "--resume", *extra]
        assert predict(eager_checkpoint, *args) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith(f"error: [{code}]"), err
        assert partial.read_bytes() == before  # a refusal changes nothing
        return err

    err = refused("--relation-threshold", "0.9")
    assert "written by another run: options.decision.relation_threshold" in err
    assert "run without --resume to start over" in err
    assert "options.shard (was None, now '0/2')" in refused("--shard", "0/2")
    assert "options.precision (was 'fp32', now 'auto')" in refused("--precision", "auto")
    with open(source, "a", encoding="utf-8") as handle:
        handle.write("One more line .\n")
    assert "input.size" in refused()
    shutil.copy(text_corpus, source)
    os.utime(source, ns=(1, 1))
    assert "input.mtime_ns" in refused()
    Path(f"{partial}.json").unlink()
    assert "has no readable record of the run" in refused()
    assert "JSON Lines written to a file" in refused("--format", "json", code="E211")


def test_resume_needs_jsonl_output_to_a_file_and_an_input_file(
    eager_checkpoint, text_corpus, tmp_path, capsys, monkeypatch
):
    assert predict(eager_checkpoint, text_corpus, "-o", tmp_path / "o.json", "--resume") == 1
    assert "[E211]" in capsys.readouterr().err
    assert predict(eager_checkpoint, text_corpus, "--resume") == 1
    assert "[E211]" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Ann met Bob.\n")))
    assert predict(eager_checkpoint, "-", "-o", tmp_path / "o.jsonl", "--resume") == 1
    err = capsys.readouterr().err
    assert "[E211]" in err and "standard input" in err


@POSIX
@pytest.mark.parametrize("output", ["o.jsonl", "o.json"])
def test_a_fifo_input_is_read_once_and_predicted(eager_checkpoint, tmp_path, output):
    # A pipe (process substitution, a FIFO) can be read only once: it must not be counted or
    # hashed first, which left nothing to predict (or blocked for ever on the FIFO).
    import threading

    fifo = tmp_path / "in.txt"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "w", encoding="utf-8") as handle:
            handle.write("John lives in Paris .\n\nAnna works for Acme .\n")

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out = tmp_path / output
    assert predict(eager_checkpoint, fifo, "-o", out) == 0
    writer.join(timeout=10)
    text = out.read_text(encoding="utf-8")
    docs = (
        [json.loads(line) for line in text.splitlines()]
        if output.endswith("l")
        else json.loads(text)
    )
    assert [d["tokens"][0] for d in docs] == ["John", "Anna"]
    assert open_prediction_inputs(fifo).read_once
    assert not open_prediction_inputs(tmp_path / output).read_once


@POSIX
def test_a_pipe_without_a_suffix_is_read_as_raw_text(eager_checkpoint, tmp_path, capsys):
    # what <(zcat corpus.txt.gz) gives: /dev/fd/63, no suffix to tell the format by
    import subprocess

    writer = subprocess.Popen(["printf", "John lives in Paris .\\nAnna works for Acme .\\n"],
                              stdout=subprocess.PIPE)  # fmt: skip
    assert writer.stdout is not None
    out = tmp_path / "o.jsonl"
    try:
        assert predict(eager_checkpoint, f"/dev/fd/{writer.stdout.fileno()}", "-o", out) == 0
    finally:
        writer.stdout.close()
        writer.wait(timeout=10)
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [d["tokens"][0] for d in docs] == ["John", "Anna"]
    regular = tmp_path / "corpus"  # a regular file without a suffix is still refused
    regular.write_text("John lives in Paris .\n", encoding="utf-8")
    assert predict(eager_checkpoint, regular, "-o", tmp_path / "r.jsonl") == 1
    assert "[E210]" in capsys.readouterr().err


def test_resume_refuses_a_fifo_input(eager_checkpoint, tmp_path, capsys):
    fifo = tmp_path / "in.txt"
    os.mkfifo(fifo)
    assert predict(eager_checkpoint, fifo, "-o", tmp_path / "o.jsonl", "--resume") == 1
    err = capsys.readouterr().err
    assert "[E211]" in err and "a pipe" in err


@pytest.mark.parametrize("name", ["same.txt", "same.jsonl"])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(
    eager_checkpoint, tmp_path, capsys, name
):
    source = write_text_corpus(tmp_path / "same.txt", 3)
    if name.endswith(".jsonl"):
        source = write_jsonl_corpus(tmp_path / name, 3)
    before = source.read_bytes()
    link = tmp_path / f"link-{name}"
    link.symlink_to(source)
    for target in (source, link, tmp_path / "." / name):
        assert predict(eager_checkpoint, source, "-o", target) == 1, target
        err = capsys.readouterr().err
        assert "[E115]" in err and "is the input" in err
    assert source.read_bytes() == before


# --------------------------------------------------------------------------- real signals
@pytest.fixture(scope="module")
def long_corpus(tmp_path_factory):
    """800 short documents: more than are predicted before the test stops the run."""
    return write_jsonl_corpus(tmp_path_factory.mktemp("long") / "corpus.jsonl", 800, longest=4)


@pytest.fixture(scope="module")
def long_run(eager_checkpoint, long_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("long_whole") / "all.jsonl"
    assert predict(eager_checkpoint, long_corpus, "-o", out, "--batch-size", "1") == 0
    return lines_of(out)


def _partial_lines(partial: Path) -> int:
    try:
        return partial.read_bytes().count(b"\n")
    except OSError:
        return 0


@POSIX
@pytest.mark.parametrize(
    ("how", "code"),
    [(signal.SIGINT, INTERRUPTED), (signal.SIGTERM, TERMINATED), (signal.SIGKILL, -9)],
    ids=["SIGINT", "SIGTERM", "kill-9"],
)
def test_a_run_stopped_by_a_signal_resumes_to_the_uninterrupted_file(
    eager_checkpoint, long_corpus, long_run, tmp_path, capsys, how, code
):
    out = tmp_path / "out.jsonl"
    partial = Path(f"{out}.partial")
    command = [
        sys.executable, "-m", "spertmt", "predict", "--model", str(eager_checkpoint),
        str(long_corpus), "-o", str(out), "--batch-size", "1", "--device", "cpu", "-q",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, **CHILD)
    try:
        deadline = time.monotonic() + 120
        while _partial_lines(partial) < 40:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "no output within 120 s"
            time.sleep(0.01)
        process.send_signal(how)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, err
    if how != signal.SIGKILL:
        assert (
            err.strip()
            .splitlines()[-1]
            .endswith(f"of 800 documents in {partial} (complete JSON lines)")
        )
    assert not out.exists(), "the run ended before it was stopped"
    # A chunk whose write the signal interrupts is cut back off (SIGINT, SIGTERM).
    assert 0 < _partial_lines(partial) < 800
    capsys.readouterr()
    assert predict(eager_checkpoint, long_corpus, "-o", out, "--batch-size", "1", "--resume") == 0
    assert "of them from the stopped run" in capsys.readouterr().err
    assert lines_of(out) == long_run  # line for line: no document lost or written twice
    assert not partial.exists()
