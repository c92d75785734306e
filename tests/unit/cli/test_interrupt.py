"""Ctrl-C ends a command with exit code 130 and one line, never as a success (issue 20)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from samples import TYPES

from spertmt.cli import INTERRUPTED, main
from spertmt.schema import Document, Entity, Relation


def test_ctrl_c_inside_a_command_exits_130_with_one_line(monkeypatch, tmp_path, capsys):
    import spertmt.inference.files as files

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "predict_file", interrupted)
    (tmp_path / "in.txt").write_text("John lives in Paris.\n")
    code = main(["predict", "--model", str(tmp_path), str(tmp_path / "in.txt")])
    assert code == INTERRUPTED == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_version_flag(capsys):
    from spertmt.version import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"spertmt {__version__}"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_during_training_exits_130_and_keeps_the_last_checkpoint(tiny_bert_dir, tmp_path):
    docs = [
        Document(
            (name, "lives", "in", city, "."),
            (Entity("Peop", 0, 1), Entity("Loc", 3, 4)),
            (Relation("Live_In", 0, 1),),
        )
        for name, city in [("John", "Paris"), ("Anna", "Rome"), ("Paul", "Oslo")]
    ]
    (tmp_path / "types.json").write_text(json.dumps(TYPES.to_dict()))
    (tmp_path / "train.json").write_text(json.dumps([d.to_dict() for d in docs]))
    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "spertmt", "train", "--output", str(run), "-q",
        "--set", f'model.encoder="{tiny_bert_dir}"',
        "--set", f'data.train="{tmp_path / "train.json"}"',
        "--set", f'data.types="{tmp_path / "types.json"}"',
        "--set", "data.dev=none", "--set", "data.test=none",
        "--set", "train.epochs=100000", "--set", 'train.device="cpu"',
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoint" / "training.json").exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted"
    # what is needed to resume is on disk
    assert json.loads((run / "checkpoint" / "training.json").read_text())["epochs_completed"] >= 1
