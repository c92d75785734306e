"""A small HTTP server over :meth:`SpertMT.predict <spertmt.inference.api.SpertMT.predict>`.

``spertmt serve --model DIR`` loads a checkpoint once and answers JSON requests:

- ``POST /predict``: ``{"texts": [...]}`` (raw text) or ``{"tokens": [[...], ...]}`` (token
  lists), optional decision-rule fields (``entity_threshold``, ``entity_score``,
  ``iou_threshold``, ``entity_overlap``, ``relation_threshold``, ``relation_binary_threshold``)
  and ``batch_size``; answers
  ``{"documents": [...], "thresholds": {...}, "decision": {...}}`` (``decision``: the whole
  rule the request was decided with), one document per input in the
  :meth:`Document.to_dict <spertmt.schema.Document.to_dict>` form (SpERT JSON with scores).
- ``GET /health``: ``{"status": "ok"}``, answered while predictions run.
- ``GET /info``: types, encoder, versions, decision rule and request limits.
- ``GET /docs`` and ``GET /openapi.json``: the interactive documentation and its schema.

Bad requests are answered ``422`` (``413`` over a size limit, ``408`` too slow), never
``500``, with the body ``{"error": {"code": "E5xx", "message": "..."}}``. FastAPI and uvicorn
are an optional extra (``pip install 'spertmt[serve]'``): this module imports them only when a
server is built, so ``import spertmt`` never needs them. The application itself is in
:mod:`spertmt.serve.app`.

The work of one request is bounded (``max_request_chars`` characters in all, ``max_words``
words in a token list), and so is the time a client may take to send it (``header_timeout``
for the request line and headers, ``body_timeout`` for the body). Concurrent requests share
forward passes (dynamic batching, :mod:`spertmt.serve.batching`): the sentences of requests
that arrive within ``batch_wait_ms`` of each other, or while a pass runs, are predicted
together, and a request whose client has disconnected stops between passes.

The server binds to the loopback interface by default; ``api_key`` (or ``SPERTMT_API_KEY``)
makes every request but ``GET /health`` and the docs carry a key.

Example:
    >>> from spertmt import SpertMT
    >>> from spertmt.serve.server import create_app
    >>> app = create_app(SpertMT.from_pretrained("runs/spert/model"))  # doctest: +SKIP
    >>> # uvicorn.run(app), or from a shell: spertmt serve --model runs/spert/model

"""

from __future__ import annotations

import importlib
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spertmt.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from spertmt.inference.api import SpertMT

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BATCH_WAIT_MS",
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_KEEP_ALIVE_TIMEOUT",
    "DEFAULT_MAX_BATCH_REQUESTS",
    "DEFAULT_MAX_BATCH_SENTENCES",
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_REQUEST_CHARS",
    "DEFAULT_MAX_TEXTS",
    "DEFAULT_MAX_WORDS",
    "create_app",
    "serve",
    "uvicorn_config",
]

DEFAULT_MAX_TEXTS = 64
"""Most texts (or token lists) in one ``/predict`` request."""
DEFAULT_MAX_CHARS = 100_000
"""Most characters in one text (a token list counts its tokens joined by single spaces)."""
DEFAULT_MAX_REQUEST_CHARS = 200_000
"""Characters of all texts of one request together. The reliability issue measured 64 texts of
100,000 characters (6.4 M) at about 7 minutes of MiniLM work on 2 CPU cores, so this is about
15 s: one request no longer holds the others back for minutes."""
DEFAULT_BATCH_SIZE = 32
"""Sentences per forward pass; a request may ask for fewer, never more."""
DEFAULT_MAX_WORDS = 1024
"""Most words in one token list. A token list is one sentence to the model (raw text is cut at
256 words), and its span and pair work grows faster than its length: four times the longest
sentence of the benchmark datasets (under 130 words) is still far from minutes of work."""
DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a request's line and headers may take to arrive (slow-loris clients hold sockets)."""
DEFAULT_BODY_TIMEOUT = 30.0
"""Seconds a request's whole body may take to arrive: the largest body the default limits
allow (about 2.5 MB) at 85 KB/s."""
DEFAULT_KEEP_ALIVE_TIMEOUT = 5.0
"""Seconds an idle keep-alive connection stays open (uvicorn's default)."""
DEFAULT_BATCH_WAIT_MS = 5.0
"""Milliseconds an idle server waits for more requests to share the first one's pass."""
DEFAULT_MAX_BATCH_REQUESTS = 32
"""Most requests in one pass of the batcher (``1`` turns merging off)."""
DEFAULT_MAX_BATCH_SENTENCES = 64
"""Most sentences in one pass of the batcher, run as forward passes of the batch size sorted by
length: two of 32. Sorting saves the padding that 32 sentences of mixed lengths in one forward
pass cost; a longer pass makes a request that arrives meanwhile wait longer."""

