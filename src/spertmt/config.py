"""Configuration: frozen dataclasses, TOML files and dotted overrides.

A run is described by :class:`RunConfig` with five sections, each a frozen dataclass whose
fields are the schema (type, default, one-line docstring)::

    [model]    ModelConfig  — encoder, span/pair representation, the SpERT.MT switches
    [decision] DecisionRule — thresholds, score rules, overlap handling (inference only)
    [data]     DataConfig   — training, dev and test data (dataset names or files)
    [train]    TrainConfig  — optimiser, schedule, sampling, seed, checkpoints
    [eval]     EvalConfig   — evaluation protocol options

Every SpERT.MT component is a named switch in :class:`ModelConfig`; with all of them off the
model is the SpERT baseline (``configs/spert.toml``). Unknown keys are rejected with a
suggestion, and every value is type-checked.

Example:
    >>> cfg = load_config(None, overrides=["train.epochs=2", "model.entity_binary_head=true"])
    >>> cfg.train.epochs, cfg.model.entity_binary_head
    (2, True)
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import sys
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from spertmt.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

IouMode = Literal["off", "head"]
ScoreMode = Literal["gate", "product"]
TypeLoss = Literal["all", "decoupled"]
OverlapMode = Literal["allow", "resolve"]

REMOVED_MODEL_FIELDS: dict[str, tuple[Any, str]] = {
    "entity_negative_weight": (1.0, "negative spans re-weighted in the typed loss"),
    "iou_loss": ("bce", "the IoU head trained with an MSE loss"),
    "iou_negative_scale": (1.0, "B3, negatives weighted by their IoU"),
    "hard_negative_fraction": (0.5, "B3, hard negatives sampled first"),
    "pair_entity_feature": ("logits", "D with softmax probabilities"),
}
"""Switches of variants that the results rejected (docs/results.md keeps their numbers), with
the value that meant "off": a saved configuration holding that value still loads."""

REMOVED_IOU_MODES = {"soft_label": "B2, IoU as the soft label of head A", "weight": "B3"}
"""``iou_mode`` values of rejected variants."""


@dataclass(frozen=True)
class ModelConfig:
    """Model architecture and loss weights (the decision rule is :class:`DecisionRule`).

    SpERT (method.md §2) is the model with ``entity_binary_head``, ``relation_binary_head``,
    ``entity_logits_in_pair`` and ``word_shape`` off and ``iou_mode="off"``. The SpERT.MT
    components (method.md §3) are a *reconstruction* from the paper's abstract; each is one
    switch here, documented field by field.
    """

    encoder: str = "minilm"
    """Encoder: packaged alias (``minilm``, ``mpnet``), local folder, or Hugging Face id."""
    max_span_width: int = 10
    """Widest candidate span in words (SpERT: 10)."""
    width_embedding_dim: int = 25
    """Size of the learned span-width embedding (SpERT: 25)."""
    max_width_embeddings: int = 100
    """Number of width-embedding rows; wider gold spans share the last row (SpERT: 100)."""
    dropout: float = 0.1
    """Dropout on span and pair representations (SpERT: 0.1)."""
    max_length: int | None = None
    """Encoder window in pieces; ``None`` uses the encoder's limit. Longer inputs are windowed."""

    entity_binary_head: bool = False
    """(A) Binary "is an entity" head on the span representation, BCE against exact gold spans."""
    iou_mode: IouMode = "off"
    """(B1) ``head``: a head regresses each span's IoU with the gold spans (BCE on the soft
    target); the decision rule can gate or weight entities by it."""
    relation_binary_head: bool = False
    """(C) Binary "has any relation" head on the pair representation (BCE)."""
    entity_logits_in_pair: bool = False
    """(D) Append the head's and tail's entity-classifier logits to the pair representation."""
    pair_entity_grad: bool = True
    """(D) Let relation-loss gradients flow back through the appended entity logits."""

    entity_type_loss: TypeLoss = "all"
    """(A, decoupled) ``all``: the typed entity classifier learns from every sampled span, as in
    SpERT. ``decoupled``: head A alone learns entity-vs-non-entity from all negatives; the typed
    classifier learns from the gold entities and only the negatives head A lets through
    (``p_entity ≥ hard_negative_threshold`` in the current step). Needs ``entity_binary_head``."""
    relation_type_loss: TypeLoss = "all"
    """(C, decoupled) ``all``: the relation classifier learns from every sampled pair, as in
    SpERT. ``decoupled``: head C alone learns relation-vs-none from all pairs; the typed relation
    classifier learns from related pairs and only the negatives head C lets through
    (``p_pair ≥ hard_negative_threshold``). Needs ``relation_binary_head``."""
    hard_negative_threshold: float = 0.5
    """(decoupled) A negative reaches a typed classifier when its binary head's probability is
    at least this (it is a negative the binary head would let through at inference)."""
    iou_in_classifier: bool = False
    """(B1 → classifier) The predicted IoU (head B1's sigmoid, no gradient through it) is an
    input of the typed entity classifier, so the span's position relative to the gold spans
    informs its type scores at inference. Needs ``iou_mode = "head"``."""

    word_shape: bool = False
    """Word-shape feature (casing, digits) in the span representation, for uncased encoders."""
    word_shape_dim: int = 16
    """Size of the word-shape embedding."""

    max_pairs_per_chunk: int = 1000
    """Pairs (of the whole batch) scored per chunk at inference, to bound memory on sentences
    with many entities."""

    lambda_entity: float = 1.0
    """λ_A: weight of the binary entity loss."""
    lambda_iou: float = 1.0
    """λ_B: weight of the IoU loss (B1)."""
    lambda_relation: float = 1.0
    """λ_C: weight of the binary relation loss."""


