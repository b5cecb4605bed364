"""The stage reads only the panel columns its hypotheses use and does not copy a panel that
is already in row order (issue 17: 8.2 GB at 50,000 accounts), with the same outputs."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.hypotheses import stage
from churnlab.hypotheses.design import subject_codes
from churnlab.hypotheses.spec import Hypothesis
from churnlab.hypotheses.stage import panel_columns, read_panel, rows_sorted
from churnlab.hypotheses.synthetic import synthetic_panel
from churnlab.indicators.catalog import CATALOG
from churnlab.io import write_json, write_parquet


def _hyp(hid: str, indicator: str | None = None, attribute: str | None = None) -> Hypothesis:
    return Hypothesis(
        id=hid, statement="s", stage="adoption", indicator=indicator,
        direction=None if attribute else "high", threshold=None if attribute else 1.0,
        expected_lead_weeks=4, action="a", kind="risk", attribute=attribute,
        values=("annual",) if attribute else None,
    )  # fmt: skip


def test_panel_columns_keeps_what_the_hypotheses_use_in_file_order():
    names = ["account_id", "week_start", "spell", "start", "stop", "event", "segment",
             "region", "billing_period", "tenure_weeks", "a", "b", "c", "csm_id"]  # fmt: skip
    hyps = [_hyp("h1", indicator="c"), _hyp("h2", indicator="a"),
            _hyp("h3", attribute="billing_period"), _hyp("h4", indicator="not_in_panel")]  # fmt: skip
    got = panel_columns(names, ["segment"], hyps)
    assert got == ["account_id", "week_start", "spell", "start", "stop", "event", "segment",
                   "billing_period", "a", "c", "csm_id"]  # fmt: skip


@pytest.mark.parametrize(
    ("acc", "spell", "start", "expected"),
    [
        (["a", "a", "b"], [1, 1, 1], [0, 1, 0], True),
        (["a", "a", "a"], [1, 2, 2], [5, 0, 1], True),  # a later spell restarts its weeks
        (["a", "a", "a"], [1, 1, 1], [0, 0, 1], True),  # ties keep their order
        (["a", "b", "a"], [1, 1, 1], [0, 0, 1], False),
        (["a", "a", "b"], [2, 1, 1], [0, 1, 0], False),
        (["a", "a", "b"], [1, 1, 1], [1, 0, 0], False),
        (["b9", "b10"], [1, 1], [0, 0], False),  # text order ("b10" < "b9"), as pandas sorts
    ],
)
def test_rows_sorted_by_hand(acc, spell, start, expected):
    frame = pd.DataFrame({"account_id": acc, "spell": spell, "start": start})
    assert rows_sorted(frame, ["account_id", "spell", "start"]) is expected


def test_rows_sorted_treats_missing_keys_as_unsorted():
    frame = pd.DataFrame({"account_id": pd.array(["a", None], dtype="string"), "start": [0, 1]})
    assert rows_sorted(frame, ["account_id", "start"]) is False
    assert rows_sorted(frame.iloc[:1], ["account_id", "start"]) is True


def _panel() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["a", "a", "b", "b", "c"],
            "spell": [1, 1, 1, 1, 1],
            "start": [0, 1, 0, 1, 0],
            "stop": [1, 2, 1, 2, 1],
            "event": [0, 1, 0, 0, 1],
            "unused": [1.0, 2.0, 3.0, 4.0, 5.0],
            "x": [0.5, 0.25, 0.0, 1.0, 2.0],
        }
    )


def test_read_panel_reads_only_the_columns_asked(tmp_path):
    write_parquet(_panel(), tmp_path / "p.parquet")
    # a column the file lacks is left to the checks (here: none is required)
    got = read_panel(tmp_path / "p.parquet", [], ["account_id", "spell", "start", "stop",
                                                    "event", "x", "absent"])  # fmt: skip
    assert list(got.columns) == ["account_id", "spell", "start", "stop", "event", "x"]
    pd.testing.assert_frame_equal(got, _panel().drop(columns="unused"))


def test_read_panel_sorts_a_shuffled_panel_and_keeps_a_sorted_one(tmp_path):
    shuffled = _panel().iloc[[4, 2, 0, 3, 1]].reset_index(drop=True)
    write_parquet(shuffled, tmp_path / "s.parquet")
    pd.testing.assert_frame_equal(read_panel(tmp_path / "s.parquet", []), _panel())
    write_parquet(_panel(), tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(read_panel(tmp_path / "p.parquet", []), _panel())


def test_read_panel_still_names_a_missing_required_column(tmp_path):
    write_parquet(_panel().drop(columns="stop"), tmp_path / "p.parquet")
    with pytest.raises(Exception, match="column 'stop' is missing"):
        read_panel(tmp_path / "p.parquet", [], ["account_id", "start", "stop", "event"])


def _digest(root: Path) -> dict[str, str]:
    files = [root / "models/hypotheses.json", root / "metrics/hypotheses.json",
             *sorted((root / "data/processed/hypothesis_tables").glob("*.parquet"))]  # fmt: skip
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_reading_fewer_columns_changes_no_output(tmp_path, monkeypatch):
    """A panel with 20 columns no hypothesis reads, run once reading every column (as the
    stage did before) and once reading only those used: byte-identical outputs."""
    rename = {"leader": "key_person_activity_change", "coincident": "nps_unanswered",
              "decoy": "tickets_opened"}  # fmt: skip
    panel = synthetic_panel(n_accounts=300, n_weeks=40, seed=5).rename(columns=rename)
    rng = np.random.default_rng(0)
    wide = panel.assign(**{f"unused_{i}": rng.normal(size=len(panel)) for i in range(20)})
    read = []
    digests = []
    used_only = stage.panel_columns
    for every in (True, False):
        root = tmp_path / ("every" if every else "used")
        (root / "data/processed").mkdir(parents=True)
        shutil.copy("hypotheses.yaml", root / "hypotheses.yaml")
        params = yaml.safe_load(Path("params.yaml").read_text())
        params["hypotheses"].update(bootstrap_reps=5, lags=[0, 4])
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        write_parquet(wide, root / "data/processed/panel.parquet")
        indicators = {
            ind.id: {"source": "builtin", "testable": True, "reason": None,
                     "tables": list(ind.tables)}
            for ind in CATALOG
        }  # fmt: skip
        write_json(root / "data/processed/panel_meta.json",
                   {"indicators": indicators, "snapshot": False})  # fmt: skip
        chosen = (lambda names, *_: list(names)) if every else used_only
        monkeypatch.setattr(
            stage, "panel_columns", lambda *a, chosen=chosen: read.append(chosen(*a)) or read[-1]
        )
        monkeypatch.chdir(root)
        result = CliRunner().invoke(app, ["hypotheses"])
        assert result.exit_code == 0, result.output
        digests.append(_digest(root))
    assert len(read[0]) == len(wide.columns) > len(read[1])
    assert not any(c.startswith("unused_") for c in read[1])
    assert digests[0] == digests[1]


def test_subject_codes_number_pairs_by_first_appearance():
    """Without tuples, the same numbering as factorizing (account_id, spell) pairs."""
    frame = pd.DataFrame(
        {"account_id": ["b", "a", "b", "a", "b", "c"], "spell": [2, 1, 1, 1, 2, 1]}
    )
    # pairs in order: (b,2)=0, (a,1)=1, (b,1)=2, (a,1)=1, (b,2)=0, (c,1)=3
    assert subject_codes(frame).tolist() == [0, 1, 2, 1, 0, 3]
    assert subject_codes(frame.drop(columns="spell")).tolist() == [0, 1, 0, 1, 0, 2]
    rng = np.random.default_rng(2)
    big = pd.DataFrame(
        {"account_id": rng.integers(0, 500, 5000).astype(str), "spell": rng.integers(1, 4, 5000)}
    )
    pairs = pd.MultiIndex.from_arrays([big["account_id"], big["spell"]])
    np.testing.assert_array_equal(subject_codes(big), pd.factorize(pairs)[0])
