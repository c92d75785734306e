import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from spertmt.config import DataConfig, TrainConfig, load_config
from spertmt.errors import CheckpointError, ConfigError
from spertmt.runtime.devices import resolve_device
from spertmt.schema import Document, Entity, EntityType, Relation, RelationType, TypeSchema
from spertmt.training import (
    TrainingCallback,
    callbacks,
    checkpointing,
    epoch_batches,
    load_run_config,
    load_run_data,
    optimizer_groups,
    optimizer_steps_per_epoch,
    train,
)

TYPES = TypeSchema(
    (EntityType("Peop", "P", "People"), EntityType("Loc", "L", "Location")),
    (RelationType("Live_In", "LI", "Live in"),),
)
NAMES = ["John", "Anna", "Paul", "Mary", "Omar", "Lena", "Ivan", "Sara"]
CITIES = ["Paris", "Rome", "Oslo", "Lima", "Kyiv", "Bonn", "Pune", "Riga"]


def make_docs(count: int, offset: int = 0) -> list[Document]:
    docs = []
    for i in range(count):
        name, city = NAMES[(i + offset) % 8], CITIES[(i * 3 + offset) % 8]
        filler = ("and", "often", "walks") * (i % 3)
        tokens = (name, "lives", "in", city, *filler, ".")
        docs.append(
            Document(
                tokens,
                (Entity("Peop", 0, 1), Entity("Loc", 3, 4)),
                (Relation("Live_In", 0, 1),),
                orig_id=f"d{offset + i}",
            )
        )
    return docs


def write_split(path: Path, docs: list[Document]) -> Path:
    path.write_text(json.dumps([d.to_dict() for d in docs]))
    return path


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    (folder / "types.json").write_text(json.dumps(TYPES.to_dict()))
    return {
        "types": folder / "types.json",
        "train": write_split(folder / "train.json", make_docs(7)),
        "dev": write_split(folder / "dev.json", make_docs(3, offset=3)),
        "test": write_split(folder / "test.json", make_docs(3, offset=5)),
    }


def tiny_overrides(tiny_bert_dir, tiny_data, **extra) -> list[str]:
    values = {
        "model.encoder": f'"{tiny_bert_dir}"',
        "data.train": f'"{tiny_data["train"]}"',
        "data.dev": f'"{tiny_data["dev"]}"',
        "data.test": f'"{tiny_data["test"]}"',
        "data.types": f'"{tiny_data["types"]}"',
        "train.epochs": "2",
        "train.batch_size": "2",
        "train.neg_entity_count": "10",
        "train.neg_relation_count": "10",
        "train.lr": "1e-3",
        "train.device": '"cpu"',
        "eval.batch_size": "4",
    }
    values.update(extra)
    return [f"{key}={value}" for key, value in values.items()]


def tiny_config(tiny_bert_dir, tiny_data, **extra):
    return load_config(None, overrides=tiny_overrides(tiny_bert_dir, tiny_data, **extra))


def crash_after_first_checkpoint(config, out: Path, monkeypatch) -> None:
    """Train into ``out`` until the checkpoint after epoch 1 is written, then crash."""
    real_save = checkpointing.save_checkpoint

    def save_then_crash(path, *args, **kwargs):
        real_save(path, *args, **kwargs)
        if Path(path).name == "checkpoint" and kwargs["trainer_state"]["epoch"] == 1:
            raise RuntimeError("simulated crash after epoch 1")

    monkeypatch.setattr(checkpointing, "save_checkpoint", save_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, output_dir=out, progress=False)
    monkeypatch.setattr(checkpointing, "save_checkpoint", real_save)


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(run / "model" / "model.safetensors")


