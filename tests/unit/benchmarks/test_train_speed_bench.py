"""benchmarks/train_speed.py: its options and the summary of a record."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
import train_speed  # noqa: E402


def test_prediction_only_needs_a_model(capsys):
    with pytest.raises(SystemExit):
        train_speed.parse_args(["--prediction-only"])
    assert "give the model with --model" in capsys.readouterr().err
    args = train_speed.parse_args(["--prediction-only", "--model", "runs/x/model"])
    assert args.prediction_only and args.model == Path("runs/x/model")


def test_the_summary_shows_every_prediction_arithmetic():
    speed = {"sentences_per_s": 100.0, "entity_f1": 80.0, "relation_strict_f1": 60.0}
    record = {
        "hardware": {"cpu": "A CPU", "cpu_flags": ["avx512_bf16"]},
        "threads": 2,
        "commit": "0123456789abcdef",
        "settings": {},
        "prediction": {
            "model": "m",
            "data": "conll04:test",
            "fp32": speed,
            "bf16": {"skipped": "no native bf16 (a CPU)"},
            "int8": {**speed, "sentences_per_s": 150.0},
            "int8+bf16": {**speed, "sentences_per_s": 200.0},
        },
    }
    text = train_speed.summary(record)
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("|")}
    assert "skipped: no native bf16" in rows["bf16"]
    assert "200.0" in rows["int8+bf16"] and "150.0" in rows["int8"]


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("cuda", r"--device cuda: \[E209\] CUDA is not available on this machine"),
        ("cuda:3", r"--device cuda:3: \[E209\] this machine has 2 GPU\(s\), cuda:0 to cuda:1"),
        ("mps", r"--device mps: \[E209\] unknown device; use cpu, cuda or cuda:N"),
        ("cpu:0", "unknown device"),
        ("gpu", "unknown device"),
    ],
)
def test_a_device_this_machine_lacks_is_a_one_line_error(monkeypatch, device, message):
    import torch

    has_two = device == "cuda:3"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: has_two)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2 if has_two else 0)
    with pytest.raises(SystemExit, match=message):
        train_speed.run(train_speed.parse_args(["--device", device, "--threads", "1"]))
    assert train_speed.checked_device("cpu") == "cpu"


def test_a_gpu_run_passes_the_device_skips_int8_and_is_named_after_the_gpu(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(train_speed, "checked_device", lambda device: "cuda:1")
    monkeypatch.setattr(train_speed, "bf16_native", lambda device: (True, "bf16 on A GPU"))
    # the record names the GPU it ran on, not GPU 0
    names = {1: "Acme X100 80GB", 0: "Acme X1 16GB"}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: names[device.index])
    monkeypatch.setattr(
        train_speed, "hardware", lambda: {"cpu": "A CPU", "cpu_flags": [], "gpu": names[0]}
    )
    monkeypatch.setattr(train_speed, "git_commit", lambda: "0" * 40)
    monkeypatch.setattr(train_speed, "RESULTS", tmp_path)
    specs = []

    def fake_child(kind, spec, threads):
        specs.append((kind, spec))
        if kind == "predict":
            return {"sentences_per_s": 500.0, "entity_f1": 80.0, "relation_strict_f1": 60.0}
        return {
            "precision": "bf16",
            "batch_size": 8,
            "sentences_per_s": 100.0,
            "epoch_seconds": 9.2,
            "peak_rss_mb": 900.0,
            "peak_gpu_mb": 1500.0,
            "phase_share": dict.fromkeys(train_speed.PHASES, 0.1),
        }

    monkeypatch.setattr(train_speed, "_in_child", fake_child)
    args = ["--device", "cuda", "--threads", "1", "--settings", "spert", "fast", "--model", "m"]
    out = train_speed.run(train_speed.parse_args(args))
    assert out == tmp_path / "train_speed_acme-x100-80gb.json"
    assert all(spec["device"] == "cuda:1" for _, spec in specs)
    assert [(k, s.get("quantize")) for k, s in specs if k == "predict"] == [
        ("predict", False),
        ("predict", False),
    ]
    record = json.loads(out.read_text())
    assert record["device"] == "cuda:1" and record["hardware"]["gpu"] == "Acme X100 80GB"
    assert record["prediction"]["int8"] == {"skipped": "int8 is a CPU runtime"}
    text = train_speed.summary(record)
    assert "on Acme X100 80GB" in text and "900 (GPU 1500)" in text


def test_the_phase_timer_waits_for_the_device_before_reading_the_clock():
    calls = []
    timer = train_speed.PhaseTimer(sync=lambda: calls.append("sync"))

    class Owner:
        def step(self):
            calls.append("step")

    owner = Owner()
    timer.wrap(owner, "step", "optimizer")
    owner.step()  # timer off: neither timed nor synchronised
    timer.on = True
    owner.step()
    assert calls == ["step", "step", "sync"]
    assert timer.seconds["optimizer"] > 0.0


def test_a_gpu_profile_ranks_kernels_by_their_gpu_time_counting_each_once():
    from torch.autograd import DeviceType

    def event(key, device, cpu_us, gpu_us, annotation=False):
        return SimpleNamespace(
            key=key,
            count=3,
            device_type=device,
            self_cpu_time_total=cpu_us,
            self_device_time_total=gpu_us,
            is_user_annotation=annotation,
        )

    events = [
        # the CPU-side operator carries its kernel's time again: not counted twice
        event("aten::mm", DeviceType.CPU, 9000, 3000),
        event("gemm_kernel", DeviceType.CUDA, 0, 3000),
        event("elementwise_kernel", DeviceType.CUDA, 0, 1000),
        event("## step ##", DeviceType.CUDA, 0, 4000, annotation=True),
    ]
    prof = SimpleNamespace(key_averages=lambda: events)
    gpu = train_speed._top_ops(prof, 5, on_gpu=True)
    assert [(r["kernel"], r["self_gpu_ms"], r["share"]) for r in gpu] == [
        ("gemm_kernel", 3.0, 0.75),
        ("elementwise_kernel", 1.0, 0.25),
    ]
    assert train_speed._top_ops(prof, 1)[0]["op"] == "aten::mm"  # the CPU profile is unchanged


def test_a_gpu_record_is_named_after_the_whole_model_name():
    assert train_speed.gpu_slug("NVIDIA GeForce RTX 4090") == "nvidia-geforce-rtx-4090"
    assert train_speed.gpu_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
