"""The HTML report: the tables it derives, the page it writes, and what it does with bad or odd runs."""

from __future__ import annotations

import base64
import json
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from _synthetic_run import HOSTILE_KEY, hostile_report, synthetic_report, write_synthetic_run

from bench.cli import main
from bench.render.report import build_report, data
from bench.render.report.html import fmt_bytes, fmt_rate, fmt_seconds, fmt_speedup


def _frame(rows: list[dict]) -> pd.DataFrame:
    base = {"family": "lstm", "device": "cpu", "dtype": "float32", "mode": "inference", "batch": 4, "seq_len": 16}
    base |= {"input_size": 32, "hidden_size": 32, "num_layers": 1, "bidirectional": False, "status": "ok"}
    out = []
    for row in rows:
        row = base | row
        row.setdefault("key", f"{row['family']}.{row['impl']}")
        out.append(row)
    return pd.DataFrame(out)


def test_verdict_picks_the_fastest_correct_implementation_and_its_speedup_over_native():
    df = data.prepare(
        _frame(
            [
                {"impl": "native", "median_s": 4e-3, "correct": True},
                {"impl": "fused", "median_s": 1e-3, "correct": True, "ci_low_s": 0.9e-3, "ci_high_s": 1.1e-3},
                {"impl": "wrong", "median_s": 0.5e-3, "correct": False},  # faster, but computes the wrong thing
                {"impl": "broken", "median_s": None, "status": "crashed", "correct": None},
            ]
        )
    )
    verdict = data.verdict(df)
    assert len(verdict) == 1
    row = verdict.iloc[0]
    assert row["fastest"] == "fused"
    assert row["speedup"] == pytest.approx(4.0)
    assert row["runner_up"] == "native" and row["runner_up_ratio"] == pytest.approx(4.0)
    assert df.set_index("impl").loc["fused", "tokens_per_s"] == pytest.approx(4 * 16 / 1e-3)
    assert list(data.incorrect(df)["impl"]) == ["wrong"]
    assert list(data.not_run(df)["impl"]) == ["broken"]


def test_without_native_the_verdict_ranks_but_reports_no_speedup():
    df = data.prepare(_frame([{"impl": "a", "median_s": 2e-3, "correct": True}, {"impl": "b", "median_s": 1e-3}]))
    row = data.verdict(df).iloc[0]
    assert row["fastest"] == "b" and pd.isna(row["speedup"])


def test_efficiency_falls_back_to_the_runs_matmul_peak():
    df = data.prepare(_frame([{"impl": "native", "median_s": 1e-3, "flops": 1e8}]), {"cpu/float32": 1e12})
    assert df["efficiency_pct"].iloc[0] == pytest.approx(100 * 1e11 / 1e12)


def test_rows_without_an_interval_say_too_few_samples_and_rows_above_peak_are_noted():
    from bench.render.report import context, table

    df = data.prepare(
        _frame(
            [
                {"impl": "native", "median_s": 1e-3, "ci_low_s": None, "ci_high_s": None, "cache": "warm"},
                {"impl": "fused", "median_s": 1e-3, "ci_low_s": 0.9e-3, "ci_high_s": 1.1e-3, "efficiency": 1.9},
            ]
        )
    )
    header = [h for h, _, _ in table.TABLE_COLUMNS]
    cells = [[cell["text"] for cell in row] for row in table.table_rows(df)]
    interval = header.index("95% CI of median")
    assert (
        cells[0][interval] == "too few samples"
        and cells[1][interval] == f"{fmt_seconds(0.9e-3)} – {fmt_seconds(1.1e-3)}"
    )
    assert cells[1][header.index("efficiency")] == "190.0 % (above peak)"
    notes = " ".join(context.messages(df))
    assert "1 case(s) have too few samples" in notes and "1 case(s) run above the measured matmul peak" in notes
    assert "Timed with a warm cache" in notes