@dataclass(frozen=True)
class DecisionRule:
    """How scores become entities and relations (:mod:`spertmt.decoding`); inference only.

    Saved as the ``decision`` section of a checkpoint's ``config.json`` and overridable per
    call for every checkpoint (``predict(..., entity_overlap="resolve")``, ``spertmt predict
    --entity-overlap resolve``, the server's request body). The defaults are SpERT's rule.
    """

    entity_threshold: float = 0.5
    """(A) τ_e: a span is kept when the binary head's probability (or the product) reaches it."""
    entity_score: ScoreMode = "gate"
    """(A, B1) ``gate``: each head has its own threshold; ``product``: p_type·p_entity·u ≥ τ_e."""
    iou_threshold: float = 0.5
    """(B1) In ``gate`` mode a span is kept only when the predicted IoU reaches this value."""
    entity_overlap: OverlapMode = "allow"
    """``allow``: overlapping (nested) entities may all be kept; ``resolve``: of kept spans that
    share a word only the best-scoring survive (greedy, best first; for flat data)."""
    relation_threshold: float = 0.4
    """Sigmoid threshold of a relation type (SpERT: 0.4)."""
    relation_binary_threshold: float = 0.5
    """(C) τ_r: a pair's relations are kept only when the binary pair head reaches it."""

    def uses_entity_threshold(self, model: ModelConfig) -> bool:
        """Whether ``entity_threshold`` takes part in the entity decision of ``model``.

        It does with the binary entity head (A), or with the IoU head in ``product`` mode;
        otherwise entities are decided by arg-max.

        Args:
            model: The architecture the rule is applied to.

        Returns:
            ``True`` when τ_e can change the model's entities.
        """
        return model.entity_binary_head or (
            model.iou_mode == "head" and self.entity_score == "product"
        )

    def replace(self, **overrides: Any) -> DecisionRule:
        """A copy with some fields replaced (``None`` values keep the field), validated.

        Raises:
            ConfigError: For an unknown field (E201) or a bad value (E203, E206), naming
                ``decision.<field>``.

        Example:
            >>> DecisionRule().replace(entity_overlap="resolve", relation_threshold=None)
            ... # doctest: +ELLIPSIS
            DecisionRule(..., entity_overlap='resolve', relation_threshold=0.4, ...)
        """
        given = {key: value for key, value in overrides.items() if value is not None}
        if not given:
            return self
        rule = _build_section(DecisionRule, "decision", {**dataclasses.asdict(self), **given})
        _check_rule(rule)
        return rule


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from: dataset names (``conll04:train``) or file paths."""

    train: str = "conll04:train"
    """Training data."""
    dev: str | None = "conll04:dev"
    """Development data for evaluation during training (``None``: none)."""
    test: str | None = "conll04:test"
    """Test data, scored once after training (``None``: skip)."""
    types: str | None = None
    """Types file; ``None`` takes the dataset's own types file."""
    data_dir: str | None = None
    """Folder of built-in datasets; ``None``: ``$SPERTMT_DATA_DIR``, else the user cache."""
    skip_invalid: bool = False
    """Skip invalid documents (reported) instead of stopping at the first one."""
    max_documents: int | None = None
    """Use only the first N training documents (quick runs and demos)."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and sampling (SpERT's hyper-parameters by default)."""

    epochs: int = 20
    """Passes over the training data."""
    batch_size: int = 2
    """Documents per optimiser step before accumulation (SpERT: 2)."""
    gradient_accumulation: int = 1
    """Batches accumulated per optimiser step."""
    lr: float = 5e-5
    """Peak learning rate of AdamW."""
    weight_decay: float = 0.01
    """AdamW weight decay (not applied to biases and LayerNorm weights)."""
    warmup_fraction: float = 0.1
    """Share of steps with linear warm-up; linear decay to zero afterwards."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    adam_bias_correction: bool = False
    """Bias-correct Adam's moments (SpERT: off, as transformers' legacy ``correct_bias=False``)."""
    adam_eps: float = 1e-6
    """Adam's epsilon (SpERT: 1e-6)."""
    neg_entity_count: int = 100
    """Negative spans sampled per document (SpERT: 100)."""
    neg_relation_count: int = 100
    """Negative entity pairs sampled per document (SpERT: 100)."""
    seed: int = 1
    """Seed for initialisation, sampling and batch order."""
    eval_every: int = 0
    """Evaluate on the dev data every N epochs (0: only after the last epoch)."""
    checkpoint_every: int = 1
    """Write a resumable checkpoint every N epochs."""
    length_bucketing: bool = False
    """Group documents of similar length into batches (less padding, same samples); off =
    a uniform shuffle, as SpERT does."""
    threads: int | None = None
    """CPU threads for torch (``None``: torch's default)."""
    device: str | None = None
    """``cpu``, ``cuda`` or ``cuda:N``; ``None`` picks CUDA when available."""
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    """Arithmetic of the forward and backward passes (:mod:`spertmt.runtime.precision`):
    ``fp32`` (SpERT), ``bf16`` autocast (CPUs with AMX or AVX512-BF16, bf16 GPUs), ``fp16``
    autocast with loss scaling (CUDA), ``auto`` (bf16 where native, else fp32). Weights and
    optimiser state stay fp32; dev and test are scored in fp32."""


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation options."""

    no_overlap: bool = False
    """Also remove overlapping entities before scoring (ADE "without overlap")."""
    batch_size: int = 32
    """Documents per inference batch."""


@dataclass(frozen=True)
class RunConfig:
    """A full run: model, decision rule, data, training and evaluation sections."""

    model: ModelConfig = field(default_factory=ModelConfig)
    decision: DecisionRule = field(default_factory=DecisionRule)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        """Return the nested plain-dict form (TOML/JSON friendly)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Return the resolved configuration as sorted, indented JSON."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)


