"""Training on several processes (issue 18): ``torchrun --nproc-per-node 2`` and ``accelerate
launch --multi_gpu --num_processes 2`` on the CPU (gloo).

An N-process run is the one-process run with ``gradient_accumulation × N`` (same batches,
samples, summed gradients, global steps): after training, the weights of a 2-process run
equal those of one process trained on the same global batches, within 1e-6 (dropout off:
with dropout each process draws its own masks). A 2-process run killed with ``kill -9``
resumes under the same launcher to the same weights. A launch whose processes cannot meet,
or a process that dies, ends the others with a coded error within the time-out, and an
``accelerate launch`` that starts one process where two were asked for stops at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_training import final_weights, make_docs, tiny_config, tiny_overrides, write_split

from spertmt.training import optimizer_steps_per_epoch, train
from spertmt.training.distributed import (
    LOCAL_RANK_NAMES,
    RANK_NAMES,
    WORLD_SIZE_NAMES,
    ProcessGroup,
    epoch_seed,
    join_process_group,
    launched_rank,
    launched_world_size,
)

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")
TORCHRUN = Path(sys.executable).with_name("torchrun")
ACCELERATE = Path(sys.executable).with_name("accelerate")
TOLERANCE = 1e-6
"""Largest difference allowed between a weight of the 2-process run and of the 1-process one
(float sums in another order; observed: 0, the two sums of two terms are the same)."""
LAUNCH_ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}
LAUNCH_NAMES = (*WORLD_SIZE_NAMES, *RANK_NAMES, *LOCAL_RANK_NAMES, "MASTER_ADDR", "MASTER_PORT")
for _name in [*LAUNCH_NAMES, *(n for n in LAUNCH_ENV if n.startswith("ACCELERATE_"))]:
    LAUNCH_ENV.pop(_name, None)
NEEDS_ACCELERATE = pytest.mark.skipif(
    not ACCELERATE.is_file(), reason="accelerate not installed (pip install 'spertmt[accelerate]')"
)
LAUNCHERS = [
    pytest.param(
        "torchrun",
        marks=pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun not installed"),
    ),
    pytest.param("accelerate", marks=NEEDS_ACCELERATE),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def quiet_encoder(tiny_bert_dir, tmp_path_factory):
    """The tiny encoder without dropout: then a step's result does not depend on who runs it."""
    folder = tmp_path_factory.mktemp("quiet_bert")
    for path in tiny_bert_dir.iterdir():
        shutil.copy(path, folder / path.name)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def spread_data(tmp_path_factory):
    """21 training documents: 11 batches of 2, so the last step has one batch for 2 processes."""
    from test_training import TYPES

    folder = tmp_path_factory.mktemp("spread")
    (folder / "types.json").write_text(json.dumps(TYPES.to_dict()))
    return {
        "types": folder / "types.json",
        "train": write_split(folder / "train.json", make_docs(21)),
        "dev": write_split(folder / "dev.json", make_docs(3, offset=3)),
        "test": write_split(folder / "test.json", make_docs(3, offset=5)),
    }


def settings(quiet_encoder, data, **extra) -> dict[str, str]:
    values = {"model.dropout": "0.0", "train.epochs": "3", "train.eval_every": "2", **extra}
    return dict(item.split("=", 1) for item in tiny_overrides(quiet_encoder, data, **values))


def launcher(name: str, nproc: int = 2) -> list[str]:
    """The command that starts ``nproc`` processes on this machine: torchrun or Accelerate.

    ``accelerate launch --multi_gpu`` starts them with torchrun's machinery (on the CPU too:
    ``--cpu`` would start one process, expecting mpirun to start the others); the other
    options are given so that it fills in no defaults (and warns of none).
    """
    port = str(free_port())
    if name == "torchrun":
        return [str(TORCHRUN), "--nproc-per-node", str(nproc), "--master-addr", "127.0.0.1",
                "--master-port", port]  # fmt: skip
    return [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", str(nproc),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_ip", "127.0.0.1", "--main_process_port", port]  # fmt: skip


