"""Streaming mode: one step per call, each step timed on its own, the tail recorded."""

import dataclasses
import time

import numpy as np
import pytest
import torch

from bench.plan.cases import Case, expand
from bench.plan.spec import Grid, SweepSpec, Timing
from bench.worker.measure import measure_case
from bench.worker.streaming import Stepwise, Stream, step_percentiles, time_steps
from implementations import registry
from implementations.families import make_inputs, make_reference

TIMING = Timing(min_time_s=0.01, budget_s=0.05, warmup_calls=1, memory=False, streaming_steps=300)


def _case(impl: str, family: str = "lstm", batch: int = 3, bidirectional: bool = False) -> Case:
    return Case(f"{family}.{impl}", family, impl, "cpu", "float32", "streaming", batch, 5, 6, 7, 2, bidirectional)


@pytest.mark.parametrize("impl", ["native", "premul_loop"])
@pytest.mark.parametrize("family", ["lstm", "gru"])
def test_a_streaming_row_has_one_sample_per_step_and_ordered_percentiles(impl, family):
    row = measure_case(_case(impl, family), TIMING, threads=1)
    assert row["status"] == "ok", row.get("error")
    assert row["n_samples"] == len(row["samples_s"]) == TIMING.streaming_steps
    assert row["calls_per_sample"] == 1
    assert row["step_p50_s"] <= row["step_p90_s"] <= row["step_p99_s"] <= row["step_p999_s"] <= row["step_max_s"]
    assert row["step_max_s"] == max(row["samples_s"])
    assert row["correct"] is True  # the step-by-step outputs and final state match the reference
    assert row["tokens"] == 3 and row["tokens_per_s"] == pytest.approx(3 / row["median_s"])


def test_percentiles_are_numpy_s_and_max_is_the_slowest_step():
    samples = list(np.random.default_rng(0).lognormal(size=2000))
    found = step_percentiles(samples)
    assert found["step_p99_s"] == pytest.approx(np.percentile(samples, 99))
    assert found["step_max_s"] == max(samples)
    with pytest.raises(ValueError):
        step_percentiles([])


def test_the_stream_carries_the_state_and_restarts_each_replay_from_h0():
    reference = make_reference("gru", 4, 5)
    x, h0 = make_inputs(reference, 2, 3)
    stream = Stream(reference, x, h0)
    with torch.no_grad():
        full, _ = reference(x, h0)
        for _ in range(3):
            stream.step()
        assert stream.t == 0 and stream.state is h0  # a replay starts from h0 again
        first = stream.step()
        assert torch.allclose(first, full[:, :1])
    assert len(time_steps(stream, 7)) == 7
    assert not stream.state.requires_grad  # timed under no_grad: no autograd graph grows step after step


def test_stepwise_is_the_whole_sequence_and_a_model_that_drops_the_state_fails():
    reference = make_reference("lstm", 4, 5)
    x, state = make_inputs(reference, 2, 6)
    with torch.no_grad():
        out, (h, c) = Stepwise(reference)(x, state)
        ref_out, (ref_h, _) = reference(x, state)
        assert torch.allclose(out, ref_out) and torch.allclose(h, ref_h)
        forgetful = Stepwise(lambda xt, s: reference(xt, state))  # restarts from h0 at every step
        assert not torch.allclose(forgetful(x, state)[0], ref_out)


def test_bidirectional_streaming_is_skipped_with_the_reason():
    spec = SweepSpec(grids=(Grid(impls=("lstm.native",), modes=("streaming",), bidirectional=(False, True)),))
    reasons = {case.bidirectional: reason for case, reason in expand(spec, registry.all())}
    assert reasons[False] is None
    assert "streaming is unidirectional" in reasons[True]


def test_a_cold_cache_flushes_before_every_step_outside_the_timed_region():
    reference = make_reference("lstm", 4, 5)
    x, state = make_inputs(reference, 2, 3)
    stream = Stream(registry.get("lstm.native").build(reference, "cpu", torch.float64), x, state)
    flushes = []

    def flush():  # far slower than a step: were it timed, every sample would be over 50 ms
        flushes.append(1)
        time.sleep(0.05)

    samples = time_steps(stream, 10, flush)
    assert len(flushes) == len(samples) == 10
    assert float(np.median(samples)) < 0.05


def test_a_cold_streaming_case_is_measured():
    row = measure_case(_case("native"), dataclasses.replace(TIMING, cache="cold", streaming_steps=50), threads=1)
    assert row["status"] == "ok", row.get("error")
    assert row["n_samples"] == 50 and row["step_p50_s"] <= row["step_p99_s"] <= row["step_max_s"]