_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "decision": DecisionRule,
    "data": DataConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
}


def _suggest(word: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a field annotation, converting strings from ``--set``."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = get_args(annotation)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in options:
                return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as error:
                errors.append(error)
        raise errors[0] if errors else ConfigError("None is not allowed", code="E203", key=key)
    if origin is Literal:
        allowed = get_args(annotation)
        if value not in allowed:
            raise ConfigError(
                f"{value!r} is not one of {', '.join(map(repr, allowed))}", code="E203", key=key
            )
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"expected true or false, got {value!r}", code="E203", key=key)
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"expected an integer, got {value!r}", code="E203", key=key)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"expected an integer, got {value!r}", code="E203", key=key)
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"expected a number, got {value!r}", code="E203", key=key)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"expected a string, got {value!r}", code="E203", key=key)
    raise ConfigError(f"unsupported field type {annotation!r}", code="E299", key=key)


def _unknown_key_message(section: str, key: str, names: list[str]) -> str:
    if section == "model" and key in _DECISION_NAMES:
        return f"unknown key: the decision rule has its own section now, use `decision.{key}`"
    if section == "model" and key in REMOVED_MODEL_FIELDS:
        return (
            f"unknown key: the variant it switched ({REMOVED_MODEL_FIELDS[key][1]}) was "
            "rejected by the results and removed; docs/results.md keeps its numbers"
        )
    if section == "model" and key == "relation_score":
        return "unknown key: the relation product rule was rejected by the results and removed"
    known = [f"{section}.{n}" for n in names]
    return f"unknown key{_suggest(f'{section}.{key}', known)}"


