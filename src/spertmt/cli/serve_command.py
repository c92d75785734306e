"""``spertmt serve``: parse options, call :func:`spertmt.serve.server.serve`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from spertmt.cli.options import (
    Device,
    ModelDir,
    Precision,
    with_decision_options,
)
from spertmt.serve.server import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BATCH_WAIT_MS,
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_MAX_BATCH_REQUESTS,
    DEFAULT_MAX_BATCH_SENTENCES,
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_REQUEST_CHARS,
    DEFAULT_MAX_TEXTS,
    DEFAULT_MAX_WORDS,
)


class LogLevel(str, Enum):
    """uvicorn's log levels."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


@with_decision_options
def serve_command(
    model: ModelDir,
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Interface to listen on; 0.0.0.0 accepts clients from the network."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any free port).")
    ] = 8000,
    device: Device = None,
    precision: Precision = "fp32",
    max_texts: Annotated[
        int,
        typer.Option("--max-texts", min=1, help="Most texts per request; more get HTTP 413."),
    ] = DEFAULT_MAX_TEXTS,
    max_chars: Annotated[
        int,
        typer.Option("--max-chars", min=1, help="Most characters per text; longer get HTTP 413."),
    ] = DEFAULT_MAX_CHARS,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", min=1, help="Sentences per forward pass (and most a request may ask)."
        ),
    ] = DEFAULT_BATCH_SIZE,
    max_request_chars: Annotated[
        int,
        typer.Option(
            "--max-request-chars",
            min=1,
            help="Most characters of all texts in one request; more get HTTP 413. Bounds the "
            "work one request can ask for.",
        ),
    ] = DEFAULT_MAX_REQUEST_CHARS,
    max_words: Annotated[
        int,
        typer.Option(
            "--max-words",
            min=1,
            help="Most words in one token list (one sentence to the model); more get HTTP 413.",
        ),
    ] = DEFAULT_MAX_WORDS,
    header_timeout: Annotated[
        float,
        typer.Option(
            "--header-timeout",
            min=0.001,
            max=86400,
            help="Seconds a request's line and headers may take to arrive; slower clients "
            "get HTTP 408 and are disconnected.",
        ),
    ] = DEFAULT_HEADER_TIMEOUT,
    body_timeout: Annotated[
        float,
        typer.Option(
            "--body-timeout",
            min=0.001,
            max=86400,
            help="Seconds a request's whole body may take to arrive; slower clients get "
            "HTTP 408 and are disconnected.",
        ),
    ] = DEFAULT_BODY_TIMEOUT,
    keep_alive_timeout: Annotated[
        float,
        typer.Option(
            "--keep-alive-timeout",
            min=0.001,
            max=86400,
            help="Seconds an idle keep-alive connection stays open.",
        ),
    ] = DEFAULT_KEEP_ALIVE_TIMEOUT,
    batch_wait_ms: Annotated[
        float,
        typer.Option(
            "--batch-wait-ms",
            min=0,
            max=10000,
            help="Milliseconds an idle server waits for more requests to share a forward "
            "pass (dynamic batching; 0: no wait).",
        ),
    ] = DEFAULT_BATCH_WAIT_MS,
    max_batch_requests: Annotated[
        int,
        typer.Option(
            "--max-batch-requests",
            min=1,
            help="Most requests whose sentences share one pass (1: no batching).",
        ),
    ] = DEFAULT_MAX_BATCH_REQUESTS,
    max_batch_sentences: Annotated[
        int,
        typer.Option(
            "--max-batch-sentences",
            min=1,
            help="Most sentences in one pass of the batcher, run as forward passes of "
            "--batch-size sorted by length.",
        ),
    ] = DEFAULT_MAX_BATCH_SENTENCES,
    reuse_port: Annotated[
        bool,
        typer.Option(
            "--reuse-port",
            help="Let several server processes listen on the same port (SO_REUSEPORT); "
            "the kernel spreads connections over them.",
        ),
    ] = False,
    log_level: Annotated[
        LogLevel,
        typer.Option(
            "--log-level",
            help="Server log level (info logs every request).",
        ),
    ] = LogLevel.info,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="SPERTMT_API_KEY",
            show_envvar=True,
            help="Require this key on every request but GET /health and /docs "
            "(Authorization: Bearer KEY or X-API-Key: KEY).",
        ),
    ] = None,
    decision: dict[str, Any] | None = None,
) -> None:
    r"""Serve a model over HTTP: POST /predict, GET /health, GET /info; docs at /docs.

    Needs the optional packages: pip install 'spertmt\[serve]'.
    """
    from spertmt.serve.server import serve

    serve(
        model,
        host=host,
        port=port,
        device=device,
        max_texts=max_texts,
        max_chars=max_chars,
        batch_size=batch_size,
        max_request_chars=max_request_chars,
        max_words=max_words,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        keep_alive_timeout=keep_alive_timeout,
        batch_wait_ms=batch_wait_ms,
        max_batch_requests=max_batch_requests,
        max_batch_sentences=max_batch_sentences,
        reuse_port=reuse_port,
        precision=precision,
        log_level=log_level.value,
        decision=decision,
        api_key=api_key,
    )


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve_command)
