"""Ctrl-C and SIGTERM end a command with exit code 130 / 143 and one line, never as a success;
``kill -9`` at any point of training resumes to the weights of an uninterrupted run; a
read-only or full output folder is a coded one-line error (issue 20)."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from samples import TYPES

from spertmt.cli import INTERRUPTED, TERMINATED, main
from spertmt.schema import Document, Entity, Relation

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
SIGNALS = [
    pytest.param(signal.SIGINT, INTERRUPTED, "interrupted", id="SIGINT"),
    pytest.param(signal.SIGTERM, TERMINATED, "interrupted (SIGTERM)", id="SIGTERM"),
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _sigint_as_default() -> None:
    # A shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT;
    # the child must see Ctrl-C as a user's terminal delivers it, wherever the suite runs.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


CHILD = {"env": ENV, "preexec_fn": _sigint_as_default}


def test_ctrl_c_inside_a_command_exits_130_with_one_line(monkeypatch, tmp_path, capsys):
    import spertmt.inference.files as files

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "predict_file", interrupted)
    (tmp_path / "in.txt").write_text("John lives in Paris.\n")
    code = main(["predict", "--model", str(tmp_path), str(tmp_path / "in.txt")])
    assert code == INTERRUPTED == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_sigterm_is_an_interrupt_only_while_a_command_runs(monkeypatch, tmp_path, capsys):
    import spertmt.inference.files as files

    before = signal.getsignal(signal.SIGTERM)

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM did not interrupt the command")

    monkeypatch.setattr(files, "predict_file", terminated)
    (tmp_path / "in.txt").write_text("John lives in Paris.\n")
    code = main(["predict", "--model", str(tmp_path), str(tmp_path / "in.txt")])
    assert code == TERMINATED == 143
    assert capsys.readouterr().err.strip() == "interrupted (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) is before  # restored for the caller


def test_version_flag(capsys):
    from spertmt.version import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"spertmt {__version__}"


# --------------------------------------------------------------------------- helpers
def leftovers(folder: Path) -> list[str]:
    """Temporary files and folders of interrupted writes anywhere under ``folder``."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if ".tmp" in p.name or ".old-" in p.name or p.name.endswith(".write-check")
    )


def train_command(tiny_bert_dir, data: Path, run: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "spertmt", "train", "--output", str(run), "-q",
        "--set", f'model.encoder="{tiny_bert_dir}"',
        "--set", f'data.train="{data / "train.json"}"',
        "--set", f'data.types="{data / "types.json"}"',
        "--set", "data.dev=none", "--set", "data.test=none",
        "--set", 'train.device="cpu"', "--set", "train.batch_size=2",
        "--set", "train.neg_entity_count=10", "--set", "train.neg_relation_count=10",
        *extra,
    ]  # fmt: skip


def write_training_data(folder: Path, count: int) -> Path:
    names, cities = ["John", "Anna", "Paul", "Mary", "Omar"], ["Paris", "Rome", "Oslo", "Lima"]
    docs = [
        Document(
            (names[i % 5], "lives", "in", cities[i % 4], *("and", "walks") * (i % 3), "."),
            (Entity("Peop", 0, 1), Entity("Loc", 3, 4)),
            (Relation("Live_In", 0, 1),),
        )
        for i in range(count)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "types.json").write_text(json.dumps(TYPES.to_dict()))
    (folder / "train.json").write_text(json.dumps([d.to_dict() for d in docs]))
    return folder


def wait_for(condition, process, seconds: float, what: str, poll: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"ended before {what}: {process.communicate()[1]}")
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(poll)


def stop(process, how: int) -> str:
    process.send_signal(how)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return err


