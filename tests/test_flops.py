from bench.plan.cases import Case
from bench.plan.flops import case_flops, rnn_flops


def test_single_layer_lstm_matches_formula():
    # 4 gates, each a (batch x (input+hidden)) @ ((input+hidden) x hidden) matmul per step: 2*m*n*k
    assert rnn_flops("lstm", batch=2, seq_len=3, input_size=5, hidden_size=7) == 2 * 4 * 7 * (5 + 7) * 2 * 3


def test_gates_per_family():
    base = dict(batch=1, seq_len=1, input_size=1, hidden_size=1)
    assert [rnn_flops(f, **base) for f in ("rnn_tanh", "rnn_relu", "gru", "lstm")] == [4, 4, 12, 16]


def test_stacked_bidirectional_layers_read_both_directions():
    flops = rnn_flops("rnn_tanh", batch=1, seq_len=1, input_size=3, hidden_size=2, num_layers=2, bidirectional=True)
    first = 2 * 2 * (3 + 2) * 2  # two directions over the input
    second = 2 * 2 * (4 + 2) * 2  # input of layer 2 is hidden*2
    assert flops == first + second


def test_training_is_three_times_forward():
    case = Case("gru.native", "gru", "native", "cpu", "float32", "training", 4, 8, 16, 32)
    assert case_flops(case) == 3 * rnn_flops("gru", 4, 8, 16, 32)
