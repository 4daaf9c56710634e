"""Where along seq_len another implementation starts to beat its family's baseline, at what memory cost; and how
the numeric error against the float64 reference grows with seq_len. Pure pandas on a run's measurements.

Made for the sequential-vs-parallel question (minGRU's loop against its log-space scan) but asked of every
family: a row per (setting, batch, hidden size, ..., implementation) measured at two or more sequence lengths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SETTING = ["family", "device", "dtype", "mode"]
FIXED_SHAPE = ["batch", "input_size", "hidden_size", "num_layers", "bidirectional"]
COLUMNS = [*SETTING, *FIXED_SHAPE, "impl", "baseline", "seq_lens", "crossover_seq_len", "verdict",
           "speedup_at_longest", "memory_ratio"]  # fmt: skip


def _usable(df: pd.DataFrame) -> pd.Series:
    wrong = df["correct"].eq(False).fillna(False).astype(bool) if "correct" in df else False
    return df["status"].eq("ok") & pd.to_numeric(df["median_s"], errors="coerce").gt(0) & ~wrong


def crossover_seq_len(seq_lens: list[int], faster: list[bool]) -> tuple[float, str]:
    """The shortest measured seq_len from which the implementation is faster at every longer one measured.

    (seq_len, "wins from T") ; (min T, "wins at every seq_len") ; (NaN, "never wins up to T") when it is not
    faster at the longest one.
    """
    order = np.argsort(seq_lens)
    lens, wins = [seq_lens[i] for i in order], [bool(faster[i]) for i in order]
    if not wins[-1]:
        return float("nan"), f"never wins up to T={lens[-1]}"
    start = len(wins) - 1
    while start > 0 and wins[start - 1]:
        start -= 1
    if start == 0:
        return float(lens[0]), f"wins at every seq_len (from T={lens[0]})"
    return float(lens[start]), f"wins from T={lens[start]}"


def _memory_ratio(points: pd.DataFrame, at: float) -> float:
    """Peak memory of the implementation over the baseline's, at the crossover (else at the longest seq_len)."""
    row = points[points["seq_len"].eq(at)] if np.isfinite(at) else points.tail(1)
    if row.empty:
        return float("nan")
    base, mine = pd.to_numeric(row["base_mem"], errors="coerce"), pd.to_numeric(row["mem"], errors="coerce")
    ratio = float(mine.iloc[0]) / float(base.iloc[0]) if float(base.iloc[0] or 0) > 0 else float("nan")
    return ratio


def crossover(df: pd.DataFrame) -> pd.DataFrame:
    """One row per implementation and fixed shape measured at >= 2 seq_lens together with its baseline.

    `df` needs the columns of the measurements plus "baseline" (the family's baseline variant, per row).
    """
    if df.empty or "baseline" not in df:
        return pd.DataFrame(columns=COLUMNS)
    ok = df[_usable(df)].copy()
    ok["median_s"] = pd.to_numeric(ok["median_s"], errors="coerce")
    ok["mem"] = pd.to_numeric(ok.get("peak_mem_bytes"), errors="coerce")
    base = ok[ok["impl"].eq(ok["baseline"])][[*SETTING, *FIXED_SHAPE, "seq_len", "median_s", "mem"]]
    base = base.drop_duplicates([*SETTING, *FIXED_SHAPE, "seq_len"]).rename(
        columns={"median_s": "base_s", "mem": "base_mem"}
    )
    others = ok[ok["impl"].ne(ok["baseline"])].merge(base, on=[*SETTING, *FIXED_SHAPE, "seq_len"])
    rows = []
    for group, points in others.groupby([*SETTING, *FIXED_SHAPE, "impl", "baseline"], sort=True, dropna=False):
        points = points.sort_values("seq_len").drop_duplicates("seq_len")
        if len(points) < 2:
            continue
        at, verdict = crossover_seq_len(points["seq_len"].tolist(), (points["median_s"] < points["base_s"]).tolist())
        longest = points.iloc[-1]
        rows.append({
            **dict(zip([*SETTING, *FIXED_SHAPE, "impl", "baseline"], group)),
            "seq_lens": ", ".join(str(int(t)) for t in points["seq_len"]),
            "crossover_seq_len": at,
            "verdict": verdict,
            "speedup_at_longest": float(longest["base_s"] / longest["median_s"]),
            "memory_ratio": _memory_ratio(points, at),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def drift(df: pd.DataFrame) -> pd.DataFrame:
    """The worst forward error against the float64 reference at each (family, device, dtype, impl, seq_len).

    Only families measured at >= 3 seq_lens with their errors recorded: a line needs points to be a trend.
    """
    columns = ["family", "device", "dtype", "impl", "seq_len", "rel_err"]
    if df.empty or "rel_err" not in df:
        return pd.DataFrame(columns=columns)
    rows = df[df["status"].eq("ok")].copy()
    rows["rel_err"] = pd.to_numeric(rows["rel_err"], errors="coerce")
    rows = rows[np.isfinite(rows["rel_err"])]
    worst = rows.groupby(columns[:-1], sort=True)["rel_err"].max().reset_index()
    spans = worst.groupby("family")["seq_len"].nunique()
    return worst[worst["family"].isin(spans[spans >= 3].index)].reset_index(drop=True)
