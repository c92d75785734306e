import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from samples import TYPES, run_with_ctrl_c_at_line

from spertmt.config import DecisionRule, ModelConfig
from spertmt.data.io import sha256_file
from spertmt.errors import CheckpointError
from spertmt.model.checkpoint import (
    CONFIG_FILE,
    FORMAT_VERSION,
    OPTIMIZER_FILE,
    TRAINER_STATE_FILE,
    TRAINING_FILE,
    WEIGHTS_FILE,
    load_checkpoint,
    load_training_state,
    read_checkpoint_config,
    save_checkpoint,
    types_from_records,
    write_training_record,
)
from spertmt.schema import Document, Entity, Relation

DOCS = [
    Document(
        ("John", "Smith", "lives", "in", "Paris", "near", "Lyon", "."),
        (Entity("Peop", 0, 2), Entity("Loc", 4, 5), Entity("Loc", 6, 7)),
        (Relation("Live_In", 0, 1), Relation("Near", 1, 2)),
    ),
    Document(("Anna", "moved", "to", "Rome"), (Entity("Peop", 0, 1), Entity("Loc", 3, 4)), ()),
]


# --------------------------------------------------------------------------- stand-ins
class StandIn(torch.nn.Module):
    """A small module with the two things save_checkpoint needs: weights and encoder_config()."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(4, 8)
        self.norm = torch.nn.LayerNorm(8)
        self.head = torch.nn.Linear(8, 3)
        self.drop = torch.nn.Dropout(0.5)

    def forward(self, x):
        return self.head(self.drop(self.norm(self.body(x))))

    def encoder_config(self):
        return {"model_type": "stand-in", "hidden_size": 8}


class StandInTokenizer:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def save_pretrained(self, folder):
        if self.fail:
            raise OSError("disk full")
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "tokenizer.json").write_text("{}")


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# --------------------------------------------------------------------------- the real model
@pytest.fixture(scope="module")
def tiny_model(tiny_bert_dir):
    from spertmt.encoding.encoders import load_encoder, load_tokenizer
    from spertmt.model.spert import SpertMTModel

    torch.manual_seed(0)
    config = ModelConfig(encoder=str(tiny_bert_dir), entity_binary_head=True, iou_mode="head")
    model = SpertMTModel(config, TYPES, load_encoder(str(tiny_bert_dir))).eval()
    with torch.no_grad():
        # Keep every span and favour the first entity type, so predictions are not empty and
        # a change of class order after loading would show.
        model.entity_binary.bias.fill_(5.0)
        model.iou_head.bias.fill_(5.0)
        model.entity_classifier.bias[1] += 3.0
    return model, load_tokenizer(str(tiny_bert_dir))


@pytest.fixture(scope="module")
def saved(tiny_model, tmp_path_factory):
    model, tokenizer = tiny_model
    path = tmp_path_factory.mktemp("ckpt") / "model"
    save_checkpoint(
        path, model, tokenizer, types=TYPES, model_config=model.config, training={"seed": 1}
    )
    return path


def copy_of(saved: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(saved, target)
    return target


def scores(docs):
    return [
        (
            [(e.type, e.start, e.end, e.score) for e in d.entities],
            [(r.type, r.head, r.tail, r.score) for r in d.relations],
        )
        for d in docs
    ]


def test_save_load_predict_gives_identical_scores(tiny_model, saved):
    from spertmt.inference.predictor import Predictor

    model, tokenizer = tiny_model
    before = Predictor(model, tokenizer).predict(DOCS)
    checkpoint = load_checkpoint(saved)
    loaded, meta = checkpoint.model, checkpoint.metadata
    after = Predictor(loaded, checkpoint.tokenizer, checkpoint.rule).predict(DOCS)
    assert scores(after) == scores(before)
    assert before[0].entities and before[0].relations
    assert checkpoint.types == TYPES and checkpoint.config == model.config
    assert checkpoint.rule == DecisionRule()  # saved without a rule: SpERT's
    assert not loaded.training  # loaded in eval mode
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert meta.format_version == FORMAT_VERSION
    assert meta.training == {"seed": 1}
    assert not meta.resumable
    assert meta.encoder_name == model.config.encoder


def test_loading_leaves_the_global_torch_rng_untouched(saved):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_checkpoint(saved)
    assert torch.equal(torch.rand(3), expected)


def test_config_json_describes_the_model(saved, tiny_model):
    text = (saved / CONFIG_FILE).read_text()
    config = json.loads(text)
    assert text == json.dumps(config, sort_keys=True, indent=2) + "\n"
    assert config["format_version"] == FORMAT_VERSION
    assert {"spertmt_version", "torch_version", "transformers_version"} <= set(config)
    assert config["model"]["entity_binary_head"] is True
    assert config["decision"] == dataclasses.asdict(DecisionRule())
    assert not set(config["decision"]) & set(config["model"])
    assert types_from_records(config["types"]) == TYPES  # order kept despite sorted keys
    assert [t["name"] for t in config["types"]["entities"]] == ["Peop", "Loc"]
    assert (
        config["encoder"]["config"]["hidden_size"] == tiny_model[0].encoder_config()["hidden_size"]
    )
    types_file = json.loads((saved / "types.json").read_text())
    assert types_file == TYPES.to_dict() and list(types_file["entities"]) == ["Peop", "Loc"]
    assert (saved / "tokenizer").is_dir()
    assert not (saved / OPTIMIZER_FILE).exists()


def test_the_decision_rule_is_saved_and_loaded(tiny_model, tmp_path):
    model, tokenizer = tiny_model
    rule = DecisionRule(entity_threshold=0.7, entity_overlap="resolve", relation_threshold=0.3)
    path = save_checkpoint(
        tmp_path / "model", model, tokenizer, types=TYPES, model_config=model.config, rule=rule
    )
    assert json.loads((path / CONFIG_FILE).read_text())["decision"] == dataclasses.asdict(rule)
    assert load_checkpoint(path).rule == rule


def _legacy_config(saved, tmp_path, **model_fields):
    """A copy of ``saved`` whose config.json is laid out as spertmt 0.1 wrote it: the decision
    rule inside ``model``, no ``decision`` section, and the switches of removed variants."""
    legacy = copy_of(saved, tmp_path)
    config = json.loads((legacy / CONFIG_FILE).read_text())
    config["format_version"] = 1
    decision = config.pop("decision")
    config["model"].update(decision)
    config["model"].update(
        entity_negative_weight=1.0,
        iou_loss="bce",
        iou_negative_scale=1.0,
        hard_negative_fraction=0.5,
        pair_entity_feature="logits",
        relation_score="gate",
    )
    config["model"].update(model_fields)
    (legacy / CONFIG_FILE).write_text(json.dumps(config, sort_keys=True, indent=2))
    return legacy


def test_a_legacy_checkpoint_loads_with_its_rule(tiny_model, saved, tmp_path):
    legacy = _legacy_config(
        saved, tmp_path, entity_threshold=0.8, entity_overlap="resolve", relation_threshold=0.25
    )
    checkpoint = load_checkpoint(legacy)
    assert checkpoint.rule == DecisionRule(
        entity_threshold=0.8, entity_overlap="resolve", relation_threshold=0.25
    )
    assert checkpoint.config == tiny_model[0].config
    for name, tensor in tiny_model[0].state_dict().items():
        assert torch.equal(tensor, checkpoint.model.state_dict()[name]), name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("iou_loss", "mse"),  # the model has the IoU head ...
        ("entity_negative_weight", 0.5),  # ... and head A
        ("iou_mode", "soft_label"),
        ("iou_mode", "weight"),
    ],
)
def test_a_legacy_checkpoint_of_a_removed_variant_fails_clearly(saved, tmp_path, field, value):
    legacy = _legacy_config(saved, tmp_path, **{field: value})
    with pytest.raises(CheckpointError, match=r"\[E303\].*removed") as info:
        load_checkpoint(legacy)
    assert info.value.code == "E303"
    assert f"model.{field}" in str(info.value)
    assert info.value.path == str(legacy)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pair_entity_feature", "probs"),  # D is off in this model
        ("relation_score", "product"),  # C is off
        ("iou_negative_scale", 2.0),  # B3 is off
        ("hard_negative_fraction", 0.0),
    ],
)
def test_a_removed_switch_that_had_no_effect_does_not_block_loading(saved, tmp_path, field, value):
    assert load_checkpoint(_legacy_config(saved, tmp_path, **{field: value})).rule == (
        DecisionRule()
    )


def with_config(saved: Path, tmp_path: Path, edit) -> Path:
    """A copy of ``saved`` whose config.json went through ``edit`` (a function of the dict)."""
    broken = copy_of(saved, tmp_path)
    config = json.loads((broken / CONFIG_FILE).read_text())
    edit(config)
    (broken / CONFIG_FILE).write_text(json.dumps(config))
    return broken


def test_a_version_2_checkpoint_needs_its_decision_section(saved, tmp_path):
    broken = with_config(saved, tmp_path, lambda config: config.pop("decision"))
    with pytest.raises(CheckpointError, match=r"\[E303\].*decision"):
        load_checkpoint(broken)


def test_a_bad_saved_rule_is_a_checkpoint_error(saved, tmp_path):
    broken = with_config(
        saved, tmp_path, lambda config: config["decision"].update(relation_threshold=1.5)
    )
    with pytest.raises(CheckpointError, match=r"\[E303\].*decision\.relation_threshold"):
        load_checkpoint(broken)


def test_missing_folder_and_files_are_named(saved, tmp_path):
    with pytest.raises(CheckpointError, match=r"\[E301\].*no such checkpoint folder"):
        load_checkpoint(tmp_path / "nowhere")
    broken = copy_of(saved, tmp_path)
    (broken / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"\[E302\].*missing model\.safetensors") as info:
        load_checkpoint(broken)
    assert info.value.path == str(broken)


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0, "1", None])
def test_unsupported_format_version_says_how_to_fix(saved, tmp_path, version):
    broken = copy_of(saved, tmp_path)
    config = json.loads((broken / CONFIG_FILE).read_text())
    if version is None:
        del config["format_version"]
    else:
        config["format_version"] = version
    (broken / CONFIG_FILE).write_text(json.dumps(config))
    expected = "no format_version" if version is None else "upgrade spertmt"
    with pytest.raises(CheckpointError, match=rf"\[E304\].*{expected}"):
        read_checkpoint_config(broken)


def test_malformed_config_json(saved, tmp_path):
    broken = copy_of(saved, tmp_path)
    (broken / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match=r"\[E303\].*config\.json cannot be read"):
        load_checkpoint(broken)


def test_tampered_weight_names_are_reported_by_name(saved, tmp_path):
    broken = copy_of(saved, tmp_path)
    tensors = load_file(broken / WEIGHTS_FILE)
    tensors["entity_classifier.wieght"] = tensors.pop("entity_classifier.weight")
    save_file(tensors, str(broken / WEIGHTS_FILE))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(broken)
    message = str(info.value)
    assert info.value.code == "E305"
    assert "missing weights: entity_classifier.weight" in message
    assert "unexpected weights: entity_classifier.wieght" in message


def test_weights_of_another_shape_are_rejected(saved, tmp_path):
    broken = with_config(
        saved, tmp_path, lambda config: config["model"].update(width_embedding_dim=7)
    )
    with pytest.raises(CheckpointError, match=r"\[E305\].*different models"):
        load_checkpoint(broken)


def test_corrupt_weights_file(saved, tmp_path):
    broken = copy_of(saved, tmp_path)
    (broken / WEIGHTS_FILE).write_bytes(b"\x00\x01garbage")
    with pytest.raises(CheckpointError, match=r"\[E306\]"):
        load_checkpoint(broken)


# --------------------------------------------------------------------------- atomic writes
def test_failed_save_leaves_previous_checkpoint_intact(tmp_path):
    model = StandIn()
    target = tmp_path / "ckpt"
    save_checkpoint(target, model, StandInTokenizer(), types=TYPES, model_config=ModelConfig())
    before = folder_bytes(target)
    with torch.no_grad():
        model.head.weight.add_(1.0)
    with pytest.raises(CheckpointError, match=r"\[E315\].*disk full") as info:
        save_checkpoint(
            target, model, StandInTokenizer(fail=True), types=TYPES, model_config=ModelConfig()
        )
    assert info.value.path == str(target)
    assert folder_bytes(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no staging folder left


def test_save_replaces_an_existing_checkpoint(tmp_path):
    model = StandIn()
    target = tmp_path / "ckpt"
    save_checkpoint(target, model, StandInTokenizer(), types=TYPES, model_config=ModelConfig())
    with torch.no_grad():
        model.head.weight.add_(1.0)
    save_checkpoint(target, model, StandInTokenizer(), types=TYPES, model_config=ModelConfig())
    assert torch.equal(load_file(target / WEIGHTS_FILE)["head.weight"], model.head.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_ctrl_c_during_the_swap_waits_until_the_new_checkpoint_is_in_place(
    tmp_path, monkeypatch, ctrl_c_raises
):
    import os
    import signal

    model = StandIn()
    target = tmp_path / "ckpt"
    save_checkpoint(target, model, StandInTokenizer(), types=TYPES, model_config=ModelConfig())
    with torch.no_grad():
        model.head.weight.add_(1.0)
    rename = Path.rename

    def rename_then_ctrl_c(self, other):
        moved = rename(self, other)
        if self == target:  # the old checkpoint has just been moved aside
            os.kill(os.getpid(), signal.SIGINT)
        return moved

    monkeypatch.setattr(Path, "rename", rename_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(target, model, StandInTokenizer(), types=TYPES, model_config=ModelConfig())
    assert torch.equal(load_file(target / WEIGHTS_FILE)["head.weight"], model.head.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no .old- or .tmp- left


def test_ctrl_c_at_any_line_of_a_save_leaves_one_whole_checkpoint_and_no_temporary(
    tmp_path, ctrl_c_raises
):
    """Wherever in the save a Ctrl-C lands, the folder holds the old or the new checkpoint,
    complete, and nothing else: no ``.tmp-`` or ``.old-`` folder (issue 20; a SIGTERM at the
    wrong moment once left a ``.checkpoint.tmp-*`` behind in CI)."""
    model = StandIn()
    target = tmp_path / "ckpt"
    save_checkpoint(target, model, StandInTokenizer(), types=TYPES, model_config=ModelConfig())
    old = load_file(target / WEIGHTS_FILE)["head.weight"].clone()
    with torch.no_grad():
        model.head.weight.add_(1.0)

    def save():
        save_checkpoint(target, model, StandInTokenizer(), types=TYPES, model_config=ModelConfig())

    lines = run_with_ctrl_c_at_line(save, None)
    assert lines > 20  # the trace sees the save
    for line in range(1, lines + 1):
        save_checkpoint(
            target, StandIn(), StandInTokenizer(), types=TYPES, model_config=ModelConfig()
        )
        written = load_file(target / WEIGHTS_FILE)["head.weight"].clone()
        try:
            run_with_ctrl_c_at_line(save, line)
        except KeyboardInterrupt:
            pass
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"], f"line {line}"
        weights = load_file(target / WEIGHTS_FILE)["head.weight"]
        assert torch.equal(weights, written) or torch.equal(weights, model.head.weight), line
        config = json.loads((target / CONFIG_FILE).read_text())  # complete: the hash matches
        assert config["weights_sha256"] == sha256_file(target / WEIGHTS_FILE), line
    assert not torch.equal(old, model.head.weight)


def test_ctrl_c_at_any_line_of_write_training_record_leaves_no_temporary(tmp_path, ctrl_c_raises):
    target = tmp_path / "ckpt"
    save_checkpoint(
        target, StandIn(), StandInTokenizer(), types=TYPES, model_config=ModelConfig(),
        training={"epochs_completed": 1},
    )  # fmt: skip

    def write():
        write_training_record(target, {"epochs_completed": 2})

    lines = run_with_ctrl_c_at_line(write, None)
    for line in range(1, lines + 1):
        write_training_record(target, {"epochs_completed": 1})
        try:
            run_with_ctrl_c_at_line(write, line)
        except KeyboardInterrupt:
            pass
        assert not [p.name for p in target.iterdir() if ".tmp-" in p.name], line
        record = json.loads((target / TRAINING_FILE).read_text())
        assert record["epochs_completed"] in (1, 2), line


def test_refuses_to_replace_a_folder_that_is_not_a_checkpoint(tmp_path):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(CheckpointError, match=r"\[E308\].*refusing to replace"):
        save_checkpoint(
            precious, StandIn(), StandInTokenizer(), types=TYPES, model_config=ModelConfig()
        )
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_unserialisable_training_record_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="training record is not JSON-serialisable"):
        save_checkpoint(
            tmp_path / "ckpt",
            StandIn(),
            StandInTokenizer(),
            types=TYPES,
            model_config=ModelConfig(),
            training={"when": object()},
        )
    assert not any(tmp_path.iterdir())


def test_write_training_record_replaces_only_that_file(tmp_path):
    target = tmp_path / "ckpt"
    save_checkpoint(
        target,
        StandIn(),
        StandInTokenizer(),
        types=TYPES,
        model_config=ModelConfig(),
        training={"metrics": {}},
    )
    write_training_record(target, {"metrics": {"test": 1.0}})
    assert json.loads((target / TRAINING_FILE).read_text()) == {"metrics": {"test": 1.0}}
    with pytest.raises(CheckpointError, match=r"\[E301\]"):
        write_training_record(tmp_path / "none", {})


# --------------------------------------------------------------------------- training state
def make_optimizer(model):
    optimizer = torch.optim.AdamW(
        [
            {"params": [model.body.weight, model.head.weight]},
            {
                "params": [model.body.bias, model.head.bias, *model.norm.parameters()],
                "weight_decay": 0.0,
            },
        ],
        lr=1e-2,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
    return optimizer, schedule


def run_steps(model, optimizer, scheduler, rng, steps):
    model.train()
    for _ in range(steps):
        x = torch.from_numpy(rng.standard_normal((5, 4)).astype(np.float32))
        loss = model(x + random.random()).pow(2).mean()  # draws numpy, python and torch (dropout)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


def test_training_state_round_trip_continues_bit_for_bit(tmp_path):
    torch.manual_seed(0)
    random.seed(0)
    rng = np.random.default_rng(0)
    model = StandIn()
    optimizer, scheduler = make_optimizer(model)
    run_steps(model, optimizer, scheduler, rng, 3)
    save_checkpoint(
        tmp_path / "ckpt",
        model,
        StandInTokenizer(),
        types=TYPES,
        model_config=ModelConfig(),
        optimizer=optimizer,
        scheduler=scheduler,
        trainer_state={"epoch": 1, "global_step": 3},
        rng=rng,
    )
    run_steps(model, optimizer, scheduler, rng, 4)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    expected_lr = scheduler.get_last_lr()

    # A fresh process-like start: other seeds, fresh objects, weights from the checkpoint.
    torch.manual_seed(99)
    random.seed(99)
    resumed_rng = np.random.default_rng(99)
    resumed = StandIn()
    from safetensors.torch import load_model

    load_model(resumed, tmp_path / "ckpt" / WEIGHTS_FILE)
    resumed_optimizer, resumed_scheduler = make_optimizer(resumed)
    state = load_training_state(
        tmp_path / "ckpt", optimizer=resumed_optimizer, scheduler=resumed_scheduler, rng=resumed_rng
    )
    assert state == {"epoch": 1, "global_step": 3}
    run_steps(resumed, resumed_optimizer, resumed_scheduler, resumed_rng, 4)
    for name, tensor in resumed.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    assert resumed_scheduler.get_last_lr() == expected_lr
    meta_state = json.loads((tmp_path / "ckpt" / TRAINER_STATE_FILE).read_text())
    assert meta_state["optimizer"]["param_groups"][1]["weight_decay"] == 0.0


def save_resumable(folder: Path, model, optimizer, scheduler, rng=None) -> Path:
    """A resumable checkpoint of the stand-in model at epoch 0."""
    save_checkpoint(
        folder,
        model,
        StandInTokenizer(),
        types=TYPES,
        model_config=ModelConfig(),
        optimizer=optimizer,
        scheduler=scheduler,
        trainer_state={"epoch": 0},
        rng=rng,
    )
    return folder


def test_training_state_that_does_not_fit_the_optimizer(tmp_path):
    model = StandIn()
    optimizer, scheduler = make_optimizer(model)
    save_resumable(tmp_path / "ckpt", model, optimizer, scheduler)
    other = torch.optim.AdamW(model.parameters())  # one group instead of two
    with pytest.raises(CheckpointError, match=r"\[E309\].*does not fit"):
        load_training_state(tmp_path / "ckpt", optimizer=other)


def test_final_model_is_not_resumable(tmp_path):
    model = StandIn()
    save_checkpoint(
        tmp_path / "ckpt", model, StandInTokenizer(), types=TYPES, model_config=ModelConfig()
    )
    optimizer, _ = make_optimizer(model)
    with pytest.raises(CheckpointError, match=r"\[E307\].*holds no training state"):
        load_training_state(tmp_path / "ckpt", optimizer=optimizer)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda state: state.pop("optimizer"), "field optimizer"),
        (lambda state: state.pop("rng"), "field rng"),
        (lambda state: state["rng"].update(python=[3, [1, 2], None]), "field rng"),
        (lambda state: state.update(scheduler={"x": 1}), "field scheduler"),
    ],
)
def test_a_damaged_trainer_state_is_a_coded_error(tmp_path, edit, fragment):
    rng = np.random.default_rng(0)
    model = StandIn()
    optimizer, scheduler = make_optimizer(model)
    run_steps(model, optimizer, scheduler, rng, 1)
    folder = save_resumable(tmp_path / "ckpt", model, optimizer, scheduler, rng)
    state = json.loads((folder / TRAINER_STATE_FILE).read_text())
    edit(state)
    (folder / TRAINER_STATE_FILE).write_text(json.dumps(state))
    fresh, fresh_scheduler = make_optimizer(StandIn())
    with pytest.raises(CheckpointError, match=rf"\[E303\] .*{TRAINER_STATE_FILE}, {fragment}"):
        load_training_state(folder, optimizer=fresh, scheduler=fresh_scheduler, rng=rng)


@pytest.mark.parametrize(
    ("trainer", "field"),
    [
        (None, "trainer.epoch"),  # the section is gone
        ({"global_step": 3}, "trainer.epoch"),
        ({"epoch": "x", "global_step": 3}, "trainer.epoch"),
        ({"epoch": 1, "global_step": -2}, "trainer.global_step"),
        ({"epoch": True, "global_step": 3}, "trainer.epoch"),
        ({"epoch": 1, "global_step": 3, "dev": [1]}, "trainer.dev"),
        ({"epoch": 1, "global_step": 3, "grad_scaler": {"scale": "big"}}, "trainer.grad_scaler"),
    ],
)
def test_a_damaged_trainer_section_is_a_coded_error(tmp_path, trainer, field):
    from spertmt.training.checkpointing import restore_training_state

    model = StandIn()
    optimizer, scheduler = make_optimizer(model)
    folder = save_resumable(tmp_path / "ckpt", model, optimizer, scheduler)
    state = json.loads((folder / TRAINER_STATE_FILE).read_text())
    if trainer is None:
        state.pop("trainer")
    else:
        state["trainer"] = trainer
    (folder / TRAINER_STATE_FILE).write_text(json.dumps(state))
    scaler = torch.amp.GradScaler("cpu")
    with pytest.raises(CheckpointError, match=rf"\[E303\] .*{TRAINER_STATE_FILE}, field {field}"):
        restore_training_state(
            folder, optimizer=optimizer, scheduler=scheduler, rng=np.random.default_rng(0),
            scaler=scaler,
        )  # fmt: skip


def test_a_checkpoint_that_lost_one_training_file_says_so(tmp_path):
    model = StandIn()
    optimizer, scheduler = make_optimizer(model)
    folder = save_resumable(tmp_path / "checkpoint", model, optimizer, scheduler)
    (folder / OPTIMIZER_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"\[E307\].*no optimizer.*damaged") as info:
        load_training_state(folder, optimizer=optimizer)
    assert "Resume from <run>/checkpoint" not in str(info.value)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda c: c["model"].update(max_span_width=0), "model.max_span_width"),
        (lambda c: c["model"].update(max_span_width=-1), "model.max_span_width"),
        (lambda c: c["model"].update(dropout=7), "model.dropout"),
        (lambda c: c["types"]["entities"].append(dict(c["types"]["entities"][0])), "twice"),
        (lambda c: c["types"]["relations"][0].update(symmetric="no"), "not true or false"),
        (lambda c: c["types"]["entities"][0].update(name=1), "not a string"),
        (lambda c: c["encoder"]["config"].update(hidden_size="32"), "encoder.config"),
    ],
)
def test_a_hand_edited_config_json_is_refused_naming_what(saved, tmp_path, edit, fragment):
    broken = with_config(saved, tmp_path, edit)
    with pytest.raises(CheckpointError, match=r"\[E303\]") as info:
        load_checkpoint(broken)
    assert fragment in str(info.value) and info.value.path == str(broken)


def test_weights_that_are_a_folder_are_a_coded_error(saved, tmp_path):
    broken = copy_of(saved, tmp_path)
    (broken / WEIGHTS_FILE).unlink()
    (broken / WEIGHTS_FILE).mkdir()
    with pytest.raises(CheckpointError, match=r"\[E306\]"):
        load_checkpoint(broken, verify=False)


def test_checkpoint_files_are_readable_as_the_umask_allows(tiny_model, tmp_path):
    import os
    import stat

    model, tokenizer = tiny_model
    old = os.umask(0o022)
    try:
        path = save_checkpoint(
            tmp_path / "shared", model, tokenizer, types=TYPES, model_config=model.config
        )
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.rglob("*") if p.is_file()}
    assert modes["model.safetensors"] == 0o644  # safetensors itself writes 0600
    assert set(modes.values()) == {0o644}, modes


def test_flipped_bytes_in_the_weights_are_refused_unless_verification_is_off(saved, tmp_path):
    from safetensors.torch import load_file

    broken = copy_of(saved, tmp_path)
    weights = broken / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF  # inside the last tensor: still a readable safetensors file
    weights.write_bytes(bytes(data))
    load_file(weights)  # the damage is invisible to safetensors itself
    with pytest.raises(CheckpointError, match=r"\[E313\].*SHA-256") as info:
        load_checkpoint(broken)
    assert info.value.path == str(broken)
    assert load_checkpoint(broken, verify=False).model is not None
    recorded = json.loads((saved / CONFIG_FILE).read_text())["weights_sha256"]
    assert len(recorded) == 64
