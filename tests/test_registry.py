"""The registry: every family gets every variant, CUDA-only ones say so, and bad globs/keys are clear errors."""

from __future__ import annotations

import pytest
import torch

from implementations import registry
from implementations.families import FAMILIES
from implementations.registry import RegistryError, register

CPU_VARIANTS = ("scratch_loop", "premul_loop", "cell_loop", "script_scratch", "script_premul", "fused_loop")
COMPILE_VARIANTS = ("compile", "compile_step")
CUDA_VARIANTS = ("cudagraph", "compile_reduce_overhead", "compile_step_reduce_overhead", "native_nocudnn")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_has_every_variant(family):
    keys = {impl.key for impl in registry.all()}
    for variant in (*CPU_VARIANTS, *COMPILE_VARIANTS, *CUDA_VARIANTS, "native"):
        assert f"{family}.{variant}" in keys


def test_builtins_support_layers_and_directions_or_say_why():
    for impl in registry.all():
        if impl.source != "builtin":
            continue
        device = impl.devices[0]
        mode = "training" if impl.training else "inference"  # inference-only ones declare it (training=False)
        dtype = torch.float32 if torch.float32 in impl.dtypes else impl.dtypes[0]
        assert impl.unavailable_reason or impl.supports(device, dtype, 3, True, mode), impl.key


@pytest.mark.parametrize("variant", CUDA_VARIANTS)
def test_cuda_only_variants_say_so_on_cpu(variant):
    impl = registry.get(f"lstm.{variant}")
    assert impl.devices == ("cuda",)
    assert impl.unsupported_reason("cpu") == f"lstm.{variant} runs on cuda, not cpu"


def test_match_globs_union_sorted():
    keys = [impl.key for impl in registry.match(["gru.premul_loop", "gru.*_loop", "rnn_relu.native"])]
    assert keys == sorted(set(keys))
    assert "gru.premul_loop" in keys and "gru.scratch_loop" in keys and "rnn_relu.native" in keys
    assert all(k.startswith("gru.") or k == "rnn_relu.native" for k in keys)


def test_match_unknown_glob_is_an_error_naming_it():
    with pytest.raises(RegistryError, match=r"no implementation matches 'lstm\.nonesuch\*'"):
        registry.match(["lstm.native", "lstm.nonesuch*"])


def test_get_unknown_key():
    with pytest.raises(RegistryError, match="unknown implementation 'gru.nope'"):
        registry.get("gru.nope")


def test_register_rejects_bad_family_and_key():
    with pytest.raises(RegistryError, match="unknown family 'transformer'"):
        register("transformer.x", "transformer")
    with pytest.raises(RegistryError, match="must look like 'lstm.<variant>'"):
        register("gru.x", "lstm")
    with pytest.raises(RegistryError, match="unknown device 'tpu'"):
        register("lstm.x", "lstm", devices=("tpu",))


def test_duplicate_key_is_refused():
    registry.all()
    with pytest.raises(RegistryError, match="duplicate implementation key 'lstm.premul_loop'"):
        register("lstm.premul_loop", "lstm")(lambda reference, device, dtype: reference)
