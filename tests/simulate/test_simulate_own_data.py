"""The simulator never overwrites a user's own export (found by a new user: a forgotten
`simulate` stage deleted their accounts.csv, contracts.csv, users.csv and events/)."""

import pytest

from churnlab.errors import UserError
from churnlab.simulate.stage import refuse_own_data


def test_own_files_are_refused_by_name(tmp_path):
    (tmp_path / "accounts.csv").write_text("account_id\nA1\n")
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "part-0.csv").write_text("x\n")
    with pytest.raises(UserError, match=r"accounts\.csv, events\).*remove the `simulate` stage"):
        refuse_own_data(tmp_path)
    assert (tmp_path / "accounts.csv").exists()


def test_simulated_files_and_an_empty_folder_are_fine(tmp_path):
    refuse_own_data(tmp_path)
    (tmp_path / "accounts.parquet").write_bytes(b"")
    (tmp_path / "ground_truth.json").write_text("{}")
    refuse_own_data(tmp_path)


def test_dvc_leaves_data_raw_to_the_simulator():
    import yaml

    stages = yaml.safe_load(open("dvc.yaml", encoding="utf-8"))["stages"]
    assert {"data/raw": {"persist": True}} in stages["simulate"]["outs"]