# --------------------------------------------------------------------------- data
def test_dataset_names_resolve_with_their_own_types_file(tmp_path):
    folder = tmp_path / "conll04"
    folder.mkdir()
    (folder / "conll04_types.json").write_text(json.dumps(TYPES.to_dict()))
    write_split(folder / "conll04_train.json", make_docs(6))
    write_split(folder / "conll04_dev.json", make_docs(2))
    data = load_run_data(
        DataConfig(
            train="conll04:train",
            dev="conll04:dev",
            test=None,
            data_dir=str(tmp_path),
            max_documents=4,
        )
    )
    assert data.types == TYPES and data.types_path == folder / "conll04_types.json"
    assert len(data.train.documents) == 4 and len(data.dev.documents) == 2 and data.test is None
    assert "training on the first 4" in data.train.summary
    fingerprint = data.fingerprint()
    assert fingerprint["train"]["source"] == "conll04:train"
    assert set(fingerprint) == {"types", "train", "dev"}


SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


@pytest.mark.skipif(not (SHARED_DATA / "conll04").is_dir(), reason="benchmark data not present")
def test_default_data_is_conll04_with_spert_split_sizes():
    data = load_run_data(DataConfig(data_dir=str(SHARED_DATA)))
    sizes = [len(s.documents) for s in (data.train, data.dev, data.test)]
    assert sizes == [922, 231, 288]
    assert data.types.entity_names == ("Loc", "Org", "Peop", "Other")


# --------------------------------------------------------------------------- batching
def test_epoch_batches_cover_every_document_once_and_repeat_under_a_seed():
    lengths = np.random.default_rng(5).integers(3, 80, size=203).tolist()
    for bucketing in (True, False):
        first = epoch_batches(
            lengths, batch_size=4, rng=np.random.default_rng(7), length_bucketing=bucketing
        )
        again = epoch_batches(
            lengths, batch_size=4, rng=np.random.default_rng(7), length_bucketing=bucketing
        )
        other = epoch_batches(
            lengths, batch_size=4, rng=np.random.default_rng(8), length_bucketing=bucketing
        )
        assert sorted(int(i) for b in first for i in b) == list(range(203))
        assert len(first) == math.ceil(203 / 4)
        assert [b.tolist() for b in first] == [b.tolist() for b in again]
        assert [b.tolist() for b in first] != [b.tolist() for b in other]


def test_batches_are_a_uniform_shuffle_by_default_as_in_spert():
    assert TrainConfig().length_bucketing is False
    lengths = np.random.default_rng(5).integers(3, 80, size=23).tolist()
    batches = epoch_batches(lengths, batch_size=4, rng=np.random.default_rng(7))
    order = np.random.default_rng(7).permutation(23)
    assert [b.tolist() for b in batches] == [order[i : i + 4].tolist() for i in range(0, 23, 4)]


def test_length_bucketing_reduces_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 200, size=400)

    def padding(batches):
        return sum(int(lengths[b].max() * len(b) - lengths[b].sum()) for b in batches)

    plain = epoch_batches(
        lengths, batch_size=8, rng=np.random.default_rng(1), length_bucketing=False
    )
    bucketed = epoch_batches(
        lengths, batch_size=8, rng=np.random.default_rng(1), length_bucketing=True
    )
    assert padding(bucketed) < padding(plain) / 5
    # the batch order is shuffled, not sorted by length
    maxima = [int(lengths[b].max()) for b in bucketed]
    assert maxima != sorted(maxima)


def test_optimizer_steps_per_epoch_counts_short_accumulation_groups():
    assert optimizer_steps_per_epoch(7, TrainConfig(batch_size=2)) == 4
    assert optimizer_steps_per_epoch(7, TrainConfig(batch_size=2, gradient_accumulation=3)) == 2
    assert optimizer_steps_per_epoch(922, TrainConfig()) == 461


