"""The HTML report of a run: one self-contained page (plots embedded, no network) per run directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from bench.errors import UsageError
from bench.render.report import context, data, html

__all__ = ["build_report", "default_out_dir"]
TOP_OPS_CASES = 24  # profiled cases shown in full; the rest are in top_ops.parquet


def default_out_dir(run_dir: str | Path) -> Path:
    """reports/<run_id>/ beside results/<run_id>/ (else under ./reports), so relative links reach the run."""
    run_dir = Path(run_dir).resolve()
    if run_dir.parent.name == "results":
        return run_dir.parent.parent / "reports" / run_dir.name
    return Path("reports") / run_dir.name


def _descriptions(keys, plugins) -> dict[str, str]:
    """Descriptions of the registered implementations among `keys`; a key no longer registered has none."""
    try:
        from implementations import registry

        for path in plugins or []:
            try:
                registry.load_plugin(path)
            except registry.RegistryError:
                pass  # a plugin moved or gone since the run: its keys just lack a description
        known = {impl.key: impl.description for impl in registry.all()}
    except Exception:  # the report must render even where the registry cannot be imported
        return {}
    return {k: known[k] for k in keys if k in known}


def build_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write <out_dir>/index.html (and a copy of the CSV) for the run in `run_dir`; return the page's path."""
    from bench.render.report import plots, training  # matplotlib is loaded only when a report is built

    run = data.load_run(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(run.run_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create report folder {out_dir}: {exc.strerror or exc}") from exc
    df = data.prepare(run.measurements, run.meta.get("peak_flops_per_s"))
    verdict = data.verdict(df)
    colors = plots.palette(df["impl"].astype(str).unique().tolist())
    copied_csv = _copy_csv(run, out_dir)
    page = {
        "header": context.header(run.meta, df),
        "messages": context.messages(df),
        "incorrect": context.incorrect_rows(df),
        "not_run": data.not_run(df)[["status", "key", "device", "dtype", "mode", "shape", "error"]]
        .fillna("—")
        .to_dict("records"),
        "summary": context.summary_rows(data.verdict_summary(verdict)),
        "verdict": context.verdict_rows(verdict),
        "correctness": context.correctness(df),
        "implementations": context.implementations(
            df, colors, _descriptions(df["key"].unique(), run.meta.get("plugins"))
        ),
        "figures": plots.figures(df, verdict, colors),
        "top_ops": data.operator_summary(run.top_ops, df) if run.top_ops is not None else None,
        "top_ops_shown": TOP_OPS_CASES,
        "columns": [header for header, _, _ in context.TABLE_COLUMNS],
        "rows": context.table_rows(data.ordered(df)),
        "links": context.links(run.run_dir, out_dir, copied_csv),
        "training": training.section(run.run_dir, run.measurements),
    }
    path = out_dir / "index.html"
    try:
        _write_atomic(path, html.render(page))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


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
