"""The side-by-side rounds' bookkeeping, with a stand-in for the worker: what is measured again, what is kept."""

import pytest
from synthetic_runs import case

from bench.ci import paired as paired_rounds
from bench.plan.spec import SweepSpec
from bench.results import store


class FakeRunner:
    """Answers run_pair like a worker would; `fail` holds (side, case_id) pairs that error in round 1."""

    calls: list = []
    firsts: list = []
    interrupt_at: int | None = None

    def __init__(self, run_dir, run_id, timing, threads, plugins, worker_args):
        self.threads, self.round = threads, 0
        FakeRunner.calls, FakeRunner.firsts, FakeRunner.worker_args = [], [], worker_args

    def start_round(self):
        self.round += 1

    def run_pair(self, case, peak, repeat=False, first="base", calls=None):
        FakeRunner.calls.append((self.round, case.case_id, repeat))
        FakeRunner.firsts.append((self.round, first))
        if self.round == self.interrupt_at:
            raise KeyboardInterrupt
        rows = {}
        for index, side in enumerate(("base", "new")):
            median = 1e-3 * (1 + index) * (1 + 0.1 * self.round)
            row = {"case_id": case.case_id, **case.identity(), "status": "ok", "samples_s": [median],
                   "median_s": median, "round_medians_s": [median], "correct": None if repeat else True}  # fmt: skip
            if case.batch == 2 and side == "base":
                row = {"case_id": case.case_id, **case.identity(), "status": "error", "error": "boom"}
            rows[side] = row
        return rows

    def close(self):
        pass


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(paired_rounds, "Runner", FakeRunner)
    FakeRunner.interrupt_at = None
    return FakeRunner


def test_every_round_measures_the_pairs_still_ok_and_keeps_round_order(tmp_path, fake):
    ok, failing, skipped = case(batch=1), case(batch=2), case(batch=3)
    cases = [(ok, None), (failing, None), (skipped, "cuda only")]
    dirs = paired_rounds.run_pairs(
        SweepSpec(), cases, tmp_path / "base-tree", tmp_path, {"base": "b", "new": "n"},
        {"base": {"git_commit": "abc"}, "new": {}}, ["plugin.py", "new.py"], rounds=3, log=lambda line: None,
        base_plugins=["plugin.py"],
    )  # fmt: skip
    assert fake.calls == [(1, ok.case_id, False), (1, failing.case_id, False), (2, ok.case_id, True),
                          (3, ok.case_id, True)]  # fmt: skip
    assert fake.firsts == [(1, "base"), (1, "base"), (2, "new"), (3, "base")]  # each process alternates
    base, new = (store.read_measurements(dirs[side]).set_index("batch") for side in ("base", "new"))
    assert list(base.loc[1, "round_medians_s"]) == pytest.approx([1.1e-3, 1.2e-3, 1.3e-3])
    assert list(new.loc[1, "round_medians_s"]) == pytest.approx([2.2e-3, 2.4e-3, 2.6e-3])
    assert (base.loc[2, "status"], new.loc[2, "status"]) == ("error", "ok")  # measured once: no pair to make
    assert (base.loc[3, "status"], base.loc[3, "error"]) == ("skipped", "cuda only")
    metas = {side: store.read_meta(dirs[side]) for side in ("base", "new")}
    assert metas["base"]["pairing"] == {"id": "b+n", "side": "base", "paired_with": "n"}
    assert metas["new"]["pairing"]["paired_with"] == "b" and metas["new"]["plugins"] == ["plugin.py", "new.py"]
    assert metas["base"]["plugins"] == ["plugin.py"] and metas["base"]["environment"]["git_commit"] == "abc"
    assert fake.worker_args == ("--base-tree", str(tmp_path / "base-tree"), "--base-plugin", "plugin.py")
    assert {m["status"] for m in metas.values()} == {"complete"}


def test_an_interrupted_job_leaves_both_runs_marked_interrupted(tmp_path, fake):
    fake.interrupt_at = 2
    with pytest.raises(KeyboardInterrupt):
        paired_rounds.run_pairs(
            SweepSpec(), [(case(batch=1), None)], tmp_path / "t", tmp_path, {"base": "b", "new": "n"},
            {"base": {}, "new": {}}, rounds=3, log=lambda line: None,
        )  # fmt: skip
    for side in ("b", "n"):
        assert store.read_meta(tmp_path / side)["status"] == "interrupted"
        assert len(store.read_measurements(tmp_path / side)) == 1  # round 1's row survives


def test_a_base_that_cannot_be_loaded_stops_the_job_with_one_clear_line(tmp_path):
    """A real worker, started with a base tree that has no implementations package: it dies before answering."""
    from bench.errors import UsageError

    with pytest.raises(UsageError) as raised:
        paired_rounds.run_pairs(
            SweepSpec(), [(case(batch=1), None)], tmp_path / "empty", tmp_path / "out", {"base": "b", "new": "n"},
            {"base": {}, "new": {}}, rounds=8, log=lambda line: None,
        )  # fmt: skip
    message = str(raised.value)
    assert message.startswith(f"cannot load {tmp_path / 'empty' / 'implementations'}: no implementations registry")
    assert message.endswith("measure it with --separate instead") and "\n" not in message
    assert store.read_meta(tmp_path / "out" / "b")["status"] == "interrupted"
