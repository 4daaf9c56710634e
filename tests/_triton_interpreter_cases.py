"""Run with TRITON_INTERPRET=1 (tests/test_triton_persistent.py does): the step kernel at every case, one JSON line
each. Triton reads TRITON_INTERPRET when the kernel module is first imported, hence a process of its own."""

from __future__ import annotations

import json

from bench.plan.cases import DTYPES
from bench.plan.verify_shapes import SHAPES
from bench.worker.correctness import check_model
from implementations.families import make_reference
from implementations.triton_persistent import TritonPersistentRNN

# every family at every verify shape in float32; the short formats and the training fallback at one shape each
CASES = [(family, shape, "float32", False) for family in ("lstm", "gru", "rnn_tanh") for shape in SHAPES]
CASES += [("lstm", SHAPES[2], "bfloat16", False), ("lstm", SHAPES[2], "float16", False)]
CASES += [("gru", SHAPES[3], "float32", True)]


def main() -> None:
    for family, shape, dtype, gradients in CASES:
        reference = make_reference(family, shape.input_size, shape.hidden_size, shape.num_layers, shape.bidirectional)
        model = TritonPersistentRNN(reference, "cpu", DTYPES[dtype], persistent=False)
        result = check_model(model, reference, batch=shape.batch, seq_len=shape.seq_len, device="cpu", dtype=dtype,
                             gradients=gradients)  # fmt: skip
        print(json.dumps(dict(case=f"{family} {shape.label} {dtype} grad={gradients}", correct=result.correct,
                              rel_err=result.rel_err, grad_rel_err=result.grad_rel_err, message=result.message)))


if __name__ == "__main__":
    main()
