"""Dynamic batching: the batcher's passes with a fake model, then the server with a real one."""

import asyncio
import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from spertmt.config import DecisionRule
from spertmt.schema import Document
from spertmt.serve.batching import Batcher
from spertmt.serve.server import create_app

RULE = DecisionRule()
STRICT = DecisionRule(relation_threshold=0.9)


class FakeModel:
    """Records each pass (rule, batch size, units); answers each unit with its own tokens."""

    def __init__(self, *, delay=0.0, fail_on=None, max_units=32):
        self.max_units = max_units
        self.passes = []
        self.finished = 0  # calls done
        self.delay = delay
        self.fail_on = fail_on
        self.started = threading.Event()

    def __call__(self, inputs, *, rule, batch_size):
        self.started.set()
        assert len(inputs) <= self.max_units
        self.passes.append((rule, batch_size, [doc.tokens for doc in inputs]))
        if self.fail_on is not None and any(self.fail_on in doc.tokens for doc in inputs):
            raise ValueError("this pass fails")
        time.sleep(self.delay)
        self.finished += 1
        marker = f"θ={rule.relation_threshold}"
        return [Document(tokens=(*doc.tokens, marker)) for doc in inputs]


def units(name, count, words=1):
    return [Document(tokens=tuple(f"{name}{i}" for _ in range(words))) for i in range(count)]


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_requests_of_one_rule_share_a_pass_and_get_their_own_results():
    model = FakeModel()
    batcher = Batcher(model, wait_s=0.2, max_requests=8, max_units=model.max_units)

    async def main():
        jobs = [units("a", 3), units("b", 1), units("c", 2)]
        return jobs, await asyncio.gather(
            *(batcher.predict(job, rule=RULE, batch_size=32) for job in jobs)
        )

    try:
        jobs, results = run(main())
    finally:
        batcher.close()
    assert len(model.passes) == 1  # all three arrived within the wait window
    assert sorted(map(len, model.passes[0][2])) == [1] * 6
    for job, result in zip(jobs, results, strict=True):
        assert [doc.tokens for doc in result] == [(*u.tokens, "θ=0.4") for u in job]
    assert batcher.stats.passes == 1 and batcher.stats.requests == 3 and batcher.stats.units == 6


def test_requests_with_other_options_never_share_a_pass():
    model = FakeModel()
    batcher = Batcher(model, wait_s=0.2, max_requests=8, max_units=model.max_units)

    async def main():
        return await asyncio.gather(
            batcher.predict(units("a", 2), rule=RULE, batch_size=32),
            batcher.predict(units("b", 2), rule=STRICT, batch_size=32),
            batcher.predict(units("c", 2), rule=RULE, batch_size=4),  # another batch size
            batcher.predict(units("d", 2), rule=RULE, batch_size=32),
        )

    try:
        a, b, c, d = run(main())
    finally:
        batcher.close()
    assert [doc.tokens[-1] for doc in a + c + d] == ["θ=0.4"] * 6
    assert [doc.tokens[-1] for doc in b] == ["θ=0.9", "θ=0.9"]
    kinds = sorted((p[0].relation_threshold, p[1], len(p[2])) for p in model.passes)
    assert kinds == [(0.4, 4, 2), (0.4, 32, 4), (0.9, 32, 2)]
    for rule, _, tokens in model.passes:  # each pass decided with the rule of its requests
        names = {t[0][0] for t in tokens}
        assert names == ({"b"} if rule == STRICT else names - {"b"})


def test_a_large_request_does_not_hold_a_small_one_back_and_units_keep_their_order():
    model = FakeModel(delay=0.02, max_units=4)
    batcher = Batcher(model, wait_s=0.0, max_requests=8, max_units=model.max_units)
    big = [Document(tokens=("big",) * (1 + (7 * i) % 5)) for i in range(40)]  # mixed lengths

    async def main():
        large = asyncio.ensure_future(batcher.predict(big, rule=RULE, batch_size=4))
        await asyncio.get_running_loop().run_in_executor(None, model.started.wait)
        small = await batcher.predict(units("s", 1), rule=RULE, batch_size=4)
        return small, len(model.passes), await large

    try:
        small, passes_when_small_done, large = run(main())
    finally:
        batcher.close()
    assert [doc.tokens for doc in small] == [("s0", "θ=0.4")]
    assert passes_when_small_done <= 3  # the next pass at the latest, not after 10 passes
    assert [doc.tokens[:-1] for doc in large] == [doc.tokens for doc in big]
    # shortest first within the large request: less padding per pass
    lengths = [len(t) for p in model.passes for t in p[2] if t[0] == "big"]
    assert lengths == sorted(lengths)


