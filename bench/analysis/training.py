"""What a training run's curves say: time to the target loss, step-time medians and loss-curve parity. Pure pandas.

Parity: within a family, every implementation computes the same function from the same weights on the same data,
so its loss curve must be its family baseline's (`native` where it was trained) step for step, to the dtype's
tolerance (bench.plan.train_tasks.PARITY_TOLERANCES). Across families curves differ by design.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.analysis.stats import summarize
from bench.plan.train_tasks import PARITY_TOLERANCES
from bench.results.schema import TRAINING_COLUMNS

BASELINE_IMPL = "native"
CURVE_COLUMNS = list(TRAINING_COLUMNS)


def curve_frame(curves: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """training.parquet's table: one row per implementation and step, from each key's per-step lists."""
    parts = [
        pd.DataFrame({"key": key, "step": np.arange(len(curve["loss"])), **curve})
        for key, curve in curves.items()
        if len(curve.get("loss", []))
    ]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "key" else float) for c in CURVE_COLUMNS})
    return pd.concat(parts, ignore_index=True)[CURVE_COLUMNS]


def baselines(keys) -> dict[str, str]:
    """The baseline of each family among `keys`: `<family>.native` where present, else the first key."""
    chosen: dict[str, str] = {}
    for key in sorted(keys):
        family, impl = key.split(".", 1)
        if family not in chosen or impl == BASELINE_IMPL:
            chosen[family] = key
    return chosen


def relative_differences(loss: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """|loss - baseline| / |baseline| per step (absolute where the baseline is 0); inf where either is not finite
    or the curves differ in length."""
    if len(loss) != len(baseline):
        return np.array([math.inf])
    loss, baseline = np.asarray(loss, dtype=float), np.asarray(baseline, dtype=float)
    scale = np.where(baseline == 0, 1.0, np.abs(baseline))
    diff = np.abs(loss - baseline) / scale
    return np.where(np.isfinite(loss) & np.isfinite(baseline), diff, math.inf)


def parity(curves: pd.DataFrame, dtype: str) -> pd.DataFrame:
    """Per key: its baseline, the largest relative loss difference from it, the step of that, and the verdict."""
    tolerance = PARITY_TOLERANCES[dtype]
    by_key = {key: group.sort_values("step")["loss"].to_numpy() for key, group in curves.groupby("key")}
    chosen = baselines(by_key)
    rows = []
    for key, loss in by_key.items():
        baseline = chosen[key.split(".", 1)[0]]
        diff = relative_differences(loss, by_key[baseline])
        worst = int(np.argmax(diff))
        rows.append(
            {
                "key": key,
                "parity_baseline": baseline,
                "loss_curve_rel_diff": float(diff[worst]),
                "worst_step": worst,
                "parity_tolerance": tolerance,
                "correct": bool(diff[worst] <= tolerance),
            }
        )
    return pd.DataFrame(rows, columns=["key", "parity_baseline", "loss_curve_rel_diff", "worst_step",
                                       "parity_tolerance", "correct"])  # fmt: skip


def time_to_target(curve: pd.DataFrame, target_loss: float) -> tuple[int | None, float | None]:
    """(steps, seconds since the start) until the loss first reached `target_loss`; (None, None) if it never did."""
    reached = curve[curve["loss"] <= target_loss].sort_values("step")
    if reached.empty:
        return None, None
    first = reached.iloc[0]
    return int(first["step"]) + 1, float(first["wall_s"])


def step_statistics(curve: pd.DataFrame) -> dict:
    """Step-time statistics over the steady steps (the first, with compilation and warm-up, kept apart)."""
    curve = curve.sort_values("step")
    steady = curve.iloc[1:] if len(curve) > 1 else curve
    stats = summarize(steady["step_s"].tolist()).as_dict()
    return {
        **stats,
        "samples_s": steady["step_s"].tolist(),
        "first_call_s": float(curve["step_s"].iloc[0]),
        "forward_median_s": float(steady["forward_s"].median()),
        "backward_median_s": float(steady["backward_s"].median()),
        "optimizer_median_s": float(steady["optimizer_s"].median()),
        "final_loss": float(curve["loss"].iloc[-1]),
    }


def _parity_message(check: dict, dtype: str) -> str:
    return (
        f"loss curve {check['loss_curve_rel_diff']:.2e} off {check['parity_baseline']} (relative, at step "
        f"{check['worst_step']}), above the {dtype} parity tolerance {check['parity_tolerance']:.0e}"
    )


def finish_rows(rows: list[dict], curves: pd.DataFrame, dtype: str, target_loss: float) -> list[dict]:
    """The rows with their training figures and parity verdict; rows that did not train ok are left as they are."""
    ok = [r for r in rows if r.get("status") == "ok"]
    trained = curves[curves["key"].isin({r["key"] for r in ok})]
    checks = parity(trained, dtype).set_index("key").to_dict("index") if len(trained) else {}
    for row in ok:
        curve = trained[trained["key"] == row["key"]]
        row.update(step_statistics(curve), target_loss=target_loss)
        row["steps_to_target"], row["seconds_to_target"] = time_to_target(curve, target_loss)
        check = checks[row["key"]]
        row.update({k: check[k] for k in ("parity_baseline", "loss_curve_rel_diff", "correct")})
        if not check["correct"]:
            row["error"] = _parity_message(check, dtype)
    return rows


def target_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The time-to-target table of a run's training rows, fastest to the target first."""
    columns = ["key", "status", "final_loss", "steps_to_target", "seconds_to_target", "median_s",
               "peak_mem_bytes", "loss_curve_rel_diff", "parity_baseline", "correct"]  # fmt: skip
    if "task" not in frame:
        return pd.DataFrame(columns=columns)
    rows = frame[frame["task"].notna()].copy()
    for column in columns:
        if column not in rows:
            rows[column] = None
    rows["_never"] = rows["seconds_to_target"].isna()
    return rows.sort_values(["_never", "seconds_to_target", "key"])[columns].reset_index(drop=True)
