"""The tutorials' own RNN examples, reproduced, and matched against nn.RNN and our implementations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from implementations import registry
from implementations.families import make_inputs, make_reference

# The tutorial's two time steps for a batch of 4: X0 at t=0, X1 at t=1.
X0_BATCH_4 = torch.tensor([[0, 1, 2, 0], [3, 4, 5, 0], [6, 7, 8, 0], [9, 0, 1, 0]], dtype=torch.float)
X1_BATCH_4 = torch.tensor([[9, 8, 7, 0], [0, 0, 0, 0], [6, 5, 4, 0], [3, 2, 1, 0]], dtype=torch.float)
X0_BATCH_3 = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 0, 1]], dtype=torch.float)
X1_BATCH_3 = torch.tensor([[9, 8, 7], [0, 0, 0], [6, 5, 4], [3, 2, 1]], dtype=torch.float)


class BasicRNN(nn.Module):
    """The tutorial's two-step RNN (SingleRNN is the same with n_neurons=1): Y1 = tanh(Y0 Wy + X1 Wx + b)."""

    def __init__(self, n_inputs: int, n_neurons: int) -> None:
        super().__init__()
        self.Wx = torch.randn(n_inputs, n_neurons)
        self.Wy = torch.randn(n_neurons, n_neurons)
        self.b = torch.zeros(1, n_neurons)

    def forward(self, X0, X1):
        self.Y0 = torch.tanh(torch.mm(X0, self.Wx) + self.b)
        self.Y1 = torch.tanh(torch.mm(self.Y0, self.Wy) + torch.mm(X1, self.Wx) + self.b)
        return self.Y0, self.Y1


class CleanBasicRNN(nn.Module):
    """The tutorial's loop over nn.RNNCell, time-major input, random initial state."""

    def __init__(self, batch_size: int, n_inputs: int, n_neurons: int) -> None:
        super().__init__()
        self.rnn = nn.RNNCell(n_inputs, n_neurons)
        self.hx = torch.randn(batch_size, n_neurons)

    def forward(self, X):
        output = []
        for i in range(2):
            self.hx = self.rnn(X[i], self.hx)
            output.append(self.hx)
        return output, self.hx


class MyRNN(nn.Module):
    """The tutorial's RNN from two nn.Linear layers, zero initial state."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size)

    def calulate_ht(self, x, prev):
        return torch.tanh(torch.add(self.ih(x), self.hh(prev)))

    def forward(self, x):
        batch_sz, seq_sz, _ = x.size()
        prev = torch.zeros(batch_sz, self.hidden_size)
        hidden_seq = []
        for i in range(seq_sz):
            prev = self.calulate_ht(x[:, i, :], prev)
            hidden_seq.append(prev)
        hn = hidden_seq[-1].view(1, batch_sz, -1)
        output = torch.stack(hidden_seq, dim=1).view(batch_sz, seq_sz, -1)
        return output, hn


def _rnn_with(w_ih, w_hh, b_ih, b_hh) -> nn.RNN:
    rnn = nn.RNN(w_ih.shape[1], w_ih.shape[0], batch_first=True)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh), ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)):
            getattr(rnn, name).copy_(value)
    return rnn


@pytest.mark.parametrize(
    ("n_inputs", "n_neurons", "x0", "x1"),
    [(4, 1, X0_BATCH_4, X1_BATCH_4), (3, 5, X0_BATCH_3, X1_BATCH_3)],
    ids=["SingleRNN", "BasicRNN"],
)
@pytest.mark.parametrize("variant", ["native", "scratch_loop"])
def test_two_step_rnn(n_inputs, n_neurons, x0, x1, variant):
    torch.manual_seed(0)
    model = BasicRNN(n_inputs, n_neurons)
    y0, y1 = model(x0, x1)
    assert y0.shape == y1.shape == (4, n_neurons)
    # Wx is (inputs, neurons): nn.RNN stores the transpose; the tutorial has one bias, nn.RNN two.
    reference = _rnn_with(model.Wx.T, model.Wy.T, model.b[0], torch.zeros(n_neurons))
    rnn = registry.get(f"rnn_tanh.{variant}").build(reference, "cpu", torch.float32)
    output, h_n = rnn(torch.stack([x0, x1], 1), torch.zeros(1, 4, n_neurons))
    torch.testing.assert_close(output[:, 0], y0)
    torch.testing.assert_close(output[:, 1], y1)
    torch.testing.assert_close(h_n[0], y1)


@pytest.mark.parametrize("variant", ["native", "cell_loop"])
def test_clean_basic_rnn_over_rnn_cell(variant):
    torch.manual_seed(0)
    model = CleanBasicRNN(4, 3, 5)
    h_start = model.hx.clone()
    x_batch = torch.stack([X0_BATCH_3, X1_BATCH_3])  # time-major (2, 4, 3), as in the tutorial
    with torch.no_grad():
        outputs, final = model(x_batch)
    cell = model.rnn
    reference = _rnn_with(cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    rnn = registry.get(f"rnn_tanh.{variant}").build(reference, "cpu", torch.float32)
    output, h_n = rnn(x_batch.transpose(0, 1), h_start.unsqueeze(0))
    torch.testing.assert_close(output.transpose(0, 1), torch.stack(outputs))
    torch.testing.assert_close(h_n[0], final)


@pytest.mark.parametrize("variant", ["native", "premul_loop"])
def test_my_rnn_matches_nn_rnn_output_and_final_state(variant):
    torch.manual_seed(0)
    model = MyRNN(10, 20)
    x = torch.randn(3, 5, 10)
    expected_output, expected_hn = model(x)
    reference = _rnn_with(model.ih.weight, model.hh.weight, model.ih.bias, model.hh.bias)
    rnn = registry.get(f"rnn_tanh.{variant}").build(reference, "cpu", torch.float32)
    output, h_n = rnn(x, torch.zeros(1, 3, 20))
    torch.testing.assert_close(output, expected_output)
    torch.testing.assert_close(h_n, expected_hn)


@pytest.mark.parametrize("family", ["rnn_tanh", "lstm", "gru"])
def test_last_output_is_the_final_hidden_state(family):
    """The tutorial's check on nn.RNN(16, 64, batch_first=True): output[:, -1] == hidden, for every loop."""
    reference = make_reference(family, 16, 64, dtype=torch.float32)
    x, state = make_inputs(reference, 8, 10, dtype=torch.float32)
    for variant in ("scratch_loop", "premul_loop", "fused_loop"):
        output, final = registry.get(f"{family}.{variant}").build(reference, "cpu", torch.float32)(x, state)
        h_n = final[0] if isinstance(final, tuple) else final
        assert output.shape == (8, 10, 64)
        torch.testing.assert_close(output[:, 9], h_n[0])
