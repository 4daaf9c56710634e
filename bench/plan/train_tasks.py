"""The training tasks of `rnnbench train`: what each one is, and its data, generated on the fly (no downloads).

Pure functions of (task, step, seed): every implementation trained on a task sees the very same batches.

- `sine_cosine`: the tutorials' example. One window of `seq_len` points of sin(t) over [k*pi, (k+1)*pi] per
  step k, to predict cos(t) at every point; batch 1, hidden 32, Adam lr 0.02, 60 steps, the hidden state
  carried (detached) from one window to the next.
- `adding`: the adding problem (Hochreiter and Schmidhuber 1997). Each time step is a (value, marker) pair,
  values uniform in [0, 1); exactly two markers, one in each half of the sequence; the target is the sum of
  the two marked values, read from the last output. Predicting the mean (1.0) scores 1/6 ~ 0.167.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Task:
    name: str
    input_size: int
    hidden_size: int
    batch: int
    seq_len: int  # the default window (sine_cosine) or sequence length (adding)
    min_seq_len: int
    max_seq_len: int
    lr: float  # Adam's learning rate
    steps: int  # default number of optimizer steps
    target_loss: float  # default --target-loss
    carry_state: bool  # the final state of one step starts the next (detached: truncated backpropagation)
    readout: str  # "sequence": the head reads every output; "last": only the last time step's
    description: str


TASKS: dict[str, Task] = {
    "sine_cosine": Task(
        "sine_cosine", 1, 32, 1, 10, 2, 10_000, 0.02, 60, 0.05, True, "sequence",
        "the tutorials' task: sin(t) -> cos(t), one window per step, state carried between windows",
    ),
    "adding": Task(
        "adding", 2, 32, 64, 50, 50, 1000, 0.01, 500, 0.01, False, "last",
        "the adding problem: sum of the two marked values of a (value, marker) sequence",
    ),
}  # fmt: skip

# Largest relative difference of a loss curve from its family's baseline, at any step, that still counts as the
# same computation (measured in docs/training.md: sine_cosine, 60 steps). float64: the eager and compiled loops
# stay within 1.2e-11 of native (rounding, ~1e-16 per op, compounded), so 1e-8 leaves ~800x room. float32: the
# loops' curves are up to 5.5e-3 off native's (rnn_relu, whose ReLU kinks amplify rounding; native's own float32
# curve is 3.7e-3 off its float64 one), the other families up to 8.3e-4, over seeds 0-3: 2e-2 leaves ~4x room,
# while a wrong equation changes the very first loss by far more.
PARITY_TOLERANCES: dict[str, float] = {"float64": 1e-8, "float32": 2e-2}


def sine_cosine_window(step: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x = sin(t), y = cos(t) at `seq_len` points over [step*pi, (step+1)*pi]; each (1, seq_len, 1), float64."""
    t = torch.linspace(step * math.pi, (step + 1) * math.pi, seq_len, dtype=torch.float64)
    return torch.sin(t)[None, :, None], torch.cos(t)[None, :, None]


def adding_batch(batch: int, seq_len: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x (batch, seq_len, 2) of (value, marker) pairs and y (batch, 1), the sum of the two marked values; float64."""
    values = torch.rand(batch, seq_len, generator=generator, dtype=torch.float64)
    half = seq_len // 2
    first = torch.randint(0, half, (batch,), generator=generator)
    second = torch.randint(half, seq_len, (batch,), generator=generator)
    markers = torch.zeros(batch, seq_len, dtype=torch.float64)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = (values * markers).sum(1, keepdim=True)
    return torch.stack((values, markers), -1), target


def batch_at(task: Task, step: int, seq_len: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The (x, y) of optimizer step `step`: a function of the task, the step and the seed alone."""
    if task.name == "sine_cosine":
        return sine_cosine_window(step, seq_len)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return adding_batch(task.batch, seq_len, generator)