def test_small_requests_fill_the_places_the_requests_in_turn_leave():
    model = FakeModel(max_units=8)
    batcher = Batcher(model, wait_s=0.2, max_requests=32, max_units=model.max_units)

    async def main():
        large = asyncio.ensure_future(batcher.predict(units("L", 6), rule=RULE, batch_size=8))
        await asyncio.sleep(0.01)  # the large request is first in the queue
        smalls = [batcher.predict(units(f"s{n}_", 1), rule=RULE, batch_size=8) for n in range(9)]
        return await asyncio.gather(large, *smalls)

    try:
        results = run(main())
    finally:
        batcher.close()
    first = [t[0] for t in model.passes[0][2]]
    # the request in turn gets half the 8 places, the small requests the rest
    assert sum(name.startswith("L") for name in first) == 4
    assert sum(name.startswith("s") for name in first) == 4
    assert [doc.tokens[0] for doc in results[0]] == [f"L{i}" for i in range(6)]
    assert all(len(r) == 1 for r in results[1:])
    # every small request was done by the second pass
    small_passes = [i for i, p in enumerate(model.passes) for t in p[2] if t[0].startswith("s")]
    assert max(small_passes) <= 1


def test_a_pass_runs_sorted_forward_passes_and_answers_each_request_when_done():
    model = FakeModel(delay=0.05, max_units=8)
    batcher = Batcher(model, wait_s=0.2, max_requests=8, max_units=8)
    done_after = {}

    async def timed(name, job):
        result = await batcher.predict(job, rule=RULE, batch_size=2)
        done_after[name] = model.finished
        return result

    async def main():
        long = [Document(tokens=("long",) * (9 - i)) for i in range(4)]
        short = [Document(tokens=("short",))]
        medium = [Document(tokens=("mid",) * 3), Document(tokens=("mid",) * 2)]
        return await asyncio.gather(
            timed("long", long), timed("short", short), timed("medium", medium)
        )

    try:
        long, short, medium = run(main())
    finally:
        batcher.close()
    assert batcher.stats.passes == 1 and batcher.stats.forward_passes == 4
    lengths = [[len(t) for t in p[2]] for p in model.passes]
    assert lengths == [[1, 2], [3, 6], [7, 8], [9]]  # shortest first, 2 a forward pass
    assert done_after == {"short": 1, "medium": 2, "long": 4}  # each as soon as it is done
    assert [len(d.tokens) - 1 for d in long] == [9, 8, 7, 6]  # in the request's order


def test_max_requests_one_keeps_each_pass_to_one_request():
    model = FakeModel()
    batcher = Batcher(model, wait_s=0.1, max_requests=1, max_units=model.max_units)

    async def main():
        return await asyncio.gather(
            *(batcher.predict(units(name, 2), rule=RULE, batch_size=32) for name in "abc")
        )

    try:
        results = run(main())
    finally:
        batcher.close()
    assert len(model.passes) == 3
    assert all(len({t[0][0] for t in p[2]}) == 1 for p in model.passes)
    assert [[doc.tokens[0] for doc in r] for r in results] == [
        ["a0", "a1"],
        ["b0", "b1"],
        ["c0", "c1"],
    ]


def test_a_client_that_disconnects_stops_its_remaining_passes():
    model = FakeModel(delay=0.05, max_units=2)
    batcher = Batcher(model, wait_s=0.0, max_requests=8, max_units=model.max_units)

    async def main():
        gone = asyncio.Event()

        async def disconnected():  # a fake of the ASGI disconnect watcher
            await gone.wait()

        job = asyncio.ensure_future(
            batcher.predict(units("x", 20), rule=RULE, batch_size=2, disconnected=disconnected)
        )
        await asyncio.get_running_loop().run_in_executor(None, model.started.wait)
        gone.set()
        result = await job
        await asyncio.sleep(0.3)  # time for passes that should not run
        return result

    try:
        result = run(main())
    finally:
        batcher.close()
    assert result is None
    assert len(model.passes) <= 2  # the pass running at the disconnect, no more (of 10)
    assert batcher.stats.cancelled == 1


