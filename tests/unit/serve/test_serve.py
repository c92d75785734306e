"""The HTTP server: every endpoint and error path in process, then one real server process."""

import dataclasses
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from samples import build_model

from spertmt import SpertMT, __version__
from spertmt.cli import main
from spertmt.config import DecisionRule
from spertmt.errors import ConfigError
from spertmt.serve.app import ErrorResponse, InfoResponse, PredictResponse
from spertmt.serve.server import (
    DEFAULT_BATCH_WAIT_MS,
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_BATCH_REQUESTS,
    DEFAULT_MAX_BATCH_SENTENCES,
    DEFAULT_MAX_REQUEST_CHARS,
    DEFAULT_MAX_WORDS,
    create_app,
    serve,
)

MAX_TEXTS = 3
MAX_CHARS = 40
BATCH_SIZE = 8
TEXTS = ["John Smith lives in Paris.", "", "Ann met Bob. Rome is old."]
TOKENS = [["Anna", "moved", "to", "Rome"], []]
DECISION_FIELDS = [f.name for f in dataclasses.fields(DecisionRule)]


@pytest.fixture(scope="module")
def client(eager_api):
    app = create_app(eager_api, max_texts=MAX_TEXTS, max_chars=MAX_CHARS, batch_size=BATCH_SIZE)
    # The context manager keeps one event loop for all requests, as a real server has.
    with TestClient(app) as test_client:
        yield test_client


def expected(eager_api, inputs, **options):
    return [doc.to_dict() for doc in eager_api.predict(inputs, batch_size=BATCH_SIZE, **options)]


def assert_same_answers(got, want, tolerance=1e-5):
    """Equal answers, but for scores within ``tolerance`` (batching changes the batch shape)."""

    def without_scores(value):
        if isinstance(value, dict):
            return {k: without_scores(v) for k, v in value.items() if k != "score"}
        if isinstance(value, (list, tuple)):
            return [without_scores(v) for v in value]
        return value

    def scores(value):
        if isinstance(value, dict):
            own = [value["score"]] if "score" in value else []
            return own + [s for k, v in value.items() if k != "score" for s in scores(v)]
        if isinstance(value, (list, tuple)):
            return [s for v in value for s in scores(v)]
        return []

    assert without_scores(got) == without_scores(want)
    assert scores(got) == pytest.approx(scores(want), abs=tolerance)


def assert_error(response, status, code, *fragments):
    assert response.status_code == status, response.text
    body = response.json()
    ErrorResponse.model_validate(body)
    assert body["error"]["code"] == code
    for fragment in fragments:
        assert fragment in body["error"]["message"], body["error"]["message"]
    return body["error"]


