"""``spertmt train`` and ``spertmt predict``: parse options, call one library function."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from spertmt.cli.options import (
    Device,
    ModelDir,
    Onnx,
    Precision,
    Quantize,
    with_decision_options,
)
from spertmt.errors import ConfigError


def train_command(
    config: Annotated[
        Path | None,
        typer.Argument(
            help="TOML config file; omitted: SpERT on CoNLL04 with MiniLM, or with --resume "
            "the run's own config.json.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Run folder (default: runs/<config>-<timestamp>)."),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a value: section.key=value (repeatable)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --output from its checkpoint.")
    ] = False,
    encoder: Annotated[
        str | None,
        typer.Option(
            "--encoder",
            help="Encoder: minilm, mpnet, a local folder or a Hugging Face id "
            "(short for --set model.encoder=NAME).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")
    ] = False,
    dist_timeout: Annotated[
        float | None,
        typer.Option(
            "--dist-timeout",
            min=1,
            help="Several processes (torchrun, accelerate launch): seconds to wait for the "
            "others at the start and at each exchange before stopping with an error (default "
            "1800; rank 0 evaluates and writes checkpoints while the others wait).",
        ),
    ] = None,
) -> None:
    """Train a model; writes config, metrics, checkpoint, final model and test predictions.

    Under torchrun (torchrun --nproc-per-node N -m spertmt train CONFIG) or Accelerate
    (accelerate launch --multi_gpu --num_processes N -m spertmt train CONFIG) the N processes
    train together: train.batch_size documents per process; rank 0 logs, evaluates and writes.
    """
    from spertmt.config import load_config
    from spertmt.training import load_run_config, train
    from spertmt.training.distributed import launched_rank, launched_world_size

    if encoder is not None:
        # JSON quoting is valid TOML, so any folder path or hub id survives the override parser.
        overrides = [*(overrides or []), f"model.encoder={json.dumps(encoder)}"]
    if resume and output is None:
        raise ConfigError("--resume needs --output: the run folder to continue", code="E202")
    # --resume without --config continues with the config saved in the run folder.
    resume_from = output if resume and config is None else None
    if resume_from is not None:
        run_config = load_run_config(resume_from, overrides=overrides or [])
    else:
        run_config = load_config(config, overrides=overrides or [])
    if output is None and launched_world_size() > 1:
        # A default folder from the clock could differ between the processes.
        raise ConfigError(
            "training on several processes (torchrun) needs --output: the run folder they share",
            code="E240",
        )
    if output is None:
        stem = config.stem if config is not None else "default"
        output = Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    main_process = launched_rank() == 0
    result = train(
        run_config,
        output_dir=output,
        resume=resume,
        progress=not quiet and main_process,
        dist_timeout=dist_timeout,
    )
    if main_process:
        typer.echo(f"model: {result.model_dir}")
        typer.echo(f"results: {result.output_dir / 'results.json'}")


@with_decision_options
def predict_command(
    input_path: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="Raw text (.txt, one document per line), SpERT .json or .jsonl documents, "
            "or - for standard input (raw text; JSON or JSON Lines with --input-format).",
        ),
    ],
    model: ModelDir,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output file (default: standard output, as JSON)."),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="json, jsonl or html (default: from the output suffix, else json).",
        ),
    ] = None,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--input-format", help="text, json or jsonl (default: from the input suffix)."
        ),
    ] = None,
    whole_file: Annotated[
        bool,
        typer.Option("--whole-file", help="Raw text: the whole input is one document."),
    ] = False,
    given_entities: Annotated[
        bool,
        typer.Option(
            "--given-entities",
            help="Relation-only mode: keep the entities of the JSON/JSONL input and predict "
            "only the relations between them.",
        ),
    ] = False,
    decision: dict[str, Any] | None = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Sentences per forward pass.")
    ] = 32,
    device: Device = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    quantize: Quantize = False,
    onnx: Onnx = None,
    precision: Precision = "fp32",
    max_pairs: Annotated[
        int | None,
        typer.Option(
            "--max-pairs",
            min=0,
            help="Most ordered entity pairs a document may hold (k entities make k·(k-1)); "
            "a document over it stops the run with E508. Default 10,000,000 (about 3,160 "
            "entities).",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="I/N",
            help="Predict every N-th document only, from the I-th (0 <= I < N): document k "
            "goes to shard k mod N. Run N of them (machines, GPUs) and merge their outputs.",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the OUTPUT.partial of a stopped run with the same input, model, "
            "options and shard (JSON Lines to a file): no document lost or written twice.",
        ),
    ] = False,
) -> None:
    """Predict entities and relations (with scores) for raw text or tokenised documents.

    The input is read as it goes. JSON Lines are written as they go (to OUTPUT.partial,
    renamed at the end): a stop keeps them, and --resume continues them.
    """
    from spertmt.inference.files import predict_file

    summary = predict_file(
        model,
        input_path,
        output,
        input_format=input_format,
        output_format=output_format,
        whole_file=whole_file,
        given_entities=given_entities,
        decision=decision,
        batch_size=batch_size,
        device=device,
        progress=not quiet,
        quantize=quantize,
        onnx=onnx,
        precision=precision,
        max_pairs=max_pairs,
        shard=shard,
        resume=resume,
    )
    # The report goes to standard error, so that standard output holds only predictions.
    where = "standard output" if summary.output is None else str(summary.output)
    skipped = (
        f"; skipped {_count(summary.blank_lines, 'blank line')}" if summary.blank_lines else ""
    )
    kept = f", {summary.resumed} of them from the stopped run" if summary.resumed else ""
    predicted = summary.documents - summary.resumed
    rate = (
        f"; {predicted} in {summary.seconds:.1f} s ({summary.documents_per_second:.1f} documents/s)"
    )
    counted = f"{_count(summary.entities, 'entity')}, {_count(summary.relations, 'relation')}"
    if summary.resumed:  # the stopped run's documents are kept as written, not read again
        counted += f" in the {predicted} predicted now"
    typer.echo(
        f"wrote {_count(summary.documents, 'document')}{kept} ({counted}) "
        f"as {summary.output_format} to {where}{skipped}{rate}",
        err=True,
    )


def _count(number: int, noun: str) -> str:
    if number == 1:
        return f"1 {noun}"
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{number} {plural}"


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``predict`` to ``app``."""
    app.command("train")(train_command)
    app.command("predict")(predict_command)
