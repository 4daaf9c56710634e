"""The report's notes on how its numbers were taken: cache state, short sampling, rows above the peak."""

from __future__ import annotations

import pandas as pd

CACHE_MEANINGS = {
    "warm": "each call finds what the previous one left in the caches, as in a training loop",
    "cold": "the last-level cache was flushed before each call, as a first request or a stream meets it",
}


def timing_messages(df: pd.DataFrame) -> list[str]:
    """What the reader must know about how the numbers were taken: cache state, short sampling, the peak."""
    ok = df[df["status"].eq("ok")] if "status" in df else df.iloc[0:0]
    out = [
        f"Timed with a {cache} cache: {CACHE_MEANINGS[cache]}."
        for cache in sorted(set(ok["cache"].dropna()) & set(CACHE_MEANINGS) if "cache" in ok else ())
    ]
    few = int(ok["ci_low_s"].isna().sum()) if "ci_low_s" in ok else 0
    if few:
        out.append(f"{few} case(s) have too few samples for a 95% interval of the median: none is shown for them.")
    short = int(ok["timing_note"].notna().sum()) if "timing_note" in ok else 0
    if short:
        out.append(f"{short} case(s) ran out of time before min_samples blocks (timing_note in the CSV says how far).")
    above = int(pd.to_numeric(ok["efficiency"], errors="coerce").gt(1).sum()) if "efficiency" in ok else 0
    if above:
        out.append(
            f"{above} case(s) run above the measured matmul peak (efficiency > 100 %): a measurement problem (the "
            "peak or the FLOP count), not a result. run.json's peak_sources has each library's figure."
        )
    return out