def launch(
    run: Path, values: dict[str, str], *extra: str, nproc: int = 2, using: str = "torchrun"
) -> list[str]:
    sets = [part for key, value in values.items() for part in ("--set", f"{key}={value}")]
    return [
        *launcher(using, nproc), "-m", "spertmt", "train", "--output", str(run),
        "-q", "--dist-timeout", "60", *sets, *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def one_process(quiet_encoder, spread_data, tmp_path_factory):
    """One process on the same global batches: batch 2, gradient accumulation 2."""
    values = settings(quiet_encoder, spread_data, **{"train.gradient_accumulation": "2"})
    config = tiny_config(quiet_encoder, spread_data, **{k: values[k] for k in values})
    out = tmp_path_factory.mktemp("one") / "run"
    train(config, output_dir=out, progress=False)
    return out


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid`` and by them (Linux ``/proc``): torchrun's workers."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                todo.append(child)
    return found


def kill_9_all(process: subprocess.Popen) -> None:
    """``kill -9`` the launcher and every process it started (workers run in sessions of
    their own, out of reach of a kill of the launcher's process group)."""
    for pid in [*descendants(process.pid), process.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def assert_same_weights(expected: Path, actual: Path) -> float:
    first, second = final_weights(expected), final_weights(actual)
    assert first.keys() == second.keys()
    worst = max(float((first[k] - second[k]).abs().max()) for k in first)
    assert worst <= TOLERANCE, f"largest weight difference {worst}"
    return worst


def test_the_schedule_counts_global_steps():
    from spertmt.config import TrainConfig

    setup = TrainConfig(batch_size=2)
    assert optimizer_steps_per_epoch(21, setup, world_size=2) == 6  # 11 batches, 2 a step
    assert optimizer_steps_per_epoch(21, TrainConfig(batch_size=2, gradient_accumulation=2)) == 6


def clear_launch_variables(monkeypatch) -> None:
    for name in [*LAUNCH_NAMES, "ACCELERATE_MIXED_PRECISION"]:
        monkeypatch.delenv(name, raising=False)


def test_one_process_without_a_launcher_joins_nothing(monkeypatch):
    clear_launch_variables(monkeypatch)
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")  # accelerate launch, one process
    assert join_process_group(torch.device("cpu")) == ProcessGroup()
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")  # with a world size of 1 on purpose
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert join_process_group(torch.device("cpu")) == ProcessGroup()
    clear_launch_variables(monkeypatch)
    group = join_process_group(torch.device("cpu"))
    assert group == ProcessGroup() and not group.enabled and group.is_main
    assert [group.owns(i) for i in range(3)] == [True, True, True]
    assert group.on_main("nothing", lambda: 7) == 7
    assert ProcessGroup(rank=1, world_size=2).owns(3) and not ProcessGroup(1, 2).owns(2)
    assert epoch_seed(1, 2, 0) != epoch_seed(1, 2, 1)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"WORLD_SIZE": "2"}, "RANK is not set"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "outside WORLD_SIZE=2"),
        ({"WORLD_SIZE": "2", "RANK": "0"}, "MASTER_ADDR and MASTER_PORT not set"),
        ({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "2"}, "outside WORLD_SIZE=2"),
        # accelerate launch --num_processes 2 without --multi_gpu (or mpirun): one process.
        ({"ACCELERATE_MIXED_PRECISION": "no", "MASTER_ADDR": "127.0.0.1"}, "started this"),
    ],
)
def test_launch_variables_that_do_not_fit_are_a_coded_error(monkeypatch, env, says):
    from spertmt.errors import ConfigError

    clear_launch_variables(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=rf"\[E240\].*{says}"):
        join_process_group(torch.device("cpu"))