def checkpoint_epoch(run: Path) -> int:
    try:
        record = json.loads((run / "checkpoint" / "training.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(record["epochs_completed"])


def final_weights(run: Path):
    from safetensors.torch import load_file

    return load_file(run / "model" / "model.safetensors")


# --------------------------------------------------------------------------- train
@POSIX
@pytest.mark.parametrize(("how", "code", "line"), SIGNALS)
def test_a_signal_during_training_keeps_the_last_checkpoint_and_no_temporary(
    tiny_bert_dir, tmp_path, how, code, line
):
    data = write_training_data(tmp_path / "data", 3)
    run = tmp_path / "run"
    command = train_command(tiny_bert_dir, data, run, "--set", "train.epochs=100000")
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, **CHILD)
    wait_for(lambda: checkpoint_epoch(run) >= 1, process, 120, "checkpoint")
    err = stop(process, how)
    assert process.returncode == code, err
    assert err.strip().splitlines()[-1] == line
    assert "Traceback" not in err
    # what is needed to resume is on disk, and nothing half-written is left
    assert checkpoint_epoch(run) >= 1
    assert leftovers(run) == []
    assert not (run / "model").exists()
    if how == signal.SIGTERM:  # and --resume continues from it (one more epoch, then done)
        epochs = f"train.epochs={checkpoint_epoch(run) + 1}"
        resumed = subprocess.run(
            [*command, "--resume", "--set", epochs], env=ENV, capture_output=True, timeout=300
        )
        assert resumed.returncode == 0, resumed.stderr
        assert (run / "model" / "model.safetensors").is_file()


@pytest.fixture(scope="module")
def kill_data(tmp_path_factory):
    return write_training_data(tmp_path_factory.mktemp("kill") / "data", 40)


@pytest.fixture(scope="module")
def straight_weights(tiny_bert_dir, kill_data, tmp_path_factory):
    """The final weights of an uninterrupted 4-epoch run, trained in a process of its own."""
    run = tmp_path_factory.mktemp("straight") / "run"
    command = train_command(tiny_bert_dir, kill_data, run, "--set", "train.epochs=4")
    subprocess.run(command, check=True, env=ENV, capture_output=True, timeout=300)
    return final_weights(run)


def _in_a_checkpoint_write(run: Path) -> bool:
    # Past the first checkpoint, while a later one is written (its temporary folder exists).
    if not (run / "checkpoint").exists() and not list(run.glob(".checkpoint.old-*")):
        return False
    return any(p.name.startswith((".checkpoint.tmp-", ".checkpoint.old-")) for p in run.iterdir())


def _mid_epoch(run: Path) -> bool:
    return checkpoint_epoch(run) >= 2


@POSIX
@pytest.mark.parametrize("moment", [_in_a_checkpoint_write, _mid_epoch], ids=["write", "epoch"])
def test_kill_9_then_resume_gives_the_weights_of_an_uninterrupted_run(
    tiny_bert_dir, kill_data, straight_weights, tmp_path, moment
):
    import torch

    run = tmp_path / "run"
    command = train_command(tiny_bert_dir, kill_data, run, "--set", "train.epochs=4")
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, **CHILD)
    try:
        wait_for(lambda: moment(run), process, 240, "moment to kill", poll=0.002)
    except AssertionError:
        if moment is _in_a_checkpoint_write and process.poll() == 0:
            # Polling every 2 ms missed every write: a fast disk. Not a failure of resuming.
            pytest.skip("every checkpoint write finished between two polls")
        raise
    err = stop(process, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL, err
    assert not (run / "model").exists(), "the run ended before it was killed"
    resumed = subprocess.run(
        [*command, "--resume"], env=ENV, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert leftovers(run) == []
    weights = final_weights(run)
    assert weights.keys() == straight_weights.keys()
    for name, tensor in straight_weights.items():
        assert torch.equal(tensor, weights[name]), name


# --------------------------------------------------------------------------- predict
@pytest.fixture(scope="module")
def many_documents(tmp_path_factory):
    """20,000 one-line documents: far more than are predicted before the test stops them."""
    path = tmp_path_factory.mktemp("many") / "in.jsonl"
    words = ["John", "lives", "in", "Paris", "."]
    lines = (json.dumps({"tokens": words, "orig_id": i}) + "\n" for i in range(20_000))
    path.write_text("".join(lines))
    return path


def predict_command(eager_checkpoint, source: Path, output: Path) -> list[str]:
    return [
        sys.executable, "-m", "spertmt", "predict", "--model", str(eager_checkpoint),
        str(source), "-o", str(output), "--batch-size", "1", "--device", "cpu",
    ]  # fmt: skip


@POSIX
@pytest.mark.parametrize(("how", "code", "line"), SIGNALS)
def test_a_signal_during_jsonl_prediction_keeps_every_finished_document(
    eager_checkpoint, many_documents, tmp_path, how, code, line
):
    out = tmp_path / "out" / "predictions.jsonl"
    partial = out.with_name("predictions.jsonl.partial")
    command = predict_command(eager_checkpoint, many_documents, out)
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, **CHILD)
    wait_for(lambda: partial.exists() and partial.stat().st_size > 0, process, 120, "output")
    # The file grows past the first chunk only once that chunk is written and synced: a stop
    # before that may rightly keep nothing (the torn chunk is cut back).
    first = partial.stat().st_size
    wait_for(lambda: partial.stat().st_size > first, process, 120, "a second chunk")
    err = stop(process, how)
    assert process.returncode == code, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"{line}: kept "), err
    assert last.endswith(f"of 20000 documents in {partial} (complete JSON lines)")
    kept = int(last.split("kept ")[1].split(" of")[0])
    text = partial.read_text(encoding="utf-8")
    assert text.endswith("\n")  # never a half-written line
    docs = [json.loads(row) for row in text.splitlines()]
    assert len(docs) == kept > 0
    assert [d["orig_id"] for d in docs] == list(range(kept))  # in input order
    assert all(d["tokens"] == ["John", "lives", "in", "Paris", "."] for d in docs)
    assert not out.exists()  # the final name appears only complete
    assert leftovers(out.parent) == []


@POSIX
def test_a_signal_during_json_prediction_writes_nothing_and_says_so(
    eager_checkpoint, many_documents, tmp_path
):
    out = tmp_path / "out" / "predictions.json"
    command = [*predict_command(eager_checkpoint, many_documents, out)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, **CHILD)
    time.sleep(8)  # past start-up and into prediction (or still loading: the same outcome)
    err = stop(process, signal.SIGTERM)
    assert process.returncode == TERMINATED, err
    assert err.strip().splitlines()[-1].startswith("interrupted (SIGTERM)")
    assert not out.exists()
    assert leftovers(out.parent) == []


