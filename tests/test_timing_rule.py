"""The timing rule (bench/worker/timing.py) on a fake clock and a fake GPU: block size, sample count, stops."""

import math
import time

import pytest

from bench.plan.spec import Timing
from bench.worker import timing
from bench.worker.measure import sample_fields


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def fake_call(clock: FakeClock, per_call_s):
    """A call taking `per_call_s` (a number, or a function of the call's index) on `clock`."""
    count = [0]

    def fn():
        clock.t += per_call_s(count[0]) if callable(per_call_s) else per_call_s
        count[0] += 1

    return fn, count


RULE = timing.StopRule(min_samples=10, min_time_s=0.0, budget_s=0.001, target_rel_iqr=0.05)


def test_calibration_picks_the_fewest_calls_reaching_the_target():
    clock = FakeClock()
    fn, _ = fake_call(clock, 0.3e-3)
    run = timing.cpu_block_timer(fn, clock, elapsed=clock)
    assert timing.calibrate(run, 1e-3, estimate_s=0.05e-3) == 4  # 4 x 0.3 ms >= 1 ms > 3 x 0.3 ms
    assert timing.calibrate(run, 1e-3, estimate_s=5e-3) == 4  # from a too-high estimate as well
    slow, _ = fake_call(clock, 7e-3)
    assert timing.calibrate(timing.cpu_block_timer(slow, clock, elapsed=clock), 1e-3, 7e-3) == 1


def test_budget_never_cuts_below_min_samples_and_blocks_keep_their_size():
    clock = FakeClock()
    fn, count = fake_call(clock, 0.3e-3)
    run = timing.cpu_block_timer(fn, clock, elapsed=clock)
    got = timing.sample_blocks(run, 4, RULE, now=clock)  # the budget is spent by the first block
    assert len(got.per_call_s) == RULE.min_samples and got.stopped_by == "budget"
    assert count[0] == 4 * RULE.min_samples  # every block had exactly the calibrated size
    assert got.per_call_s == pytest.approx([0.3e-3] * 10)  # each sample: block time / calls


def test_spread_stops_at_min_samples_noise_runs_to_the_budget():
    clock = FakeClock()
    steady, _ = fake_call(clock, 1e-3)
    rule = timing.StopRule(min_samples=10, min_time_s=0.0, budget_s=1.0, target_rel_iqr=0.05)
    got = timing.sample_blocks(timing.cpu_block_timer(steady, clock, elapsed=clock), 1, rule, now=clock)
    assert (len(got.per_call_s), got.stopped_by) == (10, "spread")
    noisy, _ = fake_call(clock, lambda i: 1e-3 * (1 + i % 3))  # IQR/median stays near 1
    got = timing.sample_blocks(timing.cpu_block_timer(noisy, clock, elapsed=clock), 1, rule, now=clock)
    assert got.stopped_by == "budget" and sum(got.per_call_s) >= rule.budget_s > sum(got.per_call_s[:-1])


def test_deadline_stops_below_min_samples_and_the_row_says_so():
    clock = FakeClock()
    fn, _ = fake_call(clock, 0.1)
    rule = timing.StopRule(min_samples=10, min_time_s=0.0, budget_s=0.001, target_rel_iqr=0.05, deadline=0.35)
    got = timing.sample_blocks(timing.cpu_block_timer(fn, clock, elapsed=clock), 1, rule, now=clock)
    assert (len(got.per_call_s), got.stopped_by) == (4, "deadline")
    fields = sample_fields(got, Timing(min_samples=10))
    assert fields["n_samples"] == 4 and "4 of min_samples 10" in fields["timing_note"]
    assert math.isnan(fields["ci_low_s"]) and fields["ci_note"].startswith("too few samples")
    complete = sample_fields(timing.Samples([1e-3] * 10, [1e-3] * 10, 1, "spread"), Timing(min_samples=10))
    assert "timing_note" not in complete and complete["ci_note"] is None


def test_cold_cache_flush_is_outside_the_timed_region():
    clock = FakeClock()
    fn, _ = fake_call(clock, 1e-3)

    def flush():
        clock.t += 5e-3

    block = timing.cpu_block_timer(fn, clock, flush=flush, elapsed=clock)(3)
    assert block.clock_s == pytest.approx(3e-3) and block.elapsed_s == pytest.approx(3e-3)
    assert block.spent_s == pytest.approx(18e-3)  # the budget counts what the flushes cost too


class FakeGPU:
    """A stream on which calls queue work; events read its time when reached; synchronize waits for it."""

    def __init__(self):
        self.host_s, self.gpu_s, self.syncs = 0.0, 0.0, 0

    def launch(self, seconds: float):
        self.host_s += 1e-6  # a launch costs the host a microsecond
        self.gpu_s = max(self.gpu_s, self.host_s) + seconds

    def event(self, enable_timing=False):
        gpu = self

        class Event:
            def record(self):
                self.at = max(gpu.gpu_s, gpu.host_s)

            def synchronize(self):
                gpu.syncs += 1
                gpu.host_s = max(gpu.host_s, gpu.gpu_s) + 1e-3  # a synchronize costs a millisecond of host time

            def elapsed_time(self, end):
                return (end.at - self.at) * 1e3

        return Event()


def test_cuda_blocks_are_timed_with_events_synchronized_once_per_block():
    gpu = FakeGPU()
    run = timing.cuda_block_timer(lambda: gpu.launch(50e-6), event=gpu.event)
    calls = timing.calibrate(run, timing.BLOCK_TARGET_S["cuda"], estimate_s=1e-3)  # a synced warm-up overestimates
    assert calls == 4  # 4 x 50 us of GPU time reach 0.2 ms
    syncs = gpu.syncs
    rule = timing.StopRule(min_samples=10, min_time_s=0.0, budget_s=0.1, target_rel_iqr=0.05, deadline=math.inf)
    got = timing.sample_blocks(run, calls, rule)
    assert gpu.syncs - syncs == len(got.per_call_s) >= 10  # one synchronize per block
    assert got.per_call_s == pytest.approx([50e-6] * len(got.per_call_s), rel=0.01)  # no synchronize cost (1 ms)


def test_cpu_clock_does_not_count_time_given_to_others():
    """Sleeping stands in for being descheduled: wall time sees it, the CPU clock does not."""

    def work_then_wait():
        end = time.thread_time() + 0.002  # 2 ms on the CPU...
        while time.thread_time() < end:
            pass
        time.sleep(0.008)  # ...then 8 ms off it

    rule = timing.StopRule(min_samples=3, min_time_s=0.0, budget_s=0.02, target_rel_iqr=0.5)
    wall = timing.measure(work_then_wait, "cpu", "wall", "warm", rule, 0.01)
    cpu = timing.measure(work_then_wait, "cpu", "cpu", "warm", rule, 0.01)
    assert min(wall.per_call_s) >= 0.0095
    assert 0.0015 < sorted(cpu.per_call_s)[len(cpu.per_call_s) // 2] < 0.005
    assert min(cpu.elapsed_per_call_s) >= 0.0095  # the elapsed time is kept beside it, for FLOP rates


def test_a_real_cold_block_flushes_and_still_times_only_the_calls():
    import torch

    x = torch.randn(64, 64)
    warm = timing.block_timer(lambda: x @ x, "cpu", "wall", "warm")(4)
    cold = timing.block_timer(lambda: x @ x, "cpu", "wall", "cold")(4)
    assert cold.spent_s > cold.clock_s > 0 and warm.cost_s is None  # flushes cost time but are not timed
    assert timing.last_level_cache_bytes() >= 2**20
