"""What the two runs of a comparison must have in common, said as warnings; and whether they were paired."""

from __future__ import annotations

from bench.analysis.significance import least_equal_count

ENVIRONMENT_FIELDS = {
    "host": "machine",
    "cpu_model": "CPU model",
    "cpu_count": "CPU count",
    "threads": "threads",
    "gpus": "GPUs",
    "platform": "OS",
    "python": "Python",
    "torch": "torch",
    "cuda": "CUDA",
    "cudnn": "cuDNN",
    "onednn": "oneDNN",
}


def environment_warnings(base_run: dict, new_run: dict) -> list[str]:
    """What differs between the machines and libraries of the two runs, worded for the reader."""
    found = []
    base_env, new_env = base_run.get("environment") or {}, new_run.get("environment") or {}
    for key, label in ENVIRONMENT_FIELDS.items():
        if key in base_env and key in new_env and base_env[key] != new_env[key]:
            found.append(f"different {label}: {base_env[key]} (base) vs {new_env[key]} (new)")
    clocks = [((run.get("spec") or {}).get("timing") or {}).get("clock", "wall") for run in (base_run, new_run)]
    if clocks[0] != clocks[1]:
        found.append(f"different clocks: {clocks[0]} time (base) vs {clocks[1]} time (new): ratios mix two measures")
    for name, run in (("base", base_run), ("new", new_run)):
        status = run.get("status")
        if status and status != "complete":
            found.append(f"the {name} run is {status}: some cases may be missing")
        if (run.get("environment") or {}).get("git_dirty"):
            found.append(f"the {name} run was measured from a tree with uncommitted changes")
    return found


def paired_runs(base_run: dict, new_run: dict) -> bool:
    """Whether the two runs were measured side by side, round by round (bench/ci/paired.py)."""
    base, new = base_run.get("pairing") or {}, new_run.get("pairing") or {}
    same = bool(base.get("id")) and base.get("id") == new.get("id")
    return same and (base.get("side"), new.get("side")) == ("base", "new")


def samples_warning(decided: list[tuple[int, int]], alpha: float) -> str | None:
    """One warning for every case decided on raw samples; `decided` holds each such case's rounds per side."""
    if not decided:
        return None
    most = max(max(pair) for pair in decided)
    what = "one process per side" if most <= 1 else f"too few rounds per side (at most {most})"
    cases = f"{len(decided)} case{'s' if len(decided) > 1 else ''}"
    return (
        f"{cases} decided on raw samples of {what}, which understate run-to-run variation; measure with "
        f"--rounds {least_equal_count(alpha)} or more (rnnbench ci does) for a trustworthy gate"
    )