_EXTRA = ("fastapi", "uvicorn")


def require_serve_extra() -> None:
    """Check that the optional server packages can be imported.

    Raises:
        ConfigError: ``E220`` naming the missing package and the install command.

    Example:
        >>> require_serve_extra()  # doctest: +SKIP

    """
    for name in _EXTRA:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ConfigError(
                f"the HTTP server needs the optional packages fastapi and uvicorn, but {name} "
                "is not installed; install them with: pip install 'spertmt[serve]'",
                code="E220",
            ) from None


API_KEY_ENV = "SPERTMT_API_KEY"
"""Environment variable that holds the server's API key when ``--api-key`` is not given."""


def create_app(
    model: SpertMT,
    *,
    max_texts: int = DEFAULT_MAX_TEXTS,
    max_chars: int = DEFAULT_MAX_CHARS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_request_chars: int | None = DEFAULT_MAX_REQUEST_CHARS,
    api_key: str | None = None,
    max_words: int = DEFAULT_MAX_WORDS,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    batch_wait_ms: float = DEFAULT_BATCH_WAIT_MS,
    max_batch_requests: int = DEFAULT_MAX_BATCH_REQUESTS,
    max_batch_sentences: int = DEFAULT_MAX_BATCH_SENTENCES,
) -> FastAPI:
    """Build the FastAPI application that serves ``model``.

    The model is shared by all requests: one worker thread runs it, a pass at a time, for the
    sentences of waiting requests with the same decision rule
    (:mod:`spertmt.serve.batching`). Splitting texts and writing answers run in a small thread
    pool, so the event loop (and ``/health``) stays responsive while predictions run.

    Args:
        model: The loaded model.
        max_texts: Most texts (or token lists) in one request; more are answered ``413``.
        max_chars: Most characters in one text; a longer one is answered ``413``.
        batch_size: Sentences per forward pass, and the most a request may ask for.
        max_request_chars: Most characters in all texts of one request (``None``:
            ``max_texts × max_chars``); bounds the work one request can ask for.
        api_key: Require this key on every request but ``GET /health`` and the docs
            (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``); ``None``: no key.
        max_words: Most words in one token list; more are answered ``413``.
        body_timeout: Seconds the whole body may take to arrive; else ``408``.
        batch_wait_ms: How long an idle server waits for more requests to share a forward
            pass (``0``: not at all; requests that arrive while a pass runs share the next).
        max_batch_requests: Most requests in one pass of the batcher (``1``: no merging).
        max_batch_sentences: Most sentences in one pass of the batcher (run as forward
            passes of ``batch_size``, sorted by length).

    Returns:
        The application, ready for ``uvicorn.run(app)`` or a test client.

    Raises:
        ConfigError: ``E220`` if fastapi or uvicorn is not installed; ``E206`` for a limit
            below 1 or a time out of range; ``E222`` for an empty API key.

    Example:
        >>> from fastapi.testclient import TestClient                       # doctest: +SKIP
        >>> client = TestClient(create_app(model, max_texts=8))             # doctest: +SKIP
        >>> client.post("/predict", json={"texts": ["Ann met Bob."]}).json()  # doctest: +SKIP
        {'documents': [{'tokens': ['Ann', 'met', 'Bob', '.'], ...}], ...}

    """
    options = _checked_options(
        max_texts=max_texts,
        max_chars=max_chars,
        batch_size=batch_size,
        max_request_chars=max_request_chars,
        api_key=api_key,
        max_words=max_words,
        body_timeout=body_timeout,
        batch_wait_ms=batch_wait_ms,
        max_batch_requests=max_batch_requests,
        max_batch_sentences=max_batch_sentences,
    )
    require_serve_extra()
    from spertmt.serve.app import build_app

    return build_app(model, **options)