def test_jsonl_output_is_complete_and_renamed_at_the_end(eager_checkpoint, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            json.dumps({"tokens": ["Ann", "met", "Bob"], "orig_id": i}) + "\n" for i in range(20)
        )
    )
    out = tmp_path / "out.jsonl"
    out.write_text("an older file\n")
    args = ["predict", "--model", str(eager_checkpoint), str(source), "-o", str(out), "-q"]
    assert main([*args, "--batch-size", "1"]) == 0  # 3 chunks of 8 documents
    docs = [json.loads(row) for row in out.read_text().splitlines()]
    assert [d["orig_id"] for d in docs] == list(range(20))
    assert not (tmp_path / "out.jsonl.partial").exists()
    assert "wrote 20 documents" in capsys.readouterr().err


def test_jsonl_to_standard_output_is_written_chunk_by_chunk(
    eager_checkpoint, tmp_path, capsys, monkeypatch
):
    import sys as system

    source = tmp_path / "in.jsonl"
    rows = (json.dumps({"tokens": ["Ann", "met", "Bob"], "orig_id": i}) + "\n" for i in range(20))
    source.write_text("".join(rows))
    flushes = []
    real_flush = system.stdout.flush
    monkeypatch.setattr(system.stdout, "flush", lambda: (flushes.append(1), real_flush())[1])
    args = ["predict", "--model", str(eager_checkpoint), str(source), "--format", "jsonl", "-q"]
    assert main([*args, "--batch-size", "1"]) == 0
    docs = [json.loads(row) for row in capsys.readouterr().out.splitlines()]
    assert [d["orig_id"] for d in docs] == list(range(20))
    assert len(flushes) >= 3  # one per chunk of 8 documents


# --------------------------------------------------------------------------- disks
def test_a_full_disk_while_writing_jsonl_is_a_coded_error_keeping_whole_lines(
    eager_checkpoint, tmp_path, capsys, monkeypatch
):
    import spertmt.data.io as io_module

    real_open = open
    chunks = []

    class FillsUp:
        """A file whose disk fills up in the middle of the second chunk."""

        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            chunks.append(len(data))
            if len(chunks) == 2:
                self.handle.write(bytes(data[:10]))  # part of a line reached the disk
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(
        io_module, "open", lambda *a, **k: FillsUp(real_open(*a, **k)), raising=False
    )
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            json.dumps({"tokens": ["Ann", "met", "Bob"], "orig_id": i}) + "\n" for i in range(20)
        )
    )
    out = tmp_path / "out.jsonl"
    args = ["predict", "--model", str(eager_checkpoint), str(source), "-o", str(out), "-q"]
    assert main([*args, "--batch-size", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"error: [E115] {out}.partial: cannot be written: No space left")
    assert "free some space" in err
    partial = Path(f"{out}.partial").read_text()
    assert partial.endswith("\n")  # the torn line was cut back off
    assert [json.loads(row)["orig_id"] for row in partial.splitlines()] == list(range(8))
    assert not out.exists()


def test_a_full_disk_for_json_output_keeps_no_temporary(
    eager_checkpoint, tmp_path, capsys, monkeypatch
):
    real = os.fdopen

    class FullDisk:  # the temporary file opens; its first write finds the disk full
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda *args, **kwargs: FullDisk(real(*args, **kwargs)))
    (tmp_path / "in.txt").write_text("John lives in Paris.\n")
    out = tmp_path / "out.json"
    args = ["predict", "--model", str(eager_checkpoint), str(tmp_path / "in.txt"), "-o", str(out)]
    assert main([*args, "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: [E115] {out}: cannot be written: No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


@pytest.mark.parametrize("command", ["predict", "train"])
def test_a_read_only_output_folder_fails_before_any_work_with_one_line(
    command, tmp_path, capsys, monkeypatch
):
    """A read-only file system (EROFS), simulated: root may write into a chmod-ed folder."""
    real = Path.write_bytes

    def read_only(self, data):
        if self.name.endswith("write-check"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    (tmp_path / "in.txt").write_text("John lives in Paris.\n")
    out = tmp_path / "ro" / ("out.jsonl" if command == "predict" else "run")
    if command == "predict":
        args = ["predict", "--model", str(tmp_path), str(tmp_path / "in.txt"), "-o", str(out)]
        code = "E115"
    else:
        args = ["train", "--output", str(out)]
        code = "E315"
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: [{code}] {out}") and "Read-only file system" in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anyway")
def test_a_chmod_read_only_folder_fails_with_one_line(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (tmp_path / "in.txt").write_text("John lives in Paris.\n")
        out = folder / "out.jsonl"
        args = ["predict", "--model", str(tmp_path), str(tmp_path / "in.txt"), "-o", str(out)]
        assert main(args) == 1
        assert capsys.readouterr().err.startswith(f"error: [E115] {out}: cannot be written")
    finally:
        folder.chmod(0o755)