def _build_section(cls: type, section: str, values: dict[str, Any]) -> Any:
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{section}.{key}"
        if key not in names:
            raise ConfigError(_unknown_key_message(section, key, names), code="E201", key=dotted)
        kwargs[key] = _coerce(value, hints[key], dotted)
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Build and validate a :class:`RunConfig` from nested dicts (missing keys take defaults).

    Raises:
        ConfigError: For unknown sections or keys, wrong value types, or invalid combinations.
    """
    sections: dict[str, Any] = {}
    for section, values in data.items():
        if section not in _SECTIONS:
            raise ConfigError(
                f"unknown section{_suggest(section, _SECTIONS)}; sections are "
                f"{', '.join(_SECTIONS)}",
                code="E201",
                key=section,
            )
        if not isinstance(values, dict):
            raise ConfigError("expected a table of keys", code="E203", key=section)
        sections[section] = _build_section(_SECTIONS[section], section, values)
    config = RunConfig(**sections)
    validate(config)
    return config


def _set_dotted(data: dict[str, Any], assignment: str) -> None:
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r} must look like section.key=value", code="E202")
    key, value = assignment.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if len(parts) != 2:
        known = [f"{s}.{f.name}" for s, c in _SECTIONS.items() for f in fields(c)]
        raise ConfigError(
            f"override key must be section.key{_suggest(key, known)}", code="E202", key=key
        )
    section, name = parts
    data.setdefault(section, {})
    if not isinstance(data[section], dict):
        raise ConfigError("expected a table of keys", code="E203", key=section)
    data[section][name] = _parse_override_value(value.strip())


def _parse_override_value(text: str) -> Any:
    # TOML literal syntax first (numbers, booleans, quoted strings); bare words stay strings.
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_config(path: str | Path | None, *, overrides: typing.Sequence[str] = ()) -> RunConfig:
    """Load a TOML config file and apply ``section.key=value`` overrides.

    Args:
        path: TOML file, or ``None`` for the defaults (SpERT on CoNLL04 with MiniLM).
        overrides: Dotted assignments such as ``"train.epochs=2"``; values use TOML syntax,
            bare words are strings (``"data.train=my.json"``).

    Returns:
        The validated configuration.

    Raises:
        ConfigError: For a missing or malformed file, unknown keys, or invalid values.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist", code="E204")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{p} is not valid TOML: {error}", code="E205") from None
    for assignment in overrides:
        _set_dotted(data, assignment)
    return config_from_dict(data)


