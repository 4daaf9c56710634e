"""A case: one implementation at one shape, dtype, mode and device. The unit that is run and stored."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "tf32": torch.float32,  # float32 storage, TF32 tensor-core matmuls (CUDA only)
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
MODES = ("inference", "training")


@dataclass(frozen=True)
class Case:
    key: str
    family: str
    impl: str
    device: str
    dtype: str
    mode: str
    batch: int
    seq_len: int
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def case_id(self) -> str:
        direction = "bi" if self.bidirectional else "uni"
        return (
            f"{self.key}|{self.device}|{self.dtype}|{self.mode}|b{self.batch}|t{self.seq_len}"
            f"|i{self.input_size}|h{self.hidden_size}|l{self.num_layers}|{direction}"
        )

    @property
    def slug(self) -> str:
        """A file-name-safe form of case_id, for trace folders and the like."""
        return self.case_id.replace("|", "_")

    def identity(self) -> dict:
        return asdict(self)
