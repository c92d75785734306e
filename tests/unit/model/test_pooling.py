import torch

from spertmt.model.pooling import RangeMax, word_max_pool


def reference_range_max(x, ranges, empty_value=0.0):
    out = torch.full((*ranges.shape[:2], x.shape[-1]), empty_value)
    for b in range(ranges.shape[0]):
        for n in range(ranges.shape[1]):
            s, e = ranges[b, n].tolist()
            if e > s:
                out[b, n] = x[b, s:e].max(0).values
    return out


def test_range_max_matches_reference_on_all_ranges():
    torch.manual_seed(0)
    for width in (1, 2, 3, 7, 8, 9, 33):
        x = torch.randn(2, width, 5)
        all_ranges = [(s, e) for s in range(width) for e in range(s, width + 1)]
        ranges = torch.tensor([all_ranges, all_ranges])
        assert torch.equal(RangeMax(x).query(ranges), reference_range_max(x, ranges))


def test_range_max_empty_ranges_give_zero_and_gradients_flow():
    x = torch.randn(1, 6, 4, requires_grad=True)
    ranges = torch.tensor([[[2, 2], [4, 3], [0, 6]]])
    out = RangeMax(x).query(ranges)
    assert torch.equal(out[0, 0], torch.zeros(4))
    assert torch.equal(out[0, 1], torch.zeros(4))
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_word_max_pool_equals_max_over_each_words_pieces():
    torch.manual_seed(1)
    hidden = torch.randn(2, 7, 3)
    # doc 0: [CLS] w0 w0 w1 w2 w2 [SEP]; doc 1: [CLS] w0 w1 [SEP] pad pad pad
    piece_word = torch.tensor([[3, 0, 0, 1, 2, 2, 3], [3, 0, 1, 3, 3, 3, 3]])
    words = word_max_pool(hidden, piece_word, 3)
    assert torch.equal(words[0, 0], hidden[0, 1:3].max(0).values)
    assert torch.equal(words[0, 2], hidden[0, 4:6].max(0).values)
    assert torch.equal(words[1, 1], hidden[1, 2])
    assert torch.isinf(words[1, 2]).all()


def test_span_pooling_over_words_equals_pooling_over_pieces():
    torch.manual_seed(2)
    hidden = torch.randn(1, 9, 4)
    word_pieces = [(1, 3), (3, 4), (4, 7), (7, 8)]  # pieces of words 0..3
    piece_word = torch.full((1, 9), 4)
    for w, (a, b) in enumerate(word_pieces):
        piece_word[0, a:b] = w
    ranges = RangeMax(word_max_pool(hidden, piece_word, 4))
    for s in range(4):
        for e in range(s + 1, 5):
            expected = hidden[0, word_pieces[s][0] : word_pieces[e - 1][1]].max(0).values
            assert torch.equal(ranges.query(torch.tensor([[[s, e]]]))[0, 0], expected)


def test_range_max_to_another_type_converts_the_table_once():
    x = torch.randn(2, 5, 3)
    table = RangeMax(x)
    assert table.to(torch.float32) is table
    low = table.to(torch.bfloat16)
    assert low.dtype == torch.bfloat16 and table.dtype == torch.float32
    ranges = torch.tensor([[[0, 5], [1, 3]], [[2, 4], [3, 3]]])
    assert torch.equal(low.query(ranges), table.query(ranges).to(torch.bfloat16))