def validate(config: RunConfig) -> None:
    """Reject invalid values and combinations with one clear sentence each.

    Raises:
        ConfigError: Naming the offending key.
    """
    t = config.train
    validate_model(config.model)
    positive_ints: dict[str, int] = {
        "train.epochs": t.epochs,
        "train.batch_size": t.batch_size,
        "train.gradient_accumulation": t.gradient_accumulation,
        "eval.batch_size": config.eval.batch_size,
    }
    _check_at_least_one(positive_ints)
    if not 0.0 <= t.warmup_fraction <= 1.0:
        raise ConfigError(
            f"must lie in [0, 1], got {t.warmup_fraction}", code="E206", key="train.warmup_fraction"
        )
    _check_not_negative(
        {
            "train.lr": t.lr,
            "train.weight_decay": t.weight_decay,
            "train.max_grad_norm": t.max_grad_norm,
            "train.adam_eps": t.adam_eps,
            "train.neg_entity_count": t.neg_entity_count,
            "train.neg_relation_count": t.neg_relation_count,
            "train.eval_every": t.eval_every,
            "train.checkpoint_every": t.checkpoint_every,
        }
    )
    _check_rule(config.decision)


def validate_model(m: ModelConfig) -> None:
    """The model section's part of :func:`validate` (also run on a checkpoint's config.json).

    Raises:
        ConfigError: E206 for a value out of range, E214 for a switch without its
            prerequisite, naming the key.
    """
    _check_at_least_one(
        {
            "model.max_span_width": m.max_span_width,
            "model.width_embedding_dim": m.width_embedding_dim,
            "model.max_width_embeddings": m.max_width_embeddings,
            "model.max_pairs_per_chunk": m.max_pairs_per_chunk,
            "model.word_shape_dim": m.word_shape_dim,
        }
    )
    if not 0.0 <= m.dropout <= 1.0:
        raise ConfigError(f"must lie in [0, 1], got {m.dropout}", code="E206", key="model.dropout")
    _check_not_negative(
        {
            "model.lambda_entity": m.lambda_entity,
            "model.lambda_iou": m.lambda_iou,
            "model.lambda_relation": m.lambda_relation,
        }
    )
    _check_switches(m)
    if m.max_length is not None and m.max_length < 8:
        raise ConfigError(
            f"must be at least 8 pieces, got {m.max_length}", code="E206", key="model.max_length"
        )


def _check_at_least_one(values: dict[str, int]) -> None:
    for key, count in values.items():
        if count < 1:
            raise ConfigError(f"must be at least 1, got {count}", code="E206", key=key)


def _check_not_negative(values: dict[str, float]) -> None:
    for key, value in values.items():
        if value < 0:
            raise ConfigError(f"must not be negative, got {value}", code="E206", key=key)


def _check_switches(m: ModelConfig) -> None:
    """Refuse a switch whose prerequisite switch is off (E214)."""
    needs = [
        (
            "entity_type_loss",
            m.entity_type_loss == "decoupled",
            "entity_binary_head",
            m.entity_binary_head,
        ),
        (
            "relation_type_loss",
            m.relation_type_loss == "decoupled",
            "relation_binary_head",
            m.relation_binary_head,
        ),
        ("iou_in_classifier", m.iou_in_classifier, "iou_mode", m.iou_mode == "head"),
    ]
    for key, on, needed, present in needs:
        if on and not present:
            value = '"head"' if needed == "iou_mode" else "true"
            raise ConfigError(
                f"needs model.{needed} = {value} (the binary or IoU head it builds on)",
                code="E214",
                key=f"model.{key}",
            )
    if not 0.0 <= m.hard_negative_threshold <= 1.0:
        raise ConfigError(
            f"must lie in [0, 1], got {m.hard_negative_threshold}",
            code="E206",
            key="model.hard_negative_threshold",
        )


