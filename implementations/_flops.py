"""FLOP formulas of the built-in families: pure arithmetic, one forward, only the matmuls counted."""

from __future__ import annotations


def _layer_inputs(input_size: int, hidden_size: int, num_layers: int, bidirectional: bool) -> list[int]:
    """Width each layer reads: the input, then the previous layer's output (hidden x directions)."""
    directions = 2 if bidirectional else 1
    return [input_size if layer == 0 else hidden_size * directions for layer in range(num_layers)]


def gated(
    gates: int, batch: int, seq_len: int, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool
) -> int:
    """nn.RNN/GRU/LSTM: 2*G*hidden*(input+hidden)*batch*seq_len per layer and direction (W_ih x and W_hh h)."""
    directions = 2 if bidirectional else 1
    widths = _layer_inputs(input_size, hidden_size, num_layers, bidirectional)
    return sum(2 * gates * hidden_size * (width + hidden_size) * batch * seq_len * directions for width in widths)


def input_only(
    gates: int, batch: int, seq_len: int, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool
) -> int:
    """minGRU/minLSTM: only W x (G*hidden rows) per step; the recurrence itself is element-wise."""
    directions = 2 if bidirectional else 1
    widths = _layer_inputs(input_size, hidden_size, num_layers, bidirectional)
    return sum(2 * gates * hidden_size * width * batch * seq_len * directions for width in widths)


def zero(*_shape) -> int:
    return 0
