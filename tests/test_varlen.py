"""Variable-length batches: every implementation that declares support matches the reference sequence by sequence."""

import functools

import pytest
import torch

from bench.plan.cases import Case, expand
from bench.plan.inputs import draw_lengths, parse_lengths
from bench.plan.spec import Grid, SweepSpec
from bench.worker.correctness_varlen import check_varlen
from implementations import registry
from implementations._loops import cell
from implementations._module import LoopRNN
from implementations._varlen import MaskedLoopRNN, step_mask
from implementations.families import make_reference
from implementations.minrnn import MinStack, chunked_layer, scan_layer

# (family, layers, bidirectional, lengths at seq_len 6): batch 1, odd batches, lengths 1 and seq_len in each
CONFIGS = [
    ("lstm", 1, False, [1]),
    ("gru", 2, True, [6, 1, 3, 6, 2]),
    ("rnn_tanh", 1, True, [2, 6, 1]),
]
SLOW_VARIANTS = ("compile", "compile_step")  # compiled per shape: one configuration is enough
# whole-loop compile of forward and backward takes about a minute here: forward only (its masked_forward is the
# eager masked loop's, whose gradients every configuration checks)
FORWARD_ONLY = ("compile",)
CLASSIC = ("lstm", "gru", "rnn_tanh", "rnn_relu")
VARIANTS = sorted({i.impl for i in registry.all() if i.variable_length and i.supports("cpu") and i.family in CLASSIC})
# minGRU/minLSTM: every CPU variant (the compiled scan once), the same layer/direction/length configurations
MIN_KEYS = sorted(
    i.key for i in registry.all() if i.variable_length and i.supports("cpu") and i.family.startswith("min")
)


def _params():
    for variant in VARIANTS:
        for index, config in enumerate(CONFIGS):
            if variant in SLOW_VARIANTS and index:
                continue
            marks = [pytest.mark.slow] if variant in SLOW_VARIANTS else []
            name = f"{variant}-{config[0]}-l{config[1]}-{'bi' if config[2] else 'uni'}"
            yield pytest.param(variant, *config, id=name, marks=marks)


def _min_params():
    for key in MIN_KEYS:
        for index, (_, layers, bidirectional, lengths) in enumerate(CONFIGS):
            if "compile" in key and index != 1:
                continue
            name = f"{key}-l{layers}-{'bi' if bidirectional else 'uni'}"
            marks = [pytest.mark.slow] if "compile" in key else []
            yield pytest.param(key, layers, bidirectional, lengths, id=name, marks=marks)


def _check(model, reference, lengths, gradients=True, dtype="float32"):
    return check_varlen(model, reference, lengths, seq_len=6, device="cpu", dtype=dtype, gradients=gradients)


def test_the_variable_length_implementations_are_the_ones_the_issue_names():
    assert {"native", "premul_loop", "scratch_loop", "script_premul", "script_scratch", "compile_step"} <= set(VARIANTS)
    assert "shrinking_loop" in VARIANTS


@pytest.mark.parametrize(("variant", "family", "layers", "bidirectional", "lengths"), list(_params()))
def test_each_sequence_matches_the_reference_run_on_it_alone(variant, family, layers, bidirectional, lengths):
    reference = make_reference(family, 5, 4, layers, bidirectional)
    model = registry.get(f"{family}.{variant}").build(reference, "cpu", torch.float32)
    gradients = variant not in FORWARD_ONLY
    result = _check(model, reference, lengths, gradients=gradients)
    assert result.correct, result.message
    assert not gradients or result.grad_rel_err < 1e-4


def test_the_min_families_take_variable_lengths_in_every_cpu_variant():
    variants = {key.split(".", 1)[1] for key in MIN_KEYS}
    assert {"loop", "scan", "chunked_scan", "compile_scan", "associative_scan"} <= variants


@pytest.mark.parametrize(("key", "layers", "bidirectional", "lengths"), list(_min_params()))
def test_min_families_match_the_reference_sequence_by_sequence(key, layers, bidirectional, lengths):
    reference = make_reference(registry.get(key).family, 5, 4, layers, bidirectional)
    model = registry.get(key).build(reference, "cpu", torch.float32)
    result = _check(model, reference, lengths)
    assert result.correct, result.message
    assert result.grad_rel_err < 1e-4


def test_the_chunked_scan_carries_a_frozen_state_across_chunks():
    """Chunks of 2 steps over seq_len 6: a sequence ending inside the first chunk keeps its state in the others."""
    reference = make_reference("minlstm", 5, 4, 1, True)
    model = MinStack(reference, "cpu", torch.float32, functools.partial(chunked_layer, 2))
    result = _check(model, reference, [1, 6, 3, 2])
    assert result.correct, result.message


def test_a_scan_that_lets_padding_into_the_state_fails():
    def leaky(kind, x, w, b, h0, reverse, mask=None):
        output, final = scan_layer(kind, x, w, b, h0, reverse)  # the mask ignored, the padded outputs zeroed
        return output * mask, final

    reference = make_reference("mingru", 5, 4)
    result = _check(MinStack(reference, "cpu", torch.float32, leaky), reference, [6, 2, 4])
    assert not result.correct
    assert result.worst in ("h_n", "output") or result.worst.startswith("grad")


