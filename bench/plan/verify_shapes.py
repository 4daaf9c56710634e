"""The shapes `rnnbench verify` (and the implementation tests) check every implementation at."""

from __future__ import annotations

from dataclasses import dataclass

from bench.results.vocabulary import shape_label


@dataclass(frozen=True)
class Shape:
    batch: int
    seq_len: int
    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool

    @property
    def label(self) -> str:
        return shape_label(self)


# num_layers {1, 2} x bidirectional {off, on}, with the odd sizes spread over them: batch 1, seq_len 1, hidden
# sizes that are not multiples of 8. Small, so the check is about equations, not speed.
SHAPES = (
    Shape(batch=1, seq_len=5, input_size=3, hidden_size=7, num_layers=1, bidirectional=False),
    Shape(batch=4, seq_len=1, input_size=6, hidden_size=10, num_layers=1, bidirectional=True),
    Shape(batch=3, seq_len=4, input_size=5, hidden_size=13, num_layers=2, bidirectional=False),
    Shape(batch=1, seq_len=2, input_size=4, hidden_size=5, num_layers=2, bidirectional=True),
)
# torch.compile variants compile afresh for every shape (~5-30 s each on a small CPU), so by default they are
# checked at the one shape that exercises everything at once: 2 layers, both directions, batch 1, odd hidden.
COMPILE_SHAPE = SHAPES[-1]
