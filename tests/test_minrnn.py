"""minGRU and minLSTM: the reference follows the paper's equations, and every implementation computes it."""

from __future__ import annotations

import pytest
import torch

from bench.worker.correctness import check
from implementations import families, registry
from implementations._minrnn import g
from implementations.minrnn import chunked_layer, scan_layer

FAMILIES = ("mingru", "minlstm")
EAGER = ("loop", "scan", "chunked_scan", "associative_scan")
# 1-2 layers x uni/bi, odd sizes, batch 1 and seq_len 1 among them
SHAPES = [
    dict(batch=1, seq_len=5, input_size=3, hidden_size=7, num_layers=1, bidirectional=False),
    dict(batch=4, seq_len=1, input_size=6, hidden_size=10, num_layers=1, bidirectional=True),
    dict(batch=3, seq_len=9, input_size=5, hidden_size=13, num_layers=2, bidirectional=False),
    dict(batch=2, seq_len=6, input_size=4, hidden_size=5, num_layers=2, bidirectional=True),
]


def _one_step(family: str, x: torch.Tensor, h0: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The paper's equations, written out for one step, as the issue states them."""
    pre = x @ w.t() + b
    if family == "mingru":
        a_z, a_h = pre.chunk(2, -1)
        z = torch.sigmoid(a_z)
        return (1 - z) * h0 + z * g(a_h)
    a_f, a_i, a_h = pre.chunk(3, -1)
    f, i = torch.sigmoid(a_f), torch.sigmoid(a_i)
    return f / (f + i) * h0 + i / (f + i) * g(a_h)


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_follows_the_equations_and_stacks_like_nn_gru(family):
    reference = families.make_reference(family, 4, 6, 2, True, seed=3)
    names = [name for name, _ in reference.named_parameters()]
    assert names == ["weight_ih_l0", "bias_ih_l0", "weight_ih_l0_reverse", "bias_ih_l0_reverse",
                     "weight_ih_l1", "bias_ih_l1", "weight_ih_l1_reverse", "bias_ih_l1_reverse"]  # fmt: skip
    gates = {"mingru": 2, "minlstm": 3}[family]
    assert reference.weight_ih_l1.shape == (gates * 6, 12)  # layer 1 reads both directions of layer 0
    x, h0 = families.make_inputs(reference, 2, 1)
    with torch.no_grad():
        output, h_n = reference(x, h0)
        forward = _one_step(family, x[:, 0], h0[0], reference.weight_ih_l0, reference.bias_ih_l0)
        backward = _one_step(family, x[:, 0], h0[1], reference.weight_ih_l0_reverse, reference.bias_ih_l0_reverse)
        top = _one_step(family, torch.cat((forward, backward), -1), h0[2], reference.weight_ih_l1, reference.bias_ih_l1)
    torch.testing.assert_close(output[:, 0, :6], top)
    torch.testing.assert_close(h_n[0], forward)
    torch.testing.assert_close(h_n[1], backward)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("variant", EAGER)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_implementation_matches_the_reference_with_gradients(family, variant, dtype):
    impl = registry.get(f"{family}.{variant}")
    for seed, shape in enumerate(SHAPES):
        result = check(impl, dtype=dtype, gradients=True, seed=seed, **shape)
        assert result.correct, (shape, result.message)
        assert result.grad_rel_err is not None and result.grad_rel_err < result.tolerance


@pytest.mark.parametrize("family", FAMILIES)
def test_bfloat16_within_the_familys_own_tolerance(family):
    result = check(registry.get(f"{family}.scan"), dtype="bfloat16", gradients=True, **SHAPES[-1])
    assert result.tolerance == registry.get_family(family).tolerances["bfloat16"] and result.correct, result.message


@pytest.mark.parametrize("family", FAMILIES)
def test_implementations_agree_with_each_other_across_chunk_boundaries(family):
    """seq_len 23 with chunks of 4: five carries of log h between chunks, both directions."""
    reference = families.make_reference(family, 3, 5, 1, True, seed=1)
    x, h0 = families.make_inputs(reference, 2, 23)
    w, b = reference.weight_ih_l0, reference.bias_ih_l0
    with torch.no_grad():
        for reverse in (False, True):
            scanned = scan_layer(reference.kind, x, w, b, h0[0], reverse)
            chunked = chunked_layer(4, reference.kind, x, w, b, h0[0], reverse)
            for got, want in zip(chunked, scanned):
                torch.testing.assert_close(got, want, rtol=1e-12, atol=0)
        outputs = [registry.get(f"{family}.{v}").build(reference, "cpu", torch.float64)(x, h0)[0] for v in EAGER]
    for output in outputs[1:]:
        torch.testing.assert_close(output, outputs[0], rtol=1e-12, atol=1e-14)


def test_a_wrong_min_variant_fails_the_check(monkeypatch):
    """The check can fail: the scan fed a state 1% off the given one is caught."""
    impl = registry.get("mingru.scan")

    def wrong(reference, device, dtype):
        model = impl.build_fn(reference, device, dtype)
        forward = model.forward
        model.forward = lambda x, h0: forward(x, h0 * 1.01)
        return model

    result = check(registry.Implementation("mingru.wrong", "mingru", wrong), dtype="float32", **SHAPES[0])
    assert not result.correct and "x the float32 tolerance" in result.message


@pytest.mark.slow
def test_compiled_scan_matches_the_reference():
    """One family, one layer: each layer x direction compiles afresh (~30-60 s each on a small CPU); the compiled
    function is the same `scan_layer` for both families, and `rnnbench verify` checks both at 2 layers, bi."""
    result = check(registry.get("minlstm.compile_scan"), dtype="float32", gradients=True, **SHAPES[0])
    assert result.correct, result.message


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="associative_scan's pointwise mode needs a CUDA device")
@pytest.mark.parametrize("variant", ["scan", "chunked_scan", "associative_scan_pointwise", "loop"])
def test_cuda_variants_match_the_reference(variant):
    for family in FAMILIES:
        result = check(registry.get(f"{family}.{variant}"), device="cuda", dtype="float32", **SHAPES[-1])
        assert result.correct, result.message