def test_a_failing_pass_fails_its_requests_only_and_the_worker_goes_on():
    model = FakeModel(fail_on="bad0")
    batcher = Batcher(model, wait_s=0.0, max_requests=8, max_units=model.max_units)

    async def main():
        with pytest.raises(ValueError, match="this pass fails"):
            await batcher.predict(units("bad", 1), rule=RULE, batch_size=32)
        return await batcher.predict(units("ok", 1), rule=RULE, batch_size=32)

    try:
        result = run(main())
    finally:
        batcher.close()
    assert [doc.tokens for doc in result] == [("ok0", "θ=0.4")]


def test_a_closed_batcher_starts_again_on_the_next_request():
    model = FakeModel()
    batcher = Batcher(model, wait_s=0.0, max_requests=8, max_units=model.max_units)
    assert run(batcher.predict([], rule=RULE, batch_size=8)) == []  # no units: no pass
    run(batcher.predict(units("a", 1), rule=RULE, batch_size=8))
    batcher.close()
    assert [d.tokens for d in run(batcher.predict(units("b", 1), rule=RULE, batch_size=8))] == [
        ("b0", "θ=0.4")
    ]
    batcher.close()
    assert len(model.passes) == 2


# --------------------------------------------------------------------------- the server
BODIES = [
    {"texts": ["John Smith lives in Paris.", "Ann met Bob. Rome is old."]},
    {"texts": ["Ann met Bob."]},
    {"tokens": [["Anna", "moved", "to", "Rome"]], "relation_threshold": 0.55},
    {"texts": ["John Smith lives in Paris."], "relation_threshold": 0.55},
    {"texts": ["Rome is old. John Smith lives in Paris."], "entity_overlap": "resolve"},
    {"texts": ["", "Ann met Bob."], "entity_threshold": 0.9, "relation_threshold": 0.6},
    {"texts": ["Ann met Bob."], "batch_size": 1},
]


def test_batched_requests_get_what_each_would_get_alone(eager_api):
    from test_serve import assert_same_answers

    app = create_app(eager_api, batch_wait_ms=300, max_batch_requests=32)
    options = [f.name for f in dataclasses.fields(DecisionRule)]
    with TestClient(app) as client, ThreadPoolExecutor(len(BODIES) * 2) as pool:
        futures = [pool.submit(client.post, "/predict", json=body) for body in BODIES * 2]
        answers = [future.result(120) for future in futures]
        stats = app.state.batcher.stats
    assert all(answer.status_code == 200 for answer in answers)
    assert stats.passes < len(BODIES) * 2  # requests were merged
    for body, answer in zip(BODIES * 2, answers, strict=True):
        decision = {k: body[k] for k in options if k in body}
        inputs = body.get("texts") or body.get("tokens")
        alone = eager_api.predict(inputs, batch_size=body.get("batch_size", 32), **decision)
        assert_same_answers(answer.json()["documents"], [doc.to_dict() for doc in alone])
        assert answer.json()["decision"] == dataclasses.asdict(eager_api.rule_for(**decision))


def test_one_request_over_the_pair_limit_fails_alone_and_is_named_as_sent(eager_api, monkeypatch):
    # E508 is bad input of one request: the others batched with it are answered as alone
    import spertmt.inference.api as api

    monkeypatch.setattr(api, "MAX_PAIRS", 2000)  # the eager model keeps ~150 spans of 40 words
    words = [f"w{i}" for i in range(40)]
    bodies = [
        {"texts": ["Ann met Bob."]},
        {"texts": ["Rome is old.", "Ann met Bob. " + " ".join(words) + " ."]},
        {"tokens": [["Ann", "met", "Bob"]]},
    ]
    app = create_app(eager_api, batch_wait_ms=300, max_batch_requests=32)
    with TestClient(app) as client, ThreadPoolExecutor(len(bodies)) as pool:
        futures = [pool.submit(client.post, "/predict", json=body) for body in bodies]
        answers = [future.result(120) for future in futures]
        stats = app.state.batcher.stats
    assert stats.passes < len(bodies)  # they shared a pass
    assert [answer.status_code for answer in answers] == [200, 422, 200]
    error = answers[1].json()["error"]
    assert error["code"] == "E508"
    assert error["message"].startswith("texts[1], sentence 2: ")
    for body, answer in zip(bodies[::2], answers[::2], strict=True):
        inputs = body.get("texts") or body.get("tokens")
        assert len(answer.json()["documents"]) == len(eager_api.predict(inputs))
