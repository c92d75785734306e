"""Bounds on a request: its work, the time its head and body may take, a client that leaves."""

import asyncio
import contextlib
import json
import socket
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from spertmt.errors import ConfigError
from spertmt.serve.app import _BodyLimit
from spertmt.serve.server import _listen, create_app, uvicorn_config


# --------------------------------------------------------------------------- work budget
def test_a_token_list_over_the_word_limit_is_413_with_its_code(eager_api):
    app = create_app(eager_api, max_words=5)
    with TestClient(app) as client:
        assert client.get("/info").json()["limits"]["max_words"] == 5
        ok = client.post("/predict", json={"tokens": [["a"] * 5]})
        over = client.post("/predict", json={"tokens": [["a"] * 5, ["b"] * 6]})
        # raw text is cut into sentences by the model's planner: the word limit is not for it
        text = client.post("/predict", json={"texts": [" ".join(["a"] * 6)]})
    assert ok.status_code == 200 and text.status_code == 200
    assert over.status_code == 413
    error = over.json()["error"]
    assert error["code"] == "E529"
    assert "tokens[1] has 6 words" in error["message"] and "--max-words" in error["message"]


def test_the_request_budget_is_checked_before_any_work(eager_api, monkeypatch):
    calls = []
    monkeypatch.setattr(eager_api, "predict", lambda *a, **k: calls.append(a) or [])
    app = create_app(eager_api, max_texts=4, max_chars=100, max_request_chars=150)
    with TestClient(app) as client:
        over = client.post("/predict", json={"texts": ["a" * 100, "b" * 51]})
    assert over.status_code == 413 and over.json()["error"]["code"] == "E528"
    assert calls == []


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        # bad items beyond the count limit: answered by the limit, none of them described
        ({"texts": [1] * 200_000}, "E521", "texts holds 200000 inputs"),
        ({"tokens": [[1] * 200_000]}, "E529", "tokens[0] has 200000 words"),
        ({"tokens": [["a"]] * 9}, "E521", "tokens holds 9 inputs"),
    ],
)
def test_a_request_over_a_count_limit_is_413_before_its_items_are_validated(
    eager_api, body, code, fragment
):
    app = create_app(eager_api, max_texts=8, max_words=50)
    with TestClient(app) as client:
        started = time.perf_counter()
        over = client.post("/predict", json=body)
        took = time.perf_counter() - started
        assert client.get("/health").status_code == 200
    error = over.json()["error"]
    assert over.status_code == 413 and error["code"] == code and fragment in error["message"]
    assert "errors" not in error and took < 5  # describing 200 000 items took 2-3 s alone


def test_an_invalid_request_lists_a_bounded_number_of_problems(eager_api):
    app = create_app(eager_api, max_texts=8, max_words=500)
    with TestClient(app) as client:
        bad = client.post("/predict", json={"tokens": [[1] * 400] * 8})
        schema = client.get("/openapi.json").json()["components"]["schemas"]["PredictRequest"]
    error = bad.json()["error"]
    assert bad.status_code == 422 and error["code"] == "E520"
    assert "and 3195 more (see errors)" in error["message"]
    assert len(error["errors"]) == 51 and error["errors"][-1] == "and 3150 more"
    assert error["errors"][0].startswith("tokens[0][0]: Input should be a valid string")
    assert {"type": "array", "maxItems": 8}.items() <= schema["properties"]["texts"]["anyOf"][
        0
    ].items()


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"max_words": 0}, "max_words must be a positive integer"),
        ({"max_batch_requests": 0}, "max_batch_requests must be a positive integer"),
        ({"body_timeout": 0}, "body_timeout must be a number above 0"),
        ({"batch_wait_ms": -1}, "batch_wait_ms must be a number at least 0"),
        ({"batch_wait_ms": float("nan")}, "batch_wait_ms must be a number"),
    ],
)
def test_bad_limits_are_config_errors(eager_api, options, fragment):
    with pytest.raises(ConfigError, match=rf"\[E206\] {fragment}"):
        create_app(eager_api, **options)


# --------------------------------------------------------------------------- a slow body
def test_a_stalled_body_is_answered_408_within_the_timeout():
    reached = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        reached.append(scope)

    sent = []

    async def receive():
        if not sent:
            sent.append("first")
            return {"type": "http.request", "body": b'{"texts": ["', "more_body": True}
        await asyncio.sleep(3600)  # the client stops sending

    responses = []

    async def send(message):
        responses.append(message)

    middleware = _BodyLimit(app, limit=1000, timeout=0.3)
    scope = {"type": "http", "headers": [(b"content-length", b"100")]}
    start = time.monotonic()
    asyncio.run(middleware(scope, receive, send))
    took = time.monotonic() - start
    assert 0.25 <= took < 2
    assert reached == []
    assert responses[0]["status"] == 408
    assert (b"connection", b"close") in responses[0]["headers"]
    error = json.loads(responses[1]["body"])["error"]
    assert error["code"] == "E530" and "--body-timeout" in error["message"]


