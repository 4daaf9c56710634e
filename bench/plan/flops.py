"""Analytic FLOP counts, from each family's own formula (`Family.flops`, one forward); x3 for training."""

from __future__ import annotations

from implementations.families import get_family


def rnn_flops(
    family: str,
    batch: int,
    seq_len: int,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    training: bool = False,
) -> float:
    """The family's count of one forward (the matmuls, for the built-in families); x3 for forward + backward."""
    forward = get_family(family).flops(batch, seq_len, input_size, hidden_size, num_layers, bidirectional)
    return forward * 3 if training else forward


def case_flops(case) -> float:
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


def throughput_fields(flops: float, elapsed_median_s: float, peak_flops_per_s: float | None) -> dict:
    """FLOP rate from elapsed time (never CPU time) and its share of the peak; above 1 is flagged."""
    fields = {"achieved_flops_per_s": flops / elapsed_median_s}
    if peak_flops_per_s:
        efficiency = fields["achieved_flops_per_s"] / peak_flops_per_s
        fields.update(peak_flops_per_s=peak_flops_per_s, efficiency=efficiency, above_peak=bool(efficiency > 1))
    return fields
