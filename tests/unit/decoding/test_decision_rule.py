"""The decision rule is a value: every checkpoint can be re-decided per call, never by editing
the model."""

import ast
import dataclasses
from pathlib import Path

import pytest
import torch
from samples import TYPES, build_model

from spertmt.config import DecisionRule
from spertmt.errors import ConfigError
from spertmt.inference.predictor import Predictor
from spertmt.model.checkpoint import load_checkpoint, save_checkpoint
from spertmt.schema import Document

SRC = Path(__file__).resolve().parents[3] / "src" / "spertmt"

DOCS = [
    Document(("John", "Smith", "lives", "in", "Paris", "near", "Lyon", ".")),
    Document(("Anna", "moved", "to", "Rome")),
    Document(()),
    Document(("Rome", "is", "old", "and", "Paris", "is", "not", ".")),
    Document(("Bob",)),
]


def overlapping(doc: Document) -> bool:
    ents = doc.entities
    return any(
        a.start < b.end and b.start < a.end for i, a in enumerate(ents) for b in ents[i + 1 :]
    )


@pytest.fixture(scope="module")
def spert_checkpoint(tiny_bert_dir, tmp_path_factory):
    """A SpERT model (no extra heads) whose arg-max makes every span an entity, saved with the
    default rule."""
    model, tokenizer = build_model(tiny_bert_dir)
    assert model.entity_binary is None and model.iou_head is None
    with torch.no_grad():
        model.entity_classifier.bias[1] += 8.0
    path = tmp_path_factory.mktemp("spert") / "model"
    return save_checkpoint(path, model, tokenizer, types=TYPES, model_config=model.config)


def test_a_spert_checkpoint_is_re_decided_per_call(spert_checkpoint):
    checkpoint = load_checkpoint(spert_checkpoint)
    assert checkpoint.rule == DecisionRule()
    predictor = Predictor(checkpoint.model, checkpoint.tokenizer, checkpoint.rule)
    allowed = predictor.predict(DOCS)
    assert any(overlapping(d) for d in allowed)
    resolved = predictor.predict(DOCS, rule=DecisionRule(entity_overlap="resolve"))
    assert [d.tokens for d in resolved] == [d.tokens for d in DOCS]
    assert all(not overlapping(d) for d in resolved)
    assert all(d.entities for d in resolved if d.tokens)
    for doc in resolved:
        assert all(r.head < len(doc.entities) and r.tail < len(doc.entities) for r in doc.relations)
    # The per-call rule changed nothing that lasts: the next default call overlaps again.
    assert predictor.rule == DecisionRule()
    assert [d.to_dict() for d in predictor.predict(DOCS)] == [d.to_dict() for d in allowed]


RULES = [
    DecisionRule(),
    DecisionRule(entity_overlap="resolve"),
    DecisionRule(entity_threshold=0.999, relation_threshold=0.6),
    DecisionRule(entity_score="product", entity_threshold=0.3, iou_threshold=0.9),
    DecisionRule(relation_threshold=0.1, relation_binary_threshold=0.9),
]


@pytest.mark.parametrize("checkpoint_name", ["eager", "spert"])
def test_encode_then_decode_equals_predict_under_every_rule(
    eager_checkpoint, spert_checkpoint, checkpoint_name
):
    path = eager_checkpoint if checkpoint_name == "eager" else spert_checkpoint
    checkpoint = load_checkpoint(path)
    predictor = Predictor(checkpoint.model, checkpoint.tokenizer, checkpoint.rule)
    encoded = predictor.encode(DOCS, batch_size=2)
    outcomes = set()
    for rule in RULES:
        want = [d.to_dict() for d in predictor.predict(DOCS, rule=rule, batch_size=2)]
        got = [d.to_dict() for d in predictor.decode(encoded, rule=rule)]
        assert len(got) == len(DOCS)
        for a, b in zip(got, want, strict=True):
            assert a == b
        outcomes.add(repr(want))
    # The rules must lead to different predictions, or the comparison proves little.
    assert len(outcomes) > 2
    # Without a rule, decode uses the predictor's own rule.
    default = [d.to_dict() for d in predictor.predict(DOCS, batch_size=2)]
    assert [d.to_dict() for d in predictor.decode(encoded)] == default