def _leaky_layer(family, x, h, c, w_ih, w_hh, b_ih, b_hh, reverse: bool, premul: bool, mask):
    """Zeros the padded outputs but lets the padded steps update the state: the mistake the check must catch."""
    outputs = []
    steps = range(x.size(1) - 1, -1, -1) if reverse else range(x.size(1))
    for t in steps:
        h, c = cell(family, torch.mm(x[:, t], w_ih.t()) + b_ih, h, c, w_hh, b_hh)
        outputs.append(h.masked_fill(~mask[t], 0.0))
    if reverse:
        outputs = outputs[::-1]
    return torch.stack(outputs, 1), h, c


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_that_reaches_the_state_fails(bidirectional):
    reference = make_reference("lstm", 5, 4, 1, bidirectional)
    leaky = MaskedLoopRNN(reference, "cpu", torch.float32, premul=False, masked_fn=_leaky_layer)
    result = _check(leaky, reference, [6, 2, 4])
    assert not result.correct
    assert result.worst in ("h_n", "c_n", "output") or result.worst.startswith("grad")
    assert "tolerance" in result.message


def test_a_model_that_ignores_the_lengths_fails_on_its_padded_outputs():
    reference = make_reference("gru", 5, 4)
    plain = LoopRNN(reference, "cpu", torch.float32, premul=True)
    result = _check(lambda x, state, lengths: plain(x, state), reference, [6, 3], gradients=False)
    assert not result.correct


def test_with_every_sequence_full_the_check_is_the_plain_one():
    reference = make_reference("lstm", 5, 4)
    model = registry.get("lstm.shrinking_loop").build(reference, "cpu", torch.float32)
    assert _check(model, reference, [6, 6]).correct
    assert model(torch.zeros(2, 6, 5), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))[0].shape == (2, 6, 4)


def test_the_mask_is_true_exactly_at_real_steps():
    mask = step_mask(torch.tensor([1, 3]), torch.zeros(2, 3, 1))
    assert mask.shape == (3, 2, 1)
    assert mask[:, :, 0].t().tolist() == [[True, False, False], [True, True, True]]


def test_the_same_case_and_seed_draw_the_same_lengths_within_range():
    first = draw_lengths("uniform:0.3", 64, 20, seed=0)
    assert first == draw_lengths("uniform:0.3", 64, 20, seed=0)
    assert first != draw_lengths("uniform:0.3", 64, 20, seed=1)
    assert min(first) >= 6 and max(first) <= 20 and len(set(first)) > 5
    assert draw_lengths("fixed", 3, 20) == [20, 20, 20]
    assert draw_lengths("uniform:1", 3, 20) == [20, 20, 20]
    assert draw_lengths("uniform:0.01", 200, 5).count(1) > 0  # length 1 is reachable


@pytest.mark.parametrize("text", ["uniform:0", "uniform:1.5", "uniform:-1", "gaussian:0.3", "uniform:", "uniform:x"])
def test_bad_distributions_are_usage_errors(text):
    from bench.errors import UsageError

    with pytest.raises(UsageError):
        parse_lengths(text)


def test_an_implementation_without_support_is_skipped_with_the_reason():
    spec = SweepSpec(grids=(Grid(impls=("lstm.native", "lstm.fused_loop"), lengths=("fixed", "uniform:0.5")),))
    reasons = {(c.impl, c.length_dist, c.mode): r for c, r in expand(spec, registry.all())}
    assert reasons[("native", "uniform:0.5", "training")] is None
    assert reasons[("fused_loop", "fixed", "inference")] is None
    assert "does not take variable-length batches" in reasons[("fused_loop", "uniform:0.5", "inference")]


def test_the_case_id_names_the_distribution_only_when_lengths_vary():
    fixed = Case("lstm.native", "lstm", "native", "cpu", "float32", "inference", 2, 4, 3, 3)
    assert "len=" not in fixed.case_id
    varied = Case("lstm.native", "lstm", "native", "cpu", "float32", "inference", 2, 4, 3, 3, length_dist="uniform:0.5")
    assert varied.case_id.endswith("|len=uniform:0.5")


LEAKY_PLUGIN = """
import torch
from implementations._loops import cell
from implementations._varlen import MaskedLoopRNN
from implementations.registry import register


def leaky(family, x, h, c, w_ih, w_hh, b_ih, b_hh, reverse: bool, premul: bool, mask):
    outputs = []
    for t in (range(x.size(1) - 1, -1, -1) if reverse else range(x.size(1))):
        h, c = cell(family, torch.mm(x[:, t], w_ih.t()) + b_ih, h, c, w_hh, b_hh)
        outputs.append(h.masked_fill(~mask[t], 0.0))
    return torch.stack(outputs[::-1] if reverse else outputs, 1), h, c


@register("gru.leaky", "gru", variable_length=True)
def build(reference, device, dtype):
    return MaskedLoopRNN(reference, device, dtype, premul=False, masked_fn=leaky)
"""


def test_verify_lengths_checks_the_supporting_implementations_and_catches_a_leak(tmp_path, capsys):
    import json

    from bench.cli import main

    plugin = tmp_path / "leaky.py"
    plugin.write_text(LEAKY_PLUGIN)
    out = tmp_path / "v.json"
    argv = ["verify", "--plugin", str(plugin), "--lengths", "--impl", "gru.premul_loop", "--impl", "gru.fused_loop"]
    argv += ["--impl", "gru.leaky"]
    assert main([*argv, "--json", str(out)]) == 1  # the leak fails verify
    rows = [r for r in json.loads(out.read_text()) if "lengths" in r]
    by_impl = {impl: [r for r in rows if r["impl"] == impl] for impl in ("premul_loop", "fused_loop", "leaky")}
    assert len(by_impl["premul_loop"]) == 4 and all(r["status"] == "pass" for r in by_impl["premul_loop"])
    assert all(r["status"] == "skipped" and "fixed lengths only" in r["message"] for r in by_impl["fused_loop"])
    leaks = [r for r in by_impl["leaky"] if any(n < r["seq_len"] for n in r["lengths"])]
    assert leaks and all(r["status"] == "fail" for r in leaks)
    assert "len 4,3,1" in capsys.readouterr().out
