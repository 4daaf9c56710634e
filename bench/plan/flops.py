"""Analytic FLOP counts. Pure arithmetic: the matmuls of an RNN dominate, so only they are counted."""

from __future__ import annotations

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}


def rnn_flops(
    family: str,
    batch: int,
    seq_len: int,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    training: bool = False,
) -> int:
    """2*G*hidden*(input+hidden)*batch*seq_len per layer and direction; x3 for forward + backward.

    Layers after the first read the previous layer's output, of width hidden*directions.
    """
    gates = GATES[family]
    directions = 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else hidden_size * directions
        total += 2 * gates * hidden_size * (layer_input + hidden_size) * batch * seq_len * directions
    return total * 3 if training else total


def case_flops(case) -> int:
    return rnn_flops(
        case.family,
        case.batch,
        case.seq_len,
        case.input_size,
        case.hidden_size,
        case.num_layers,
        case.bidirectional,
        case.mode == "training",
    )
