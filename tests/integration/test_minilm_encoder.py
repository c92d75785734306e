import numpy as np
import pytest
import torch

from spertmt.encoding.align import collate, encode_words
from spertmt.encoding.encoders import WindowedEncoder, load_encoder, load_tokenizer

pytestmark = pytest.mark.integration

SENTENCE = (
    "In 1984 , John Smith , the president of Acme Corp. , moved from Paris to New York , "
    "where the company 's research unit studies joint entity and relation extraction ."
).split()


def test_minilm_encodes_a_2000_word_document(minilm_dir):
    tokenizer = load_tokenizer("minilm")
    model = load_encoder("minilm").eval()
    encoder = WindowedEncoder(model)
    assert encoder.max_length == 512

    long_doc = [SENTENCE[i % len(SENTENCE)] for i in range(2000)]
    long_doc[100] = "\u200b"  # a word with no piece of its own
    short_doc = SENTENCE[:12]
    encoded = encode_words(tokenizer, [long_doc, short_doc])
    for words, doc in zip([long_doc, short_doc], encoded, strict=True):
        # Alignment covers every word, in order, with at least one piece each.
        assert doc.num_words == len(words)
        assert np.all(doc.word_ends > doc.word_starts)
        assert np.array_equal(doc.word_ends[:-1], doc.word_starts[1:])
        assert doc.word_starts[0] == 1 and doc.word_ends[-1] == doc.num_pieces - 1
    assert encoded[0].num_pieces > 4 * 512

    input_ids, attention_mask, *_ = collate(encoded, pad_id=tokenizer.pad_token_id)
    with torch.no_grad():
        hidden, cls = encoder(input_ids, attention_mask)
        short_alone = model(
            input_ids=input_ids[1:2, : encoded[1].num_pieces],
            attention_mask=attention_mask[1:2, : encoded[1].num_pieces],
        ).last_hidden_state[0]
    assert hidden.shape == (2, input_ids.shape[1], 384) and cls.shape == (2, 384)
    assert torch.isfinite(hidden).all()
    # The short document, batched with the long one, is encoded exactly as on its own.
    length = encoded[1].num_pieces
    torch.testing.assert_close(hidden[1, :length], short_alone, atol=1e-4, rtol=1e-4)
    # Real pieces of the long document all got a state (padding stays zero).
    assert hidden[0, : encoded[0].num_pieces].abs().sum(-1).gt(0).all()