def serve(
    model_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str | None = None,
    max_texts: int = DEFAULT_MAX_TEXTS,
    max_chars: int = DEFAULT_MAX_CHARS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    log_level: str = "info",
    decision: Mapping[str, Any] | None = None,
    api_key: str | None = None,
    max_request_chars: int | None = DEFAULT_MAX_REQUEST_CHARS,
    max_words: int = DEFAULT_MAX_WORDS,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT,
    batch_wait_ms: float = DEFAULT_BATCH_WAIT_MS,
    max_batch_requests: int = DEFAULT_MAX_BATCH_REQUESTS,
    max_batch_sentences: int = DEFAULT_MAX_BATCH_SENTENCES,
    reuse_port: bool = False,
    precision: str = "fp32",
) -> None:
    """Load a checkpoint and serve it over HTTP until interrupted (Ctrl+C or SIGTERM).

    The optional packages are checked first and the model is loaded before the port is
    opened, so a missing extra, a bad checkpoint or a busy port fails at once with one line.

    Args:
        model_dir: Checkpoint folder.
        host: Interface to listen on; the loopback default accepts local clients only.
        port: TCP port; ``0`` picks a free one (the address is printed).
        device: ``cpu``, ``cuda`` or ``cuda:N``; ``None`` picks CUDA when available.
        precision: ``fp32``, ``bf16``, ``fp16`` or ``auto``
            (:mod:`spertmt.runtime.precision`), checked before the port is opened.
        max_texts: Most texts (or token lists) in one request.
        max_chars: Most characters in one text.
        batch_size: Sentences per forward pass, and the most a request may ask for.
        log_level: uvicorn's log level (``info`` logs every request).
        decision: Decision-rule fields that replace the checkpoint's as the server's default
            (``{"entity_overlap": "resolve"}``); requests may still override any field.
        max_request_chars: Most characters in one request, all texts together.
        api_key: Require this key (``None``: the ``SPERTMT_API_KEY`` environment variable, if
            set); said at start-up. Without one, a non-loopback address gets a warning.
        max_words: Most words in one token list.
        header_timeout: Seconds a request's line and headers may take to arrive (else ``408``
            and the connection is closed).
        body_timeout: Seconds a request's whole body may take to arrive (else ``408``).
        keep_alive_timeout: Seconds an idle keep-alive connection stays open.
        batch_wait_ms: How long an idle server waits for more requests to share a pass.
        max_batch_requests: Most requests in one pass of the batcher (``1``: no merging).
        max_batch_sentences: Most sentences in one pass of the batcher.
        reuse_port: Let several server processes listen on the same port (``SO_REUSEPORT``;
            the kernel spreads connections over them). Linux and BSDs only.

    Raises:
        ConfigError: ``E220`` if fastapi or uvicorn is missing, ``E221`` if the address cannot
            be listened on, ``E206`` for a limit below 1 or a time out of range, ``E209`` for a
            bad device, ``E222`` for an empty API key.
        CheckpointError: If the checkpoint cannot be loaded.

    Example:
        >>> serve("runs/spert/model", port=8000)  # doctest: +SKIP
        serving runs/spert/model on http://127.0.0.1:8000 (docs: http://127.0.0.1:8000/docs)

    """
    require_serve_extra()
    if api_key is None and API_KEY_ENV in os.environ:
        api_key = os.environ[API_KEY_ENV]  # an empty variable is refused below, not ignored
    # Checked before the model loads: a bad option fails at once.
    options = _checked_options(
        max_texts=max_texts,
        max_chars=max_chars,
        batch_size=batch_size,
        max_request_chars=max_request_chars,
        api_key=api_key,
        max_words=max_words,
        body_timeout=body_timeout,
        batch_wait_ms=batch_wait_ms,
        max_batch_requests=max_batch_requests,
        max_batch_sentences=max_batch_sentences,
    )
    for key, seconds in (
        ("header_timeout", header_timeout),
        ("keep_alive_timeout", keep_alive_timeout),
    ):
        _check_seconds(key, seconds, zero=False)
    import uvicorn

    from spertmt.inference.api import SpertMT

    model = SpertMT.from_pretrained(
        model_dir, device=device, precision=precision, **dict(decision or {})
    )
    app = create_app(model, **options)
    listener = _listen(host, port, reuse_port=reuse_port)
    bound_host, bound_port = listener.getsockname()[:2]
    url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    url = f"http://{url_host}:{bound_port}"
    print(f"serving {model_dir} on {url} (docs: {url}/docs)", file=sys.stderr, flush=True)
    if api_key is not None:
        print(
            "requests need the API key (Authorization: Bearer KEY or X-API-Key: KEY); "
            "GET /health and /docs are open",
            file=sys.stderr,
            flush=True,
        )
    elif not _is_loopback(bound_host):
        print(
            "warning: the server has no authentication and accepts clients from the network; "
            f"pass --api-key KEY or set {API_KEY_ENV} to require a key",
            file=sys.stderr,
            flush=True,
        )
    config = uvicorn_config(
        app,
        log_level=log_level,
        header_timeout=header_timeout,
        keep_alive_timeout=keep_alive_timeout,
    )
    uvicorn.Server(config).run(sockets=[listener])