# --------------------------------------------------------------------------- no model edits
def _config_assignments(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, what)`` of each assignment to an attribute named ``config`` that is not
    ``self.config = ...`` directly in a class's ``__init__``, and of ``setattr(..., "config")``."""
    found: list[tuple[int, str]] = []

    def check(node: ast.AST, in_init: bool) -> None:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute) and part.attr == "config":
                    own = isinstance(part.value, ast.Name) and part.value.id == "self"
                    if not (own and in_init):
                        found.append((node.lineno, ast.unparse(target)))
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("setattr"):
            key = node.args[1] if len(node.args) >= 2 else None
            if isinstance(key, ast.Constant) and key.value == "config":
                found.append((node.lineno, ast.unparse(node)))

    def visit(node: ast.AST, in_init: bool) -> None:
        check(node, in_init)
        for child in ast.iter_child_nodes(node):
            if isinstance(node, ast.ClassDef):
                # only a class's own __init__ may set self.config
                inside = isinstance(child, ast.FunctionDef) and child.name == "__init__"
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inside = False
            else:
                inside = in_init
            visit(child, inside)

    visit(tree, False)
    return found


def test_the_checker_finds_what_it_should():
    code = """
class Model:
    def __init__(self, config):
        self.config = config
        def later():
            self.config = 1
    def swap(self, other):
        self.config = other

def predict(model, rule):
    model.config = rule
    old, model.config = model.config, None
    setattr(model, "config", rule)
"""
    lines = sorted(line for line, _ in _config_assignments(ast.parse(code)))
    assert lines == [6, 8, 11, 12, 13]


def test_no_module_in_src_assigns_a_models_config():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20
    found = [
        f"{path.relative_to(SRC)}:{line}: {what}"
        for path in files
        for line, what in _config_assignments(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert found == []


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "field",
    ["entity_threshold", "iou_threshold", "relation_threshold", "relation_binary_threshold"],
)
@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_replace_rejects_a_threshold_outside_the_unit_interval(field, value):
    with pytest.raises(ConfigError) as info:
        DecisionRule().replace(**{field: value})
    assert info.value.key == f"decision.{field}"
    assert info.value.code == "E206"


def test_replace_rejects_unknown_fields_and_values():
    with pytest.raises(ConfigError) as info:
        DecisionRule().replace(entity_treshold=0.3)
    assert info.value.code == "E201" and info.value.key == "decision.entity_treshold"
    with pytest.raises(ConfigError) as info:
        DecisionRule().replace(entity_overlap="merge")
    assert info.value.code == "E203" and info.value.key == "decision.entity_overlap"
    with pytest.raises(ConfigError) as info:
        DecisionRule().replace(relation_threshold="high")
    assert info.value.code == "E203" and info.value.key == "decision.relation_threshold"
    # A model field is not a decision field.
    with pytest.raises(ConfigError) as info:
        DecisionRule().replace(entity_binary_head=True)
    assert info.value.code == "E201"


def test_replace_returns_a_validated_copy():
    rule = DecisionRule()
    assert rule.replace() is rule and rule.replace(relation_threshold=None) is rule
    changed = rule.replace(entity_overlap="resolve", relation_threshold=0.3)
    assert changed == DecisionRule(entity_overlap="resolve", relation_threshold=0.3)
    assert rule == DecisionRule()  # the original is unchanged
    assert isinstance(changed.relation_threshold, float)
    assert rule.replace(entity_threshold=1) == DecisionRule(entity_threshold=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.entity_threshold = 0.1  # type: ignore[misc]