def _check_rule(rule: DecisionRule) -> None:
    for name in (
        "entity_threshold",
        "iou_threshold",
        "relation_threshold",
        "relation_binary_threshold",
    ):
        value = getattr(rule, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(
                f"must lie in [0, 1], got {value}", code="E206", key=f"decision.{name}"
            )


_DECISION_NAMES = frozenset(f.name for f in fields(DecisionRule))


def split_legacy_model_section(model: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a ``model`` section written before the decision rule had its own section.

    Checkpoints and run folders of spertmt 0.1 kept the decision rule inside ``model``, and
    switches of variants removed since. Decision fields move to the returned ``decision``
    dict. A removed switch is dropped when it had no effect in that model: at its "off" value,
    or when the component it modified was off (``iou_loss`` without the IoU head,
    ``entity_negative_weight`` without head A, ``pair_entity_feature`` without D,
    ``relation_score`` without head C, the B3 settings without B3).

    Args:
        model: The saved ``model`` section.

    Returns:
        ``(model, decision)`` dicts.

    Raises:
        ConfigError: For a removed variant that acted in the model (E207), naming it.
    """
    model = dict(model)
    decision = {name: model.pop(name) for name in list(model) if name in _DECISION_NAMES}
    iou_mode = model.get("iou_mode", "off")
    if iou_mode in REMOVED_IOU_MODES:
        raise ConfigError(
            f"was trained with {REMOVED_IOU_MODES[iou_mode]}, a variant rejected by the results "
            "and removed; use spertmt 0.1 for this model",
            code="E207",
            key="model.iou_mode",
        )
    acts = {
        "relation_score": bool(model.get("relation_binary_head")),
        "entity_negative_weight": bool(model.get("entity_binary_head")),
        "iou_loss": iou_mode == "head",
        "iou_negative_scale": False,  # B3 only, refused above
        "hard_negative_fraction": False,
        "pair_entity_feature": bool(model.get("entity_logits_in_pair")),
    }
    removed = {**REMOVED_MODEL_FIELDS, "relation_score": ("gate", "the relation product rule")}
    for name, (off, what) in removed.items():
        if name in model and model.pop(name) != off and acts[name]:
            raise ConfigError(
                f"was trained with {what}, a variant rejected by the results and removed; "
                "use spertmt 0.1 for this model",
                code="E207",
                key=f"model.{name}",
            )
    return model, decision


def migrate_run_dict(data: dict[str, Any]) -> dict[str, Any]:
    """A saved run configuration in today's sections (see :func:`split_legacy_model_section`).

    Args:
        data: A run's ``config.json`` (sections as dicts), of any spertmt version.

    Returns:
        The same configuration with the decision rule in its own ``decision`` section (values
        already there win) and removed switches dropped.

    Raises:
        ConfigError: For a removed variant that was switched on (E207).
    """
    if not isinstance(data.get("model"), dict):
        return data
    model, decision = split_legacy_model_section(data["model"])
    if not decision:
        return {**data, "model": model}
    return {**data, "model": model, "decision": {**decision, **data.get("decision", {})}}


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Rebuild a :class:`ModelConfig` from its dict form (as saved in a checkpoint)."""
    return _build_section(ModelConfig, "model", data)


def decision_rule_from_dict(data: dict[str, Any]) -> DecisionRule:
    """Rebuild a :class:`DecisionRule` from its dict form (as saved in a checkpoint).

    Args:
        data: Field values; missing fields take their defaults.

    Returns:
        The validated rule.

    Raises:
        ConfigError: For an unknown field (E201), a wrong type (E203) or a value out of range
            (E206), naming ``decision.<field>``.
    """
    rule = _build_section(DecisionRule, "decision", data)
    _check_rule(rule)
    return rule


def with_overrides(config: RunConfig, **sections: dict[str, Any]) -> RunConfig:
    """Return a copy of ``config`` with some section fields replaced, validated.

    Example:
        >>> with_overrides(RunConfig(), train={"epochs": 1}).train.epochs
        1
    """
    updated = config
    for section, values in sections.items():
        current = getattr(updated, section)
        merged = {**dataclasses.asdict(current), **values}
        updated = replace(updated, **{section: _build_section(_SECTIONS[section], section, merged)})
    validate(updated)
    return updated
