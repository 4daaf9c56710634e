"""The HTML report of a run: one self-contained page (plots embedded, no network) per run directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from bench.analysis import crossover
from bench.errors import UsageError
from bench.render.report import context, crossings, data, header, html, table

__all__ = ["build_report", "default_out_dir"]
TOP_OPS_CASES = 24  # profiled cases shown in full; the rest are in top_ops.parquet


def default_out_dir(run_dir: str | Path) -> Path:
    """reports/<run_id>/ beside results/<run_id>/ (else under ./reports), so relative links reach the run."""
    run_dir = Path(run_dir).resolve()
    if run_dir.parent.name == "results":
        return run_dir.parent.parent / "reports" / run_dir.name
    return Path("reports") / run_dir.name


def _descriptions(meta: dict) -> dict[str, str]:
    """What each implementation is, as the run recorded it at sweep time (run.json "implementations").

    Read from the run, not the registry, so a run measured with a plugin renders anywhere.
    """
    recorded = meta.get("implementations") or {}
    return {key: str(info.get("description") or "") for key, info in recorded.items() if isinstance(info, dict)}


def build_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write <out_dir>/index.html (and a copy of the CSV) for the run in `run_dir`; return the page's path."""
    run = data.load_run(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(run.run_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create report folder {out_dir}: {exc.strerror or exc}") from exc
    page = _page(run, out_dir, _copy_csv(run, out_dir))
    path = out_dir / "index.html"
    try:
        _write_atomic(path, html.render(page))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def _page(run: data.Run, out_dir: Path, copied_csv: str | None) -> dict:
    """Everything the template shows, section by section, as plain values."""
    from bench.render.report import counts, figure, plots, training  # matplotlib is loaded only when a report is built

    df = data.prepare(run.measurements, run.meta.get("peak_flops_per_s"), run.meta.get("baselines"))
    verdict = data.verdict(df)
    colors = figure.palette(df["impl"].astype(str).unique().tolist())
    columns = counts.table_columns(df, table.TABLE_COLUMNS)  # instruction counts, where the run has them
    return {
        "header": header.header(run.meta, df),
        "messages": counts.messages(df, context.messages(df)),
        "counted": counts.only_counted(df),
        "incorrect": context.incorrect_rows(df),
        "failed_counts": context.failed_counts(df),
        "not_run": data.not_run(df)[["status", "key", "device", "dtype", "mode", "shape", "error"]]
        .fillna("—")
        .to_dict("records"),
        "summary": context.summary_rows(data.verdict_summary(verdict)),
        "verdict": context.verdict_rows(verdict),
        "deployment": context.deployment_rows(df),
        "correctness": context.correctness(df),
        "implementations": context.implementations(df, colors, _descriptions(run.meta)),
        "implementations_unmeasured": context.unmeasured_implementations(df),
        "crossover": crossings.rows(crossover.crossover(df)),
        "figures": [
            *plots.figures(df, verdict, colors),
            *filter(None, [crossings.drift_figure(crossover.drift(df), figure.hue_of(colors))]),
            *counts.figures(df, colors),
        ],
        "top_ops": data.operator_summary(run.top_ops, df) if run.top_ops is not None else None,
        "top_ops_shown": TOP_OPS_CASES,
        "columns": [column_header for column_header, _, _ in columns],
        "rows": table.table_rows(data.ordered(df), columns),
        "links": header.links(run.run_dir, out_dir, copied_csv),
        "training": training.section(run.run_dir, run.measurements),
    }


def _copy_csv(run: data.Run, out_dir: Path) -> str | None:
    """The CSV travels with the page (a CI artifact, an e-mail attachment); the parquet stays with the run."""
    target = out_dir / "measurements.csv"
    source = run.run_dir / "measurements.csv"
    try:
        if source.is_file():
            if source.resolve() != target.resolve():
                shutil.copyfile(source, target)
        else:
            run.measurements.drop(columns=["samples_s"], errors="ignore").to_csv(target, index=False)
    except OSError:
        return None
    return target.name


def _write_atomic(path: Path, text: str) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".index-", suffix=".html")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