# --------------------------------------------------------------------------- endpoints
def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, monkeypatch):
    import spertmt.serve.app as app_module

    parsed = []
    monkeypatch.setattr(app_module, "_checked_inputs", lambda *a: parsed.append(a) or [])
    limit = client.get("/info").json()["limits"]["max_body_bytes"]
    big = b'{"texts": ["' + b"a" * (limit + 10) + b'"]}'
    declared = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "E526"

    def chunks():  # no Content-Length: the body is counted as it streams in
        yield b'{"texts": ["'
        for _ in range(limit // 1000 + 2):
            yield b"a" * 1000
        yield b'"]}'

    streamed = client.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "E526"
    assert parsed == []  # nothing reached the request handling
    # the largest valid request still passes the body limit (and meets the text limits)
    ok = client.post("/predict", json={"texts": ["é" * MAX_CHARS] * MAX_TEXTS})
    assert ok.status_code == 200


def test_unknown_paths_and_methods_answer_in_the_documented_error_format(client):
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "E524"
    assert "POST /predict" in missing.json()["error"]["message"]
    wrong = client.get("/predict")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "E525"
    assert "use POST" in wrong.json()["error"]["message"]
    assert wrong.headers["allow"] == "POST"
    assert "detail" not in missing.json() and "detail" not in wrong.json()


def test_info_describes_types_decision_rule_and_limits(client, eager_api):
    response = client.get("/info")
    assert response.status_code == 200
    info = response.json()
    InfoResponse.model_validate(info)
    assert info["spertmt_version"] == __version__
    assert info["encoder"] == eager_api.config.encoder
    assert info["device"] == "cpu"
    assert [t["name"] for t in info["entity_types"]] == ["Peop", "Loc"]
    assert info["relation_types"] == [
        {"name": "Live_In", "short": "LI", "verbose": "Live in", "symmetric": False},
        {"name": "Near", "short": "N", "verbose": "Near", "symmetric": True},
    ]
    decision = info["decision"]
    assert decision["entity_threshold_used"] is True
    assert decision["entity_threshold"] == 0.5 and decision["relation_threshold"] == 0.4
    assert decision["iou_mode"] == "head" and decision["max_span_width"] == 4
    # Every field of the rule, plus what the model's heads say about it; no removed variant.
    assert {k: decision[k] for k in DECISION_FIELDS} == dataclasses.asdict(eager_api.rule)
    assert "relation_score" not in decision
    assert decision["entity_binary_head"] is True and decision["relation_binary_head"] is False
    assert info["limits"] == {
        "max_texts": MAX_TEXTS,
        "max_chars": MAX_CHARS,
        "max_request_chars": DEFAULT_MAX_REQUEST_CHARS,
        "max_words": DEFAULT_MAX_WORDS,
        "max_batch_size": BATCH_SIZE,
        "body_timeout_s": DEFAULT_BODY_TIMEOUT,
        "max_body_bytes": 12 * DEFAULT_MAX_REQUEST_CHARS + 16 * MAX_TEXTS + 65536,
    }
    assert info["batching"] == {
        "wait_ms": DEFAULT_BATCH_WAIT_MS,
        "max_requests": DEFAULT_MAX_BATCH_REQUESTS,
        "max_sentences": DEFAULT_MAX_BATCH_SENTENCES,
    }
    assert info["checkpoint"]["format_version"] >= 1


def test_predict_texts_equals_the_library(client, eager_api):
    response = client.post("/predict", json={"texts": TEXTS})
    assert response.status_code == 200
    body = response.json()
    PredictResponse.model_validate(body)
    assert body["documents"] == expected(eager_api, TEXTS)
    assert body["thresholds"] == {"entity": 0.5, "relation": 0.4}
    assert body["decision"] == dataclasses.asdict(DecisionRule())
    first, empty, two_sentences = body["documents"]
    assert first["text"] == TEXTS[0] and first["entities"] and first["relations"]
    for entity in first["entities"]:
        assert TEXTS[0][entity["char_start"] : entity["char_end"]] == entity["text"]
        assert 0.0 <= entity["score"] <= 1.0
    assert empty == {"tokens": [], "entities": [], "relations": [], "text": ""}
    assert two_sentences["tokens"] == ["Ann", "met", "Bob", ".", "Rome", "is", "old", "."]


def test_predict_tokens_with_options_equals_the_library(client, eager_api):
    options = {"entity_threshold": 0.2, "relation_threshold": 0.55}
    response = client.post("/predict", json={"tokens": TOKENS, **options, "batch_size": 2})
    assert response.status_code == 200
    body = response.json()
    PredictResponse.model_validate(body)
    assert body["documents"] == expected(eager_api, TOKENS, **options)
    assert body["thresholds"] == {"entity": 0.2, "relation": 0.55}
    assert body["decision"] == dataclasses.asdict(DecisionRule(**options))
    assert "text" not in body["documents"][0]
    assert all("char_start" not in e for e in body["documents"][0]["entities"])
    assert body["documents"][1] == {"tokens": [], "entities": [], "relations": []}


def test_relation_threshold_decides(client):
    def relations(threshold):
        body = {"texts": TEXTS[:1], "relation_threshold": threshold}
        return client.post("/predict", json=body).json()["documents"][0]["relations"]

    assert len(relations(0.0)) > len(relations(0.5)) > 0
    assert relations(1.0) == []


def _overlapping(doc):
    spans = [(e["start"], e["end"]) for e in doc["entities"]]
    return [(a, b) for a, b in itertools.combinations(spans, 2) if a[0] < b[1] and b[0] < a[1]]


def test_entity_overlap_resolve_for_one_request(client, eager_api):
    texts = TEXTS[:1]
    allowed = client.post("/predict", json={"texts": texts}).json()
    assert _overlapping(allowed["documents"][0])  # the eager model keeps every span
    response = client.post("/predict", json={"texts": texts, "entity_overlap": "resolve"})
    assert response.status_code == 200
    body = response.json()
    PredictResponse.model_validate(body)
    (doc,) = body["documents"]
    assert doc["entities"] and _overlapping(doc) == []
    assert body["documents"] == expected(eager_api, texts, entity_overlap="resolve")
    assert body["decision"] == dataclasses.asdict(DecisionRule(entity_overlap="resolve"))
    assert body["thresholds"] == {"entity": 0.5, "relation": 0.4}
    # The override does not leak into the next request, nor into the served model.
    assert client.post("/predict", json={"texts": texts}).json() == allowed
    assert client.get("/info").json()["decision"]["entity_overlap"] == "allow"
    assert eager_api.rule == DecisionRule()


def test_every_decision_field_of_the_body_is_used(client, eager_api):
    options = {
        "entity_threshold": 0.3,
        "entity_score": "product",
        "iou_threshold": 0.2,
        "entity_overlap": "resolve",
        "relation_threshold": 0.45,
        "relation_binary_threshold": 0.6,
    }
    assert sorted(options) == sorted(DECISION_FIELDS)
    body = client.post("/predict", json={"texts": TEXTS, **options}).json()
    assert body["documents"] == expected(eager_api, TEXTS, **options)
    assert body["decision"] == options
    assert body["thresholds"] == {"entity": 0.3, "relation": 0.45}


def test_empty_text_list_gives_no_documents(client):
    response = client.post("/predict", json={"texts": []})
    assert response.status_code == 200
    assert response.json()["documents"] == []


def test_openapi_schema_and_docs(client):
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/health", "/info"} <= set(schema["paths"])
    predict = schema["paths"]["/predict"]["post"]
    assert set(predict["responses"]) >= {"200", "413", "422"}
    assert predict["responses"]["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    request = schema["components"]["schemas"]["PredictRequest"]
    assert request["examples"][0] == {
        "texts": ["John Smith lives in Paris. He works for Acme Corp."]
    }
    for name in ("texts", "tokens", *DECISION_FIELDS, "batch_size"):
        assert request["properties"][name]["description"]
    assert "relation_score" not in request["properties"]
    answer = schema["components"]["schemas"]["PredictResponse"]
    assert {"documents", "thresholds", "decision"} <= set(answer["required"])
    entity = schema["components"]["schemas"]["EntityOut"]
    assert "char_start" in entity["properties"] and "char_start" not in entity["required"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# --------------------------------------------------------------------------- bad requests
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "give texts (a list of raw strings"),
        ({"texts": None}, "give texts (a list of raw strings"),
        ({"texts": ["a"], "tokens": [["a"]]}, "not both"),
        ({"texts": "John lives in Paris."}, "texts: Input should be a valid list (got a string)"),
        ({"texts": ["a", 5]}, "texts[1]: Input should be a valid string (got 5)"),
        ({"tokens": ["a b"]}, "tokens[0]: Input should be a valid list (got a string)"),
        ({"tokens": [["a", None]]}, "tokens[0][1]: Input should be a valid string (got null)"),
        ({"texts": ["a"], "entity_threshold": 1.5}, "entity_threshold: Input should be less than"),
        ({"texts": ["a"], "relation_threshold": -0.1}, "relation_threshold: Input should be gre"),
        ({"texts": ["a"], "relation_threshold": "0.5"}, "relation_threshold: Input should be a "),
        ({"texts": ["a"], "relation_threshold": True}, "valid number (got true)"),
        ({"texts": ["a"], "entity_overlap": "merge"}, "entity_overlap: Input should be 'allow'"),
        ({"texts": ["a"], "entity_score": "sum"}, "entity_score: Input should be 'gate'"),
        ({"texts": ["a"], "iou_threshold": 2}, "iou_threshold: Input should be less than"),
        (
            {"texts": ["a"], "relation_binary_threshold": -1},
            "relation_binary_threshold: Input should be greater",
        ),
        ({"texts": ["a"], "relation_score": "product"}, "unknown field relation_score"),
        ({"texts": ["a"], "batch_size": 0}, "batch_size: Input should be greater than or equal"),
        ({"texts": ["a"], "batch_size": 2.5}, "batch_size: Input should be a valid integer"),
        ({"text": ["a"]}, "unknown field text; the fields are texts, tokens,"),
        (["John lives in Paris."], "the request body is an array, not a JSON object"),
    ],
)
def test_invalid_body_is_422_with_the_problem(client, body, fragment):
    error = assert_error(client.post("/predict", json=body), 422, "E520", fragment)
    assert error["errors"]