def test_optimizer_groups_match_spert_name_rule(tiny_bert_dir):
    from spertmt.config import ModelConfig
    from spertmt.model.spert import SpertMTModel

    model = SpertMTModel.build(ModelConfig(encoder=str(tiny_bert_dir)), TYPES)
    decay, plain = optimizer_groups(model, 0.01)
    spert_no_decay = {
        id(p)
        for n, p in model.named_parameters()
        if any(nd in n for nd in ("bias", "LayerNorm.bias", "LayerNorm.weight"))
    }
    assert {id(p) for p in plain["params"]} == spert_no_decay
    assert decay["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
    assert len(decay["params"]) + len(plain["params"]) == len(list(model.parameters()))


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"\[E209\].*train\.device.*unknown device"):
        resolve_device("tpu-ish")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def straight_run(tiny_bert_dir, tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "straight"
    config = tiny_config(tiny_bert_dir, tiny_data, **{"train.eval_every": "1"})
    return config, train(config, output_dir=out, progress=False)


def test_run_folder_holds_config_metrics_model_and_predictions(straight_run):
    config, result = straight_run
    out = result.output_dir
    text = (out / "config.json").read_text()
    assert json.loads(text) == config.to_dict()
    assert text == json.dumps(config.to_dict(), sort_keys=True, indent=2) + "\n"
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("checkpoint") == 2
    evals = [e for e in events if e["event"] == "eval"]
    assert [(e["split"], e["epoch"]) for e in evals] == [("dev", 1), ("dev", 2), ("test", 2)]
    assert result.dev == evals[1]["report"] and result.test == evals[2]["report"]
    assert result.epochs == 2 and result.model_dir == out / "model"
    assert (out / "checkpoint" / "optimizer.safetensors").is_file()
    assert not (out / "model" / "optimizer.safetensors").exists()
    record = json.loads((out / "model" / "training.json").read_text())
    assert record["seed"] == 1 and record["config"] == config.to_dict()
    assert record["metrics"]["test"] == result.test
    assert set(record["data"]) == {"types", "train", "dev", "test"}
    assert all(len(entry["sha256"]) == 64 for entry in record["data"].values())
    predictions = json.loads((out / "predictions_test.json").read_text())
    assert len(predictions) == 3
    assert json.loads((out / "results.json").read_text())["test"] == result.test


def test_step_losses_are_logged_per_term(tiny_bert_dir, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(callbacks, "LOG_EVERY_STEPS", 1)
    config = tiny_config(
        tiny_bert_dir,
        tiny_data,
        **{
            "train.epochs": "1",
            "data.test": '"none"',
            "data.dev": '"none"',
            "decision.entity_overlap": '"resolve"',
        },
    )
    result = train(config, output_dir=tmp_path / "run", progress=False)
    # the run's decision rule is saved with its model
    from spertmt.model.checkpoint import load_checkpoint

    assert load_checkpoint(result.model_dir).rule == config.decision
    assert config.decision.entity_overlap == "resolve"
    events = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    steps = [e for e in events if e["event"] == "train"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]
    assert set(steps[0]["loss_terms"]) >= {"entity_type", "relation", "total"}
    assert steps[0]["loss"] == steps[0]["loss_terms"]["total"]
    assert result.dev is None and result.test is None
    assert not (tmp_path / "run" / "predictions_test.json").exists()


class Recorder(TrainingCallback):
    def __init__(self, fail_at_epoch_end: bool = False):
        self.events: list[tuple] = []
        self.fail_at_epoch_end = fail_at_epoch_end

    def on_start(self, plan):
        self.events.append(("start", plan.epochs, plan.total_steps, plan.resumed))

    def on_epoch_start(self, epoch, num_batches):
        self.events.append(("epoch", epoch, num_batches))

    def on_step(self, step):
        self.events.append(
            ("step", step.step, step.group_size, len(step.batch_losses), pytest.approx(step.lr))
        )

    def on_evaluation(self, split, epoch, step, report):
        self.events.append(("eval", split, epoch, step))

    def on_checkpoint(self, epoch, step, path):
        self.events.append(("checkpoint", epoch, step, path.name))

    def on_epoch_end(self, epoch, step):
        self.events.append(("epoch_end", epoch, step))
        if self.fail_at_epoch_end:
            raise RuntimeError("stop here")

    def on_end(self, result):
        self.events.append(("end", result.epochs))

    def close(self):
        self.events.append(("close",))


def test_callbacks_get_the_run_events_in_order(tiny_bert_dir, tiny_data, tmp_path, capsys):
    overrides = {"train.epochs": "1", "train.gradient_accumulation": "3"}
    recorder = Recorder()
    config = tiny_config(tiny_bert_dir, tiny_data, **overrides)
    train(config, output_dir=tmp_path / "run", progress=True, callbacks=[recorder])
    # 7 documents, batch size 2: 4 batches, groups of 3 and 1
    assert recorder.events == [
        ("start", 1, 2, False),
        ("epoch", 1, 4),
        ("step", 1, 3, 3, 5e-4),  # lr 1e-3, no warm-up step, linear decay over 2 steps
        ("step", 2, 1, 1, 0.0),
        ("eval", "dev", 1, 2),
        ("checkpoint", 1, 2, "checkpoint"),
        ("epoch_end", 1, 2),
        ("eval", "test", 1, 2),
        ("end", 1),
        ("close",),
    ]
    shown = capsys.readouterr().err
    assert "epoch 1: dev" in shown and "test" in shown

    failing = Recorder(fail_at_epoch_end=True)
    with pytest.raises(RuntimeError, match="stop here"):
        train(config, output_dir=tmp_path / "failed", progress=False, callbacks=[failing])
    assert failing.events[-2:] == [("epoch_end", 1, 2), ("close",)]


def test_gradient_accumulation_steps_once_per_group(
    tiny_bert_dir, tiny_data, tmp_path, monkeypatch
):
    monkeypatch.setattr(callbacks, "LOG_EVERY_STEPS", 1)
    overrides = {
        "train.epochs": "1",
        "train.gradient_accumulation": "3",
        "data.test": '"none"',
        "data.dev": '"none"',
    }
    train(
        tiny_config(tiny_bert_dir, tiny_data, **overrides),
        output_dir=tmp_path / "run",
        progress=False,
    )
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    # 7 documents, batch size 2: 4 batches, groups of 3 and 1
    assert events[0]["steps_per_epoch"] == 2
    assert [e["step"] for e in events if e["event"] == "train"] == [1, 2]


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(
    straight_run, tiny_bert_dir, tiny_data, tmp_path, monkeypatch
):
    config, straight = straight_run
    out = tmp_path / "interrupted"
    crash_after_first_checkpoint(config, out, monkeypatch)
    assert not (out / "model").exists()

    result = train(config, output_dir=out, resume=True, progress=False)
    expected, actual = final_weights(straight.output_dir), final_weights(out)
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
    assert result.test == straight.test and result.dev == straight.dev
    kinds = [json.loads(line)["event"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "resume" in kinds


def _as_written_by_spertmt_0_1(folder: Path) -> None:
    """Rewrite a run folder's configs as spertmt 0.1 wrote them: the decision rule inside
    ``model``, the removed variants' switches at their off values, checkpoint format 1."""
    legacy_fields = {
        "entity_negative_weight": 1.0,
        "iou_loss": "bce",
        "iou_negative_scale": 1.0,
        "hard_negative_fraction": 0.5,
        "pair_entity_feature": "logits",
        "relation_score": "gate",
    }

    def legacy(config: dict) -> dict:
        config["model"].update(config.pop("decision"), **legacy_fields)
        return config

    run_config = folder / "config.json"
    run_config.write_text(json.dumps(legacy(json.loads(run_config.read_text()))))
    record_file = folder / "checkpoint" / "training.json"
    record = json.loads(record_file.read_text())
    record["config"] = legacy(record["config"])
    record_file.write_text(json.dumps(record))
    saved = folder / "checkpoint" / "config.json"
    checkpoint_config = json.loads(saved.read_text())
    checkpoint_config["format_version"] = 1
    checkpoint_config["model"].update(checkpoint_config.pop("decision"), **legacy_fields)
    saved.write_text(json.dumps(checkpoint_config))
    state_file = folder / "checkpoint" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    state["format_version"] = 1
    state_file.write_text(json.dumps(state))


def test_a_run_folder_of_spertmt_0_1_resumes(straight_run, tiny_bert_dir, tiny_data, tmp_path):
    import shutil

    _, straight = straight_run
    out = tmp_path / "legacy"
    shutil.copytree(straight.output_dir, out)
    _as_written_by_spertmt_0_1(out)
    config = load_run_config(out, overrides=["train.epochs=3"])
    assert config.decision == straight_run[0].decision
    result = train(config, output_dir=out, resume=True, progress=False)
    assert result.epochs == 3
    assert json.loads((out / "model" / "config.json").read_text())["decision"] == (
        dataclasses.asdict(config.decision)
    )


def test_resume_refuses_another_configuration(straight_run, tiny_bert_dir, tiny_data):
    config, straight = straight_run
    changed = tiny_config(tiny_bert_dir, tiny_data, **{"train.eval_every": "1", "train.lr": "2e-3"})
    with pytest.raises(CheckpointError, match=r"\[E310\].*train\.lr \(saved 0\.001, now 0\.002\)"):
        train(changed, output_dir=straight.output_dir, resume=True, progress=False)


@pytest.mark.parametrize(
    "record",
    # not an object; a config that is no table; a data entry that is no table; no data
    # fingerprint (the data could not be checked); no config
    [[], {"config": [], "data": {}}, {"data": {"train": 3}}, {"config": {}}, {"data": {}}],
)
def test_resume_refuses_a_malformed_training_record(straight_run, record):
    from spertmt.training.folder import check_resumable

    config, straight = straight_run
    with pytest.raises(CheckpointError, match=r"\[E303\].*: training\.json is malformed"):
        check_resumable(config, None, record, straight.output_dir)  # type: ignore[arg-type]


@pytest.mark.parametrize("entry", [None, {}, {"sha256": 5}])
def test_resume_refuses_a_training_record_without_a_data_hash(straight_run, tiny_data, entry):
    from spertmt.training.data import load_run_data
    from spertmt.training.folder import check_resumable

    config, straight = straight_run
    data = load_run_data(config.data)
    record = json.loads((straight.output_dir / "checkpoint" / "training.json").read_text())
    check_resumable(config, data, record, straight.output_dir)  # as written: resumable
    if entry is None:
        del record["data"]["train"]
    else:
        record["data"]["train"] = entry
    with pytest.raises(CheckpointError, match=r"\[E303\].*field data\.train\.sha256"):
        check_resumable(config, data, record, straight.output_dir)


def test_resume_may_extend_the_epochs(straight_run, tiny_bert_dir, tiny_data, tmp_path):
    import shutil

    _, straight = straight_run
    out = tmp_path / "extended"
    shutil.copytree(straight.output_dir, out)
    longer = tiny_config(tiny_bert_dir, tiny_data, **{"train.eval_every": "1", "train.epochs": "3"})
    result = train(longer, output_dir=out, resume=True, progress=False)
    assert result.epochs == 3
    record = json.loads((out / "model" / "training.json").read_text())
    assert record["epochs_completed"] == 3
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in events if e["event"] == "eval" and e["split"] == "dev"] == [1, 2, 3]


def test_resume_refuses_changed_data(straight_run, tmp_path):
    import shutil

    config, straight = straight_run
    out = tmp_path / "copy"
    shutil.copytree(straight.output_dir, out)
    record_path = out / "checkpoint" / "training.json"
    record = json.loads(record_path.read_text())
    record["data"]["train"]["sha256"] = "0" * 64  # as if train.json had been edited since
    record_path.write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match=r"\[E312\].*train data .* changed"):
        train(config, output_dir=out, resume=True, progress=False)


def test_fresh_run_and_resume_guard_the_run_folder(
    straight_run, tiny_bert_dir, tiny_data, tmp_path
):
    config, straight = straight_run
    with pytest.raises(CheckpointError, match=r"\[E311\].*already holds a training run"):
        train(config, output_dir=straight.output_dir, progress=False)
    with pytest.raises(CheckpointError, match=r"\[E307\].*no resumable checkpoint"):
        train(config, output_dir=tmp_path / "empty", resume=True, progress=False)


def test_file_data_without_types_is_a_config_error(tiny_bert_dir, tiny_data, tmp_path):
    config = tiny_config(tiny_bert_dir, tiny_data, **{"data.types": '"none"'})
    with pytest.raises(ConfigError, match=r"data\.types"):
        train(config, output_dir=tmp_path / "run", progress=False)


def test_a_run_stopped_before_its_first_checkpoint_resumes_from_the_start(
    straight_run, tiny_bert_dir, tiny_data, tmp_path, monkeypatch
):
    config, straight = straight_run
    real_save = checkpointing.save_checkpoint

    def crash_before_saving(path, *args, **kwargs):
        raise RuntimeError("killed before the first checkpoint")

    monkeypatch.setattr(checkpointing, "save_checkpoint", crash_before_saving)
    out = tmp_path / "early"
    with pytest.raises(RuntimeError, match="killed before"):
        train(config, output_dir=out, progress=False)
    assert (out / "config.json").is_file() and not (out / "checkpoint").exists()
    monkeypatch.setattr(checkpointing, "save_checkpoint", real_save)
    # a plain start says what to do ...
    with pytest.raises(CheckpointError, match=r"\[E311\].*--resume.*starts over"):
        train(config, output_dir=out, progress=False)
    # ... and --resume starts over in the folder: the weights of an uninterrupted run
    result = train(config, output_dir=out, resume=True, progress=False)
    for name, tensor in final_weights(straight.output_dir).items():
        assert torch.equal(tensor, final_weights(out)[name]), name
    assert result.test == straight.test
    events = [
        json.loads(line)["event"] for line in (out / "metrics.jsonl").read_text().splitlines()
    ]
    assert events.count("start") == 1  # the lost attempt's log lines are gone


def test_resume_before_the_first_checkpoint_refuses_another_configuration(
    tiny_bert_dir, tiny_data, tmp_path
):
    out = tmp_path / "early"
    out.mkdir()
    saved = tiny_config(tiny_bert_dir, tiny_data)
    (out / "config.json").write_text(saved.to_json())
    other = tiny_config(tiny_bert_dir, tiny_data, **{"train.lr": "2e-3"})
    with pytest.raises(CheckpointError, match=r"\[E310\].*train\.lr"):
        train(other, output_dir=out, resume=True, progress=False)


def test_interrupted_checkpoint_writes_are_recovered_or_removed(straight_run, tmp_path):
    import shutil

    from spertmt.training.folder import recover_interrupted_writes

    _, straight = straight_run
    out = tmp_path / "killed"
    shutil.copytree(straight.output_dir, out)
    # killed while writing: a half-written temporary, and the swap half done (the previous
    # checkpoint only under its .old- name)
    (out / ".checkpoint.tmp-1234abcd").mkdir()
    (out / ".checkpoint.tmp-1234abcd" / "model.safetensors").write_bytes(b"partial")
    (out / "checkpoint").rename(out / ".checkpoint.old-1234abcd")
    removed = recover_interrupted_writes(out)
    assert [p.name for p in removed] == [".checkpoint.tmp-1234abcd"]
    assert (out / "checkpoint" / "training.json").is_file()
    assert not list(out.glob(".checkpoint.*"))


def test_an_output_folder_that_cannot_be_written_fails_before_any_work(
    tiny_bert_dir, tiny_data, tmp_path
):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    config = tiny_config(tiny_bert_dir, tiny_data)
    with pytest.raises(CheckpointError, match=r"\[E315\].*cannot write the run") as info:
        train(config, output_dir=blocker / "run", progress=False)
    assert info.value.path == str(blocker / "run")


def test_a_full_disk_during_a_checkpoint_is_a_coded_error_and_leaves_no_temporary(
    tiny_bert_dir, tiny_data, tmp_path, monkeypatch
):
    import errno

    from spertmt.model import checkpoint as checkpoint_module

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module, "save_model", disk_full)
    out = tmp_path / "full"
    with pytest.raises(CheckpointError, match=r"\[E315\].*No space left on device"):
        train(tiny_config(tiny_bert_dir, tiny_data), output_dir=out, progress=False)
    assert not list(out.glob(".checkpoint.*"))


def test_a_damaged_run_config_on_resume_is_a_coded_error(straight_run, tmp_path):
    import shutil

    _, straight = straight_run
    out = tmp_path / "damaged"
    shutil.copytree(straight.output_dir, out)
    (out / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"\[E314\].*config\.json cannot be read"):
        load_run_config(out)


def test_a_second_training_in_a_busy_folder_stops_at_once(tiny_bert_dir, tiny_data, tmp_path):
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "busy"
    out.mkdir()
    (out / ".checkpoint.tmp-0000abcd").mkdir()  # the other process's write in progress
    with open(out / ".spertmt.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CheckpointError, match=r"\[E316\].*another spertmt process"):
            train(tiny_config(tiny_bert_dir, tiny_data), output_dir=out, progress=False)
    assert (out / ".checkpoint.tmp-0000abcd").is_dir()  # left alone


def test_a_folder_whose_file_system_has_no_locks_trains_with_a_warning(
    tmp_path, caplog, monkeypatch
):
    import errno
    import logging

    fcntl = pytest.importorskip("fcntl")
    from spertmt.training.folder import run_lock

    def no_locks(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    entered = False
    with caplog.at_level(logging.WARNING, logger="spertmt.training.folder"), run_lock(tmp_path):
        entered = True  # not E316: nobody else holds the folder
    assert entered
    assert "cannot lock" in caplog.text and "No locks available" in caplog.text


def test_a_fresh_run_only_removes_leftovers_and_restores_nothing(tmp_path):
    from spertmt.training.folder import recover_interrupted_writes

    (tmp_path / ".checkpoint.old-1").mkdir()
    (tmp_path / ".checkpoint.old-1" / "config.json").write_text("{}")
    removed = recover_interrupted_writes(tmp_path, restore=False)
    assert [p.name for p in removed] == [".checkpoint.old-1"]
    assert not (tmp_path / "checkpoint").exists()


def test_row_gradients_of_the_word_embedding_train_the_weights_nn_embedding_trains(
    tiny_bert_dir, tiny_data, tmp_path, monkeypatch
):
    """The kept, in-place word-embedding gradient changes no weight beyond float rounding."""
    from spertmt.model import spert as spert_module

    config = tiny_config(tiny_bert_dir, tiny_data, **{"train.gradient_accumulation": "2"})
    train(config, output_dir=tmp_path / "rows", progress=False)
    monkeypatch.setattr(spert_module, "use_row_gradients", lambda embedding: embedding)
    train(config, output_dir=tmp_path / "plain", progress=False)
    rows, plain = final_weights(tmp_path / "rows"), final_weights(tmp_path / "plain")
    assert rows.keys() == plain.keys()
    key = "encoder.model.embeddings.word_embeddings.weight"
    moved = (plain[key] - final_weights_untrained(tiny_bert_dir)).abs().max()
    assert (rows[key] - plain[key]).abs().max() < 1e-3 * moved
    for name in rows:
        torch.testing.assert_close(rows[name], plain[name], rtol=0, atol=1e-6)


def final_weights_untrained(tiny_bert_dir) -> torch.Tensor:
    from transformers import AutoModel

    return AutoModel.from_pretrained(tiny_bert_dir).get_input_embeddings().weight.detach()