@contextlib.contextmanager
def running(app, **options):
    """``app`` served by uvicorn as ``spertmt serve`` configures it, in a thread."""
    server = uvicorn.Server(uvicorn_config(app, log_level="warning", **options))
    listener = _listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


def read_answer(connection, timeout):
    """Everything the server sends until it closes the connection (or ``timeout``)."""
    connection.settimeout(timeout)
    data = b""
    with contextlib.suppress(TimeoutError):
        while chunk := connection.recv(65536):
            data += chunk
    return data


def status_and_error(data):
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


def test_a_real_server_cuts_off_a_slow_body_and_a_slow_head(eager_api):
    app = create_app(eager_api, body_timeout=0.5)
    with running(app, header_timeout=0.5) as port:
        with socket.create_connection(("127.0.0.1", port)) as slow_body:
            slow_body.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"texts": ['
            )
            start = time.monotonic()
            data = read_answer(slow_body, timeout=10)
            took = time.monotonic() - start
        assert 0.4 <= took < 3, took
        status, error = status_and_error(data)
        assert status == 408 and error["code"] == "E530"

        with socket.create_connection(("127.0.0.1", port)) as slow_head:
            slow_head.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")  # no blank line yet
            start = time.monotonic()
            data = read_answer(slow_head, timeout=10)
            took = time.monotonic() - start
        assert 0.4 <= took < 3, took
        status, error = status_and_error(data)
        assert status == 408 and error["code"] == "E531" and "--header-timeout" in error["message"]

        with socket.create_connection(("127.0.0.1", port)) as silent:  # never sends a byte
            start = time.monotonic()
            assert status_and_error(read_answer(silent, timeout=10))[0] == 408
            assert time.monotonic() - start < 3

        # a client that sends in time is served on the same server, also after a pause
        with socket.create_connection(("127.0.0.1", port)) as good:
            body = b'{"texts": ["Ann met Bob."]}'
            good.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            data = read_answer(good, timeout=30)
        assert data.startswith(b"HTTP/1.1 200")


def test_a_client_that_disconnects_cancels_its_remaining_work(eager_api, monkeypatch):
    passes = []
    original = eager_api.predict

    def slow(inputs, **options):  # one sentence a pass (batch_size 1), 0.1 s each
        passes.append(len(inputs))
        time.sleep(0.1)
        return original(inputs, **options)

    monkeypatch.setattr(eager_api, "predict", slow)
    app = create_app(eager_api, batch_wait_ms=0)
    text = " ".join(["Ann met Bob."] * 40)  # 40 sentences: 40 passes, 4 s
    body = json.dumps({"texts": [text], "batch_size": 1}).encode("utf-8")
    with running(app) as port:
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            deadline = time.monotonic() + 30
            while not passes:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        # the socket is closed: the server stops after the pass it is running
        time.sleep(1.0)
        done = len(passes)
        time.sleep(0.5)
        assert len(passes) == done  # nothing more runs
        assert done < 10, done
        assert app.state.batcher.stats.cancelled == 1


def test_reuse_port_lets_several_servers_listen_on_one_port():
    import sys

    if not hasattr(socket, "SO_REUSEPORT") or sys.platform != "linux":
        pytest.skip("SO_REUSEPORT load balancing is Linux's")
    first = _listen("127.0.0.1", 0, reuse_port=True)
    port = first.getsockname()[1]
    try:
        second = _listen("127.0.0.1", port, reuse_port=True)
        second.close()
        first.listen()
        with pytest.raises(ConfigError, match=rf"\[E221\] cannot listen on 127.0.0.1:{port}"):
            _listen("127.0.0.1", port)  # without --reuse-port the port is taken
    finally:
        first.close()


@pytest.mark.parametrize("host", ["a..b", "x" * 70])
def test_a_host_name_no_resolver_takes_is_a_clear_error(host):
    # the resolver's idna codec raises UnicodeError, not OSError: it was a traceback
    with pytest.raises(ConfigError, match=r"\[E221\] cannot listen on .*choose another --host"):
        _listen(host, 0)