@pytest.mark.parametrize(
    ("content", "content_type", "fragment"),
    [
        (b"", "application/json", "the request body is missing"),
        (b'{"texts": [', "application/json", "the request body is not valid JSON"),
        (b'{"texts": ["a"], "relation_threshold": NaN}', "application/json", "finite number"),
        ('{"texts": ["é"]}'.encode("latin-1"), "application/json", "it must be UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "a thousand levels deep"),
        (b'{"texts": ["a"], "batch_size": ' + b"9" * 5000 + b"}", "application/json", "digits"),
        (b'{"texts": ["a"]}', "text/plain", "Content-Type: application/json"),
    ],
)
def test_unreadable_body_is_422(client, content, content_type, fragment):
    response = client.post("/predict", content=content, headers={"content-type": content_type})
    assert_error(response, 422, "E520", fragment)


def test_too_many_texts_is_413_naming_the_limit(client):
    response = client.post("/predict", json={"texts": ["a"] * (MAX_TEXTS + 1)})
    assert_error(response, 413, "E521", "texts holds 4 inputs", "at most 3", "--max-texts")
    response = client.post("/predict", json={"tokens": [["a"]] * (MAX_TEXTS + 1)})
    assert_error(response, 413, "E521", "tokens holds 4 inputs")


def test_too_long_text_is_413_naming_index_and_length(client):
    response = client.post("/predict", json={"texts": ["ok", "x" * (MAX_CHARS + 1)]})
    assert_error(response, 413, "E522", "texts[1] has 41 characters", "at most 40", "--max-chars")
    # A token list counts its words joined by single spaces: 4 × 10 + 3 = 43.
    response = client.post("/predict", json={"tokens": [["y" * 10] * 4]})
    assert_error(response, 413, "E522", "tokens[0] has 43 characters")
    # Exactly at the limit is fine.
    assert client.post("/predict", json={"texts": ["z" * MAX_CHARS]}).status_code == 200


def test_batch_size_above_the_servers_is_422(client):
    response = client.post("/predict", json={"texts": ["a"], "batch_size": BATCH_SIZE + 1})
    assert_error(response, 422, "E523", "batch_size 9 is above this server's 8")


def test_lone_surrogates_are_422(client):
    content = b'{"texts": ["ok", "bad \\ud800"]}'
    response = client.post(
        "/predict", content=content, headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "E507", "input 1", "U+D800")
    content = b'{"tokens": [["ok"], ["fine", "bad\\udfff"]]}'
    response = client.post(
        "/predict", content=content, headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "E507", "input 1, token 1", "U+DFFF")


def test_input_error_of_predict_is_422_with_its_code(tiny_bert_dir):
    argmax_model, tokenizer = build_model(tiny_bert_dir)  # no binary entity head
    app = create_app(SpertMT(argmax_model, tokenizer))
    with TestClient(app) as argmax_client:
        info = argmax_client.get("/info").json()
        assert info["decision"]["entity_threshold_used"] is False
        assert info["checkpoint"] is None
        response = argmax_client.post("/predict", json={"texts": ["a b"], "entity_threshold": 0.5})
        assert_error(response, 422, "E505", "entity_threshold has no effect on this model")
        body = argmax_client.post("/predict", json={"texts": ["a b"]}).json()
        assert body["thresholds"] == {"entity": None, "relation": 0.4}


# --------------------------------------------------------------------------- concurrency
def test_health_answers_while_a_prediction_runs(eager_api, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    original = eager_api.predict

    def slow_predict(*args, **kwargs):
        entered.set()
        assert release.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(eager_api, "predict", slow_predict)
    with TestClient(create_app(eager_api)) as test_client, ThreadPoolExecutor(1) as pool:
        pending = pool.submit(test_client.post, "/predict", json={"texts": ["Ann met Bob."]})
        assert entered.wait(30)
        try:
            # An endpoint that blocked the event loop would hang here until release.
            health = get_within(test_client, "/health", timeout=10)
            assert health == {"status": "ok"}
            assert not pending.done()
        finally:
            release.set()
        assert pending.result(30).status_code == 200


def get_within(test_client, path, *, timeout):
    result = {}
    worker = threading.Thread(target=lambda: result.update(test_client.get(path).json()))
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"GET {path} did not answer within {timeout} s"
    return result


# --------------------------------------------------------------------------- set-up errors
def test_create_app_rejects_bad_limits(eager_api):
    with pytest.raises(ConfigError, match=r"\[E206\] max_texts must be a positive integer"):
        create_app(eager_api, max_texts=0)
    with pytest.raises(ConfigError, match=r"\[E206\] batch_size must be a positive integer"):
        create_app(eager_api, batch_size=0)


def test_missing_extra_is_a_one_line_error(eager_checkpoint, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` fail
    assert main(["serve", "--model", str(eager_checkpoint)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "[E220]" in err and "uvicorn is not installed" in err
    assert "pip install 'spertmt[serve]'" in err


def test_a_precision_the_device_cannot_run_fails_before_listening(eager_checkpoint, capsys):
    argv = ["serve", "--model", str(eager_checkpoint), "--device", "cpu", "--port", "0"]
    assert main([*argv, "--precision", "fp16"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[E234] fp16 runs on CUDA only" in err


def test_spertmt_and_its_cli_import_without_the_extra():
    code = (
        "import sys\n"
        "for name in ('fastapi', 'uvicorn', 'starlette'):\n"
        "    sys.modules[name] = None\n"
        "import spertmt, spertmt.serve.server\n"
        "from spertmt.cli import main\n"
        "assert main(['serve', '--help']) == 0\n"
        "assert main(['serve', '--model', 'nowhere']) == 1\n"
        "assert not {'fastapi', 'uvicorn', 'starlette', 'torch'} & {\n"
        "    name for name, module in sys.modules.items() if module is not None}\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env()
    )
    assert out.returncode == 0, out.stderr
    assert "--max-texts" in out.stdout and "pip install 'spertmt[serve]'" in out.stdout
    assert out.stderr.strip().startswith("error: [E220] the HTTP server needs")


def test_serve_options_set_the_servers_default_rule(eager_checkpoint, monkeypatch, capsys):
    import uvicorn

    served = []

    def run(self, sockets=None):  # instead of serving: keep the app, free the port
        served.append(self.config.app)
        for listener in sockets or ():
            listener.close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    args = ["serve", "--model", str(eager_checkpoint), "--device", "cpu", "--port", "0"]
    assert main([*args, "--entity-overlap", "resolve", "--relation-threshold", "0.45"]) == 0
    with TestClient(served[0]) as test_client:
        decision = test_client.get("/info").json()["decision"]
        assert decision["entity_overlap"] == "resolve" and decision["relation_threshold"] == 0.45
        default = test_client.post("/predict", json={"texts": TEXTS[:1]}).json()
        assert default["decision"] == dataclasses.asdict(
            DecisionRule(entity_overlap="resolve", relation_threshold=0.45)
        )
        assert default["documents"][0]["entities"] and not _overlapping(default["documents"][0])
        # A request may still override the server's default, for itself only.
        body = {"texts": TEXTS[:1], "entity_overlap": "allow"}
        assert _overlapping(test_client.post("/predict", json=body).json()["documents"][0])
        assert test_client.post("/predict", json={"texts": TEXTS[:1]}).json() == default
    assert main([*args, "--entity-overlap", "merge"]) == 2
    assert "--entity-overlap" in capsys.readouterr().err


def test_busy_port_is_a_one_line_error(eager_checkpoint):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"\[E221\] cannot listen on 127.0.0.1:{port}"):
            serve(eager_checkpoint, port=port, device="cpu")


# --------------------------------------------------------------------------- a real server
def _env():
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _call(url, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def test_real_server_answers_concurrent_requests_like_single_calls(eager_checkpoint, tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("w+", encoding="utf-8")
    command = [sys.executable, "-m", "spertmt", "serve", "--model", str(eager_checkpoint)]
    command += ["--port", str(port), "--device", "cpu", "--max-texts", "4"]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=_env())
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"the server exited early:\n{_read(log)}"
            try:
                if _call(f"{url}/health", timeout=2) == (200, {"status": "ok"}):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, f"no /health within 120 s:\n{_read(log)}"
            time.sleep(0.2)

        assert _call(f"{url}/info")[1]["limits"]["max_texts"] == 4
        bodies = [
            {"texts": TEXTS[:1]},
            {"texts": TEXTS[:1], "relation_threshold": 0.5},
            {"texts": TEXTS[:1], "relation_threshold": 0.55},
            {"tokens": TOKENS[:1], "relation_threshold": 0.5, "entity_threshold": 0.3},
            {"texts": TEXTS, "relation_threshold": 0.6, "entity_threshold": 0.9},
            {"texts": TEXTS[:1], "relation_threshold": 0.58},
            {"texts": TEXTS[:1], "entity_overlap": "resolve"},
        ]
        single = [_call(f"{url}/predict", body) for body in bodies]
        assert all(status == 200 for status, _ in single)
        # The rule matters for this eager_api, so mixing it up between requests would show.
        documents = {json.dumps(answer["documents"], sort_keys=True) for _, answer in single}
        assert len(documents) == len(bodies)
        with ThreadPoolExecutor(len(bodies) * 2) as pool:
            futures = [pool.submit(_call, f"{url}/predict", body) for body in bodies * 2]
            concurrent = [future.result(120) for future in futures]
        # Concurrent requests of one rule share forward passes: scores may move in the last
        # printed digit (another batch shape), nothing else.
        assert_same_answers(concurrent, single * 2)

        with pytest.raises(urllib.error.HTTPError) as too_many:
            _call(f"{url}/predict", {"texts": ["a"] * 5})
        assert too_many.value.code == 413
        assert json.loads(too_many.value.read())["error"]["code"] == "E521"
    finally:
        server.terminate()
        try:
            code = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    output = _read(log)
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal for the parent to see.
    assert code in (0, -signal.SIGTERM), output
    assert "Application shutdown complete." in output
    assert f"serving {eager_checkpoint} on {url} (docs: {url}/docs)" in output
    assert "Traceback" not in output


def _read(log):
    log.flush()
    log.seek(0)
    return log.read()


def test_the_characters_of_one_request_are_bounded(eager_api):
    app = create_app(eager_api, max_texts=MAX_TEXTS, max_chars=MAX_CHARS, max_request_chars=50)
    with TestClient(app) as client:
        ok = client.post("/predict", json={"texts": ["a" * 25, "b" * 25]})
        over = client.post("/predict", json={"texts": ["a" * 25, "b" * 26]})
        assert ok.status_code == 200
        assert over.status_code == 413 and over.json()["error"]["code"] == "E528"
        assert "--max-request-chars" in over.json()["error"]["message"]
        assert client.get("/info").json()["limits"]["max_request_chars"] == 50


def test_the_page_for_people_is_served_at_the_root(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.startswith("<!DOCTYPE html>") and 'fetch("predict"' in page.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|@import""", page.text)  # offline
    assert "/" not in client.get("/openapi.json").json()["paths"]  # not part of the API


def test_an_api_key_guards_everything_but_health_and_the_docs(eager_api):
    app = create_app(eager_api, max_texts=MAX_TEXTS, max_chars=MAX_CHARS, api_key="s3cret")
    body = {"texts": ["Ann met Bob."]}
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/").status_code == 200  # the page asks for the key itself
        missing = client.post("/predict", json=body)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "E527"
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = client.get("/info", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "not this server's" in wrong.json()["error"]["message"]
        bearer = client.post("/predict", json=body, headers={"Authorization": "Bearer s3cret"})
        header = client.get("/info", headers={"X-API-Key": "s3cret"})
        assert bearer.status_code == 200 and header.status_code == 200
    with pytest.raises(ConfigError, match=r"\[E222\]"):
        create_app(eager_api, api_key="  ")


def test_serve_takes_the_key_from_the_environment_and_says_so(
    eager_checkpoint, monkeypatch, capsys
):
    import uvicorn

    seen = {}

    def keep_app(self, sockets=None):
        seen["app"] = self.config.app
        for listener in sockets or ():
            listener.close()

    monkeypatch.setattr(uvicorn.Server, "run", keep_app)
    monkeypatch.setenv("SPERTMT_API_KEY", "from-env")
    assert main(["serve", "--model", str(eager_checkpoint), "--port", "0"]) == 0
    assert "requests need the API key" in capsys.readouterr().err
    with TestClient(seen["app"]) as client:
        assert client.get("/info").status_code == 401
        assert client.get("/info", headers={"X-API-Key": "from-env"}).status_code == 200
    monkeypatch.delenv("SPERTMT_API_KEY")
    assert (
        main(["serve", "--model", str(eager_checkpoint), "--port", "0", "--host", "0.0.0.0"]) == 0
    )
    assert "pass --api-key KEY or set SPERTMT_API_KEY" in capsys.readouterr().err
