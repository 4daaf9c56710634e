"""`rnnbench history`'s work: the measurements of a results root (bench.results.query), their series and
change points (bench.analysis.history), written as a page, a Markdown summary and a JSON document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.analysis import history
from bench.analysis.history import Change
from bench.errors import UsageError
from bench.render import history as page
from bench.results import query

COLUMNS = [
    "case_id", "key", "family", "impl", "mode", "status", "median_s", "iqr_s", "ci_low_s", "ci_high_s",
    "run_id", "git_commit", "git_commit_time", "run_started_at", "run_host", "torch", "python",
]  # fmt: skip


@dataclass(frozen=True)
class HistoryRequest:
    root: str
    out: Path
    impl: tuple[str, ...] = ()
    where: str | None = None
    markdown: str | None = None
    json: str | None = None
    alpha: float = 0.01
    min_step: float = 0.05
    permutations: int = 499


@dataclass(frozen=True)
class HistoryResult:
    summary: dict
    changes: list[Change]
    change_rows: list[dict]
    markdown: str
    page: Path
    points: int


def load_points(root: str, impl: tuple[str, ...], where: str | None) -> pd.DataFrame:
    """The series points of every case under `root` (bench.analysis.history.series)."""
    con = query.connect(root)
    condition, parameters = query.impl_filter(impl)
    condition = f"{condition} AND ({where})" if where else condition
    rows = query.sql(con, f"SELECT {', '.join(COLUMNS)} FROM measurements WHERE {condition}", parameters)
    if impl and not len(rows):
        raise UsageError(f"--impl {' '.join(impl)} matches no case under {root}")
    return history.series(rows)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_history(request: HistoryRequest) -> HistoryResult:
    points = load_points(request.root, request.impl, request.where)
    options = {"min_step": request.min_step, "alpha": request.alpha, "permutations": request.permutations}
    found = history.changes(points, **options)
    summary, noisy = history.summary(points, found), history.noisy_runs(points)
    drawn = page.figures(points, found) if len(points) else []
    families = points.groupby(["family", "mode"]).ngroups if len(points) else 0
    context = {
        "root": request.root, "summary": summary, "changes": page.change_rows(found), "figures": drawn,
        "hidden_figures": families - len(drawn), "noisy": noisy.to_dict("records"), "alpha": request.alpha,
        "min_step_pct": f"{request.min_step:.0%}", "noisy_pct": f"{history.NOISY_RELATIVE_IQR:.0%}",
    }  # fmt: skip
    try:
        path = page.write_page(request.out, context)
    except OSError as exc:
        raise UsageError(f"cannot write the page under {request.out}: {exc.strerror or exc}") from None
    markdown = page.markdown(summary, found, request.root)
    if request.markdown:
        _write(request.markdown, markdown)
    if request.json:
        document = {"summary": summary, "changes": [c.as_dict() for c in found], "noisy": noisy.to_dict("records")}
        _write(request.json, json.dumps(document, indent=2, default=str) + "\n")
    return HistoryResult(summary, found, context["changes"], markdown, path, len(points))