@pytest.mark.parametrize(
    ("env", "world", "rank"),
    [
        ({"PMI_SIZE": "4", "PMI_RANK": "3"}, 4, 3),  # Intel MPI, MPICH
        ({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"}, 2, 1),  # Open MPI
        ({"MV2_COMM_WORLD_SIZE": "2", "MV2_COMM_WORLD_RANK": "1"}, 2, 1),  # MVAPICH
        ({"WORLD_SIZE": "2", "RANK": "1", "PMI_SIZE": "1", "PMI_RANK": "0"}, 2, 1),  # torch's
        ({"PMI_SIZE": "1", "PMI_RANK": "0"}, 1, 0),
    ],
)
def test_mpirun_places_a_process_as_accelerate_launch_cpu_reads_it(monkeypatch, env, world, rank):
    """``accelerate launch --cpu --mpirun_hostfile``: MPI sets the rank and world size."""
    clear_launch_variables(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert (launched_world_size(), launched_rank()) == (world, rank)


@POSIX
@pytest.mark.parametrize("using", LAUNCHERS)
def test_two_processes_train_as_one_on_the_same_global_batches_and_resume_after_kill_9(
    quiet_encoder, spread_data, one_process, tmp_path, using
):
    values = settings(quiet_encoder, spread_data)
    # Straight through: the weights of one process on the same global batches.
    straight = tmp_path / "two"
    done = subprocess.run(
        launch(straight, values, using=using), env=LAUNCH_ENV, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_weights(one_process, straight)
    events = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    start = events[0]
    assert start["event"] == "start" and start["world_size"] == 2
    assert start["global_batch_size"] == 4 and start["total_steps"] == 18
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [6, 12, 18]
    assert sum(e["event"] == "start" for e in events) == 1  # rank 0 alone writes the log
    assert json.loads((straight / "results.json").read_text())["test"] is not None
    assert done.stdout.count("model: ") == 1  # rank 0 alone reports

    # Killed (every process, kill -9) after its first checkpoint, then resumed the same way.
    run = tmp_path / "killed"
    process = subprocess.Popen(
        launch(run, values, using=using), env=LAUNCH_ENV, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 180
        while not (run / "checkpoint" / "training.json").is_file():
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 180 s"
            time.sleep(0.002)
        workers = descendants(process.pid)
        assert len(workers) >= 2, "the launcher's two workers"
        kill_9_all(process)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            kill_9_all(process)
    for pid in workers:  # none survives: a survivor would go on writing the run folder
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and _alive(pid):
            assert time.monotonic() < deadline, f"worker {pid} survived kill -9"
            time.sleep(0.05)
    if (run / "model").exists():
        pytest.skip("the run ended between two polls")
    resumed = subprocess.run(
        launch(run, values, "--resume", using=using), env=LAUNCH_ENV, capture_output=True,
        text=True, timeout=240,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_weights(one_process, run)
    kinds = [json.loads(line)["event"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert "resume" in kinds


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie is dead, only not yet reaped


@POSIX
@NEEDS_ACCELERATE
def test_accelerate_launch_without_multi_gpu_stops_with_a_coded_error(
    quiet_encoder, spread_data, tmp_path
):
    # Without --multi_gpu (or mpirun) accelerate launch --num_processes 2 starts one process.
    command = launch(tmp_path / "run", settings(quiet_encoder, spread_data), using="accelerate")
    command.remove("--multi_gpu")
    done = subprocess.run(command, env=LAUNCH_ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, done.stderr[-3000:]
    ours = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(ours) == 1, done.stderr[-3000:]
    assert ours[0].startswith("error: [E240] accelerate launch started this process alone")
    assert not (tmp_path / "run").exists()


@POSIX
def test_a_process_whose_partner_never_comes_stops_within_the_timeout(
    quiet_encoder, spread_data, tmp_path
):
    env = {**LAUNCH_ENV, "WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}  # fmt: skip
    sets = [
        p for k, v in settings(quiet_encoder, spread_data).items() for p in ("--set", f"{k}={v}")
    ]
    command = [sys.executable, "-m", "spertmt", "train", "--output", str(tmp_path / "run"), "-q",
               "--dist-timeout", "3", *sets]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: [E240] process 0 of 2 could not join the others"), last
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 60


@POSIX
def test_a_dead_process_ends_the_others_with_a_coded_error(quiet_encoder, spread_data, tmp_path):
    port = str(free_port())
    values = settings(quiet_encoder, spread_data, **{"train.epochs": "100000"})
    sets = [p for k, v in values.items() for p in ("--set", f"{k}={v}")]
    run = tmp_path / "run"
    command = [sys.executable, "-m", "spertmt", "train", "--output", str(run), "-q",
               "--dist-timeout", "10", *sets]  # fmt: skip
    processes = []
    for rank in (0, 1):
        env = {**LAUNCH_ENV, "WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}  # fmt: skip
        processes.append(subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True))
    first, second = processes
    try:
        deadline = time.monotonic() + 180
        while not (run / "checkpoint" / "training.json").is_file():
            assert first.poll() is None, first.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 180 s"
            time.sleep(0.01)
        second.kill()
        second.wait(timeout=30)
        started = time.monotonic()
        _, err = first.communicate(timeout=90)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert first.returncode == 1, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: [E241] training process 0 of 2 lost the others"), last
    assert time.monotonic() - started < 40
