"""Fixtures shared by the unit tests: one eager tiny checkpoint and its model, a pretend CPU."""

import pytest
from samples import save_eager_checkpoint

from spertmt import SpertMT


@pytest.fixture(scope="session")
def eager_checkpoint(tiny_bert_dir, tmp_path_factory):
    """A tiny checkpoint that predicts entities everywhere (see ``save_eager_checkpoint``)."""
    return save_eager_checkpoint(tiny_bert_dir, tmp_path_factory.mktemp("eager") / "model")


@pytest.fixture(scope="session")
def eager_api(eager_checkpoint):
    """The eager checkpoint loaded on the CPU; per-call thresholds never change it."""
    return SpertMT.from_pretrained(eager_checkpoint, device="cpu")


@pytest.fixture
def native_bf16(monkeypatch):
    """Pretend the CPU has (True) or lacks (False) native bf16: ``native_bf16(True)``."""
    from spertmt.runtime import precision as precision_module

    def set_native(value: bool) -> None:
        how = "AVX512-BF16" if value else "neither AMX nor AVX512-BF16"
        monkeypatch.setattr(precision_module, "cpu_bf16_native", lambda: (value, how))

    return set_native


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt during the test, as in a terminal, even where the suite
    was started with SIGINT ignored (a shell's background job, some CI runners)."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
