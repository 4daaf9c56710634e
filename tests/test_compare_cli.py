import json
import shutil
import subprocess

import pytest
from _chromium import FLAGS
from synthetic_runs import case, lognormal, row, write_run

from bench.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def runs(tmp_path):
    base = [row(case("lstm", batch=b), "base-run", lognormal(1e-3, 20, b)) for b in (1, 2)]
    base.append(row(case("gru"), "base-run", lognormal(1e-3, 20, 9)))
    new = [
        row(case("lstm", batch=1), "new-run", lognormal(1.25e-3, 20, 11)),  # 25% slower
        row(case("lstm", batch=2), "new-run", lognormal(1e-3, 20, 12)),
        row(case("gru"), "new-run", lognormal(1e-3, 20, 19), correct=False),
        row(case("rnn_tanh"), "new-run", lognormal(1e-3, 20, 20)),
    ]
    return write_run(tmp_path, "base-run", base), write_run(tmp_path, "new-run", new, host="other-host")


def test_compare_writes_every_output_and_fails_the_gate(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base, new = runs
    code = main(["compare", str(base), str(new), "--markdown", "s.md", "--json", "c.json"])
    out = capsys.readouterr().out
    assert code == 1
    assert "regression" in out and "new failure" in out and "only in new" in out
    assert "warning: different machine: ci-runner-1 (base) vs other-host (new)" in out
    assert "FAIL: 1 regression, 1 new failure, 1 unchanged" in out
    assert "decided on" in out and "20 vs 20 samples" in out
    assert "warning: 2 cases decided on raw samples of one process per side" in out
    markdown = (tmp_path / "s.md").read_text()
    assert markdown.startswith("## :x: Benchmark gate: FAIL")
    assert "### Regression (1)" in markdown and "`lstm.native inference b1 t16 i32 h64 l1 uni float32 cpu`" in markdown
    assert "| 20 vs 20 samples |" in markdown and "> **Warning:** 2 cases decided on raw samples" in markdown
    document = json.loads((tmp_path / "c.json").read_text())
    assert document["failed"] is True
    assert document["counts"]["regression"] == 1 and document["counts"]["only_new"] == 1
    regression = [c for c in document["changes"] if c["verdict"] == "regression"][0]
    assert 1.15 < regression["ratio"] < 1.35
    assert (regression["unit"], regression["n_base"], regression["n_new"]) == ("samples", 20, 20)
    assert (tmp_path / "reports" / "new-run" / "compare-base-run.html").is_file()


def test_an_unchanged_run_passes(tmp_path, capsys):
    base = write_run(tmp_path, "a", [row(case(), "a", lognormal(1e-3, 20, 1))])
    new = write_run(tmp_path, "b", [row(case(), "b", lognormal(1e-3, 20, 2))])
    assert main(["compare", str(base), str(new), "--no-html"]) == 0
    assert "PASS: 1 unchanged" in capsys.readouterr().out


@pytest.mark.parametrize(
    "damage, message",
    [
        ("self", "comparing a run with itself"),
        ("missing", "no run directory"),
        ("no_table", "no measurements.parquet"),
        ("corrupt_table", "corrupt "),
        ("corrupt_json", "corrupt "),
        ("disjoint", "no cases in common"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runs, tmp_path, capsys, damage, message):
    base, new = runs
    if damage == "self":
        new = base
    elif damage == "missing":
        new = tmp_path / "nowhere"
    elif damage == "no_table":
        (new / "measurements.parquet").unlink()
    elif damage == "corrupt_table":
        (new / "measurements.parquet").write_bytes(b"PAR1 not really")
    elif damage == "corrupt_json":
        (new / "run.json").write_text("{")
    elif damage == "disjoint":
        new = write_run(tmp_path, "other", [row(case("lstm", batch=99), "other", [1e-3] * 5)])
    code = main(["compare", str(base), str(new), "--no-html"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_run_ids_under_results_are_accepted(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    write_run(results, "a", [row(case(), "a", lognormal(1e-3, 20, 1))])
    write_run(results, "b", [row(case(), "b", lognormal(1e-3, 20, 2))])
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "a", "b", "--no-html"]) == 0


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium for the browser check")
def test_html_page_in_a_real_browser(runs, tmp_path):
    base, new = runs
    html = tmp_path / "page.html"
    assert main(["compare", str(base), str(new), "--html", str(html)]) == 1
    profile = tmp_path / "profile"
    flags = [*(flag for flag in FLAGS if flag != "--remote-debugging-pipe"), f"--user-data-dir={profile}"]
    # the page's own script-free DOM after layout, plus whether the embedded plot decoded to a real image
    probe = tmp_path / "probe.html"
    probe.write_text(
        f"""<!doctype html><body><iframe id=f src="{html.as_uri()}" style="width:1200px;height:900px"></iframe>
<script>
document.getElementById('f').onload = () => {{
  const d = document.getElementById('f').contentDocument;
  const img = d.getElementById('ratio-plot');
  document.title = 'probe ' + JSON.stringify({{
    verdict: d.getElementById('verdict').textContent,
    rows: [...d.querySelectorAll('#changes tbody tr')].map(r => r.className),
    basis: [...d.querySelectorAll('#changes tbody tr')].map(r => r.cells[7].textContent),
    header: d.querySelectorAll('#changes thead th')[7].textContent,
    plot: img.complete ? [img.naturalWidth, img.naturalHeight] : null,
    warn: [...d.querySelectorAll('.warning')].map(w => w.textContent),
  }});
}};
</script>"""
    )
    result = subprocess.run(
        [
            CHROMIUM,
            *flags,
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    title = result.stdout.split("<title>probe ", 1)[1].split("</title>", 1)[0]
    seen = json.loads(title.replace("&quot;", '"'))
    assert seen["verdict"] == "FAIL: 1 regression, 1 new failure, 1 unchanged"
    assert seen["rows"][:2] == ["regression", "failure"]
    assert "only_new" in seen["rows"]
    assert seen["plot"][0] > 500 and seen["plot"][1] > 100
    assert any("other-host" in w for w in seen["warn"])
    assert seen["header"] == "decided on" and seen["basis"][0] == "20 vs 20 samples"
    assert any("decided on raw samples of one process per side" in w for w in seen["warn"])