def test_top_operators_split_python_ranges_from_kernels():
    ops = pd.DataFrame(
        {
            "case_id": ["c1"] * 3,
            "key": ["lstm.premul_loop"] * 3,
            "op": ["aten::addmm", "forward", "aten::tanh"],
            "is_label": [False, True, False],
            "share": [0.5, 0.3, 0.1],
        }
    )
    (case,) = data.operator_summary(ops, pd.DataFrame({"case_id": ["c1"], "median_s": [1e-3]}))
    assert case["python_share"] == pytest.approx(0.3) and case["kernel_share"] == pytest.approx(0.6)
    assert case["unlisted_share"] == pytest.approx(0.1) and case["median_s"] == 1e-3
    assert [op["op"] for op in case["ops"]] == ["aten::addmm", "forward", "aten::tanh"]


def test_units_are_shown_with_every_figure():
    assert fmt_seconds(1.5e-4) == "150 µs"
    assert fmt_seconds(2.0) == "2 s"
    assert fmt_bytes(3 * 2**20) == "3 MiB"
    assert fmt_rate(2.5e9, "FLOP/s") == "2.5 GFLOP/s"
    assert fmt_speedup(1.234) == "×1.23"
    assert fmt_seconds(float("nan")) == "—"


class _Page(HTMLParser):
    """Collects what a reader's browser would fetch or run: scripts, images, links, section ids in order."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts, self.images, self.links, self.ids, self.external = 0, [], [], [], []
        self.csp = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.scripts += tag == "script"
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy":
            self.csp = attrs["content"]
        if "id" in attrs:
            self.ids.append(attrs["id"])
        for name in ("src", "href"):
            if re.match(r"^(https?:)?//", attrs.get(name) or ""):
                self.external.append(attrs[name])
        if tag == "link":
            self.external.append(str(attrs))


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _png_width(src: str) -> int:
    assert src.startswith("data:image/png;base64,")
    png = base64.b64decode(src.split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">I", png[16:20])[0]


def test_report_of_a_run_is_one_self_contained_page(tmp_path_factory):
    path = synthetic_report(tmp_path_factory)
    text = path.read_text(encoding="utf-8")
    page = _parse(path)
    assert page.external == [], "the page must load nothing from the network"
    assert page.scripts == 1  # the inline table sorter, nothing else
    assert page.csp.startswith("default-src 'none'; img-src data:;")  # nothing else may load
    # failures come before the verdict, the verdict before the plots
    order = [page.ids.index(i) for i in ("attention", "verdict", "correctness", "not-run", "plots", "measurements")]
    assert order == sorted(order)
    # one figure per kind for the single device/dtype, each a real PNG
    assert len(page.images) == 8 and all(_png_width(src) > 300 for src in page.images)  # 8th: numeric drift
    for reason in ("worker died with signal SIGABRT", "no result within 120 s", "is unidirectional only"):
        assert reason in text
    assert "lstm.scripted" in text.split('id="verdict"')[0]  # the wrong case is named above the verdict
    assert 'id="top-ops"' in text and "aten::addmm" in text and "Python 20 %" in text
    assert "144</b> cases" in text and "100 GFLOP/s" in text
    # relative links reach the run's files from reports/<run_id>/, and the CSV travels with the page
    for href in page.links:
        if not href.startswith("#"):
            assert (path.parent / href).is_file(), href
    assert (path.parent / "measurements.csv").is_file()


@pytest.mark.parametrize(
    "kind, message",
    [
        ("only_failed", "No case produced a correct measurement"),
        ("one_case", "Only one case was measured"),
        ("no_native", "has no &#39;native&#39; implementation"),
    ],
)
def test_degenerate_runs_render_with_a_clear_message(tmp_path, kind, message):
    run_dir = tmp_path / "results" / kind
    if kind == "only_failed":
        frame = write_synthetic_run(run_dir, families=("gru",), impls=("native",), modes=("inference",), batches=(1,),
                                    seq_lens=(8,), hidden_sizes=(64,), failures=False)  # fmt: skip
        frame["status"], frame["error"] = "crashed", "worker died with signal SIGSEGV (-11)"
        frame["median_s"], frame["correct"] = None, None
        frame.to_parquet(run_dir / "measurements.parquet")
    elif kind == "one_case":
        write_synthetic_run(run_dir, families=("gru",), impls=("native",), modes=("training",), batches=(1,),
                            seq_lens=(8,), hidden_sizes=(64,), failures=False)  # fmt: skip
        meta = json.loads((run_dir / "run.json").read_text())
        (run_dir / "run.json").write_text(json.dumps(meta | {"status": "interrupted", "finished_at": None}))
    else:
        write_synthetic_run(run_dir, families=("gru",), impls=("scripted", "premul_loop"), modes=("inference",),
                            batches=(1,), seq_lens=(8, 64), hidden_sizes=(64,), failures=False)  # fmt: skip
    path = build_report(run_dir, tmp_path / "out")
    text = path.read_text(encoding="utf-8")
    assert message in text
    assert 'id="verdict"' in text and 'id="correctness"' in text
    if kind == "only_failed":
        assert "SIGSEGV" in text and "<img" not in text
    if kind == "one_case":
        assert "This run is <b>interrupted</b>" in text and "not finished" in text
    if kind == "no_native":
        assert "scripted" in text.split('id="verdict"')[1].split("</table>")[0]


def test_a_profiling_run_without_measurements_shows_its_operators(tmp_path):
    run_dir = tmp_path / "results" / "profile-1"
    write_synthetic_run(run_dir, families=("lstm",), impls=("native",), modes=("inference",), batches=(1,),
                        seq_lens=(8,), hidden_sizes=(64,), failures=False, top_ops=True)  # fmt: skip
    (run_dir / "measurements.parquet").unlink()
    text = build_report(run_dir, tmp_path / "out").read_text(encoding="utf-8")
    assert "This run has no measurements" in text and 'id="top-ops"' in text and "aten::addmm" in text


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    run_dir = tmp_path / "results" / "r1"
    checks = [(tmp_path / "absent", "run directory not found")]
    run_dir.mkdir(parents=True)
    checks.append((run_dir, "has no run.json"))
    (tmp_path / "results" / "broken").mkdir()
    (tmp_path / "results" / "broken" / "run.json").write_text("{not json")
    checks.append((tmp_path / "results" / "broken", "cannot read"))
    for path, expected in checks:
        assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err
    write_synthetic_run(run_dir, families=("gru",), impls=("native",), modes=("inference",), batches=(1,),
                        seq_lens=(8,), hidden_sizes=(64,), failures=False)  # fmt: skip
    (tmp_path / "a_file").write_text("")
    assert main(["report", str(run_dir), "--out", str(tmp_path / "a_file" / "out")]) == 2
    assert "cannot create report folder" in capsys.readouterr().err
    (run_dir / "measurements.parquet").write_bytes(b"PAR1 this is not a parquet file")
    assert main(["report", str(run_dir), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and err.count("\n") == 1
    (run_dir / "measurements.parquet").unlink()
    assert main(["report", str(run_dir), "--out", str(tmp_path / "out")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "out" / "index.html").exists()


def test_strings_from_a_run_are_escaped(tmp_path_factory, cli):
    path, result = hostile_report(tmp_path_factory, cli)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(path)
    text = path.read_text(encoding="utf-8")
    page = _parse(path)
    assert page.scripts == 1
    assert "<script>alert" not in text and "<img src=x" not in text and "<svg onload" not in text
    assert "lstm.&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text  # the plugin's description, shown as text
    assert "&lt;/script&gt;&lt;script&gt;alert(4)&lt;/script&gt;" in text
    assert HOSTILE_KEY not in text
