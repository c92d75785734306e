"""The word embedding whose training gradient is added in place, row by row."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spertmt.model.embedding import RowGradientEmbedding, kept_gradients, use_row_gradients
from spertmt.training.loop import clear_gradients


def _pair(padding_idx=0):
    torch.manual_seed(0)
    plain = nn.Embedding(40, 6, padding_idx=padding_idx)
    rows = use_row_gradients(nn.Embedding(40, 6, padding_idx=padding_idx))
    rows.load_state_dict(plain.state_dict())
    return plain, rows


@pytest.mark.parametrize("padding_idx", [0, None])
def test_gradients_equal_nn_embedding_over_steps_and_accumulated_batches(padding_idx):
    plain, rows = _pair(padding_idx)
    assert type(rows) is RowGradientEmbedding
    weights = torch.randn(6)
    plain_opt = torch.optim.SGD(plain.parameters(), lr=0.1)
    rows_opt = torch.optim.SGD(rows.parameters(), lr=0.1)
    kept = kept_gradients(rows)
    for step in range(3):
        for micro in range(2):  # two backward passes per step: accumulation
            ids = torch.randint(
                0, 40, (3, 7), generator=torch.Generator().manual_seed(10 * step + micro)
            )
            ids[0, :3] = 0  # padding (or row 0) and repeated ids
            ids[1, :4] = 5
            for table in (plain, rows):
                (table(ids) * weights).sum().backward()
        assert rows.weight.grad.layout == torch.strided
        torch.testing.assert_close(rows.weight.grad, plain.weight.grad, rtol=0, atol=1e-6)
        if padding_idx is not None:
            assert torch.equal(rows.weight.grad[0], torch.zeros(6))
        plain_opt.step()
        rows_opt.step()
        plain_opt.zero_grad(set_to_none=True)
        held = rows.weight.grad
        clear_gradients(rows_opt, kept)
        assert rows.weight.grad is held and not held.any()  # kept, zeroed
    torch.testing.assert_close(rows.weight, plain.weight, rtol=0, atol=1e-6)


def test_forward_is_nn_embedding_and_prediction_keeps_no_gradient():
    plain, rows = _pair()
    ids = torch.tensor([[1, 2, 0], [3, 3, 3]])
    assert torch.equal(rows(ids), plain(ids))
    rows.eval()
    with torch.inference_mode():
        assert torch.equal(rows(ids), plain(ids))
    assert rows.weight.grad is None


def test_only_plain_lookups_are_converted_and_the_state_dict_is_unchanged():
    for table in (nn.Embedding(5, 2, max_norm=1.0), nn.Embedding(5, 2, sparse=True)):
        assert type(use_row_gradients(table)) is nn.Embedding
    linear = nn.Linear(2, 2)
    assert use_row_gradients(linear) is linear and type(linear) is nn.Linear
    table = nn.Embedding(5, 2)
    keys = list(table.state_dict())
    use_row_gradients(table)
    assert list(table.state_dict()) == keys and kept_gradients(table) == {id(table.weight)}