def uvicorn_config(
    app: FastAPI,
    *,
    log_level: str = "info",
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT,
) -> Any:
    """The uvicorn configuration :func:`serve` runs ``app`` with.

    uvicorn's h11 protocol with a deadline for each request's head
    (:mod:`spertmt.serve.protocol`), the keep-alive time, and 10 s for running requests to
    finish on shutdown.

    Example:
        >>> uvicorn.Server(uvicorn_config(app)).run()  # doctest: +SKIP

    """
    import uvicorn

    from spertmt.serve.protocol import with_header_timeout

    return uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=keep_alive_timeout,  # type: ignore[arg-type]  # any seconds work
        http=with_header_timeout(header_timeout),
    )


def _checked_options(**options: Any) -> dict[str, Any]:
    """The server's options after their checks (limits at least 1, a non-empty key)."""
    for key in ("max_texts", "max_chars", "batch_size", "max_request_chars"):
        if key != "max_request_chars" or options[key] is not None:
            _check_positive(key, options[key])
    for key in ("max_words", "max_batch_requests", "max_batch_sentences"):
        _check_positive(key, options[key])
    _check_seconds("body_timeout", options["body_timeout"], zero=False)
    _check_seconds("batch_wait_ms", options["batch_wait_ms"], zero=True, most=10_000)
    key = options["api_key"]
    if key is not None and (not key.strip() or key != key.strip()):
        raise ConfigError(
            "the API key is empty or starts or ends with whitespace (HTTP headers cannot carry "
            f"that); give another key ({API_KEY_ENV} or --api-key) or none",
            code="E222",
        )
    return options


def _check_positive(key: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer, got {value!r}", code="E206")


def _check_seconds(key: str, value: float, *, zero: bool, most: float = 86_400) -> None:
    """A time: a finite number, above 0 (or at least 0 when ``zero``), at most ``most``."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not (0 <= value <= most) or (value == 0 and not zero):
        low = "at least 0" if zero else "above 0"
        raise ConfigError(
            f"{key} must be a number {low} and at most {most:g}, got {value!r}", code="E206"
        )


def _listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """Bind the listening socket ourselves, so that a busy port is one clear error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                if not hasattr(socket, "SO_REUSEPORT"):
                    raise OSError("SO_REUSEPORT (--reuse-port) is not available on this system")
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind(address)
        except OSError:
            listener.close()
            raise
    except (OSError, ValueError, OverflowError) as error:
        # OSError: a busy port, an unknown host; UnicodeError (a ValueError): a host name no
        # resolver takes ("a..b", a label over 63 characters); OverflowError: a port over 65535
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise ConfigError(
            f"cannot listen on {host}:{port}: {reason}; choose another --host or --port "
            "(--port 0 picks a free one)",
            code="E221",
        ) from None
    return listener


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")
