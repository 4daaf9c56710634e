"""A 'compiled' variant that checks it got an empty compile cache of its own, then leaves something in it."""

import copy
import os
from pathlib import Path

from implementations.registry import register


@register(key="lstm.compile_cache_probe", family="lstm")
def build_probe(reference, device, dtype):
    """nn.LSTM, built only where TORCHINDUCTOR_CACHE_DIR names an empty folder (a fresh case's own)."""
    folder = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if not folder or (Path(folder).is_dir() and any(Path(folder).iterdir())):
        raise RuntimeError(f"compile cache not fresh: {folder!r}")
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "left-by-an-earlier-case").write_text("x")
    return copy.deepcopy(reference).to(device=device, dtype=dtype)
