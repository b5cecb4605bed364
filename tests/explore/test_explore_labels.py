"""Explore tables show billing periods in the user's own labels (params.yaml vocabulary),
not the meanings the panel stores."""

from __future__ import annotations

from dataclasses import replace

import yaml

from churnlab.explore import account_history, try_hypothesis

OWN = {"billing_period": {"monthly": ["Month-to-month"], "annual": ["yearly"]}}


def _own_words(workspace):
    return replace(workspace, params={**workspace.params, "vocabulary": OWN})


def test_account_history_billing_period_in_the_users_label(workspace):
    ws = _own_words(workspace)
    panel = workspace.panel
    annual = panel.loc[panel["billing_period"] == "annual", "account_id"].iloc[0]
    h = account_history(annual, ws)
    assert set(h["billing_period"]) == {"yearly"}
    assert set(account_history(annual, workspace)["billing_period"]) == {"annual"}


def test_bench_attribute_rule_in_the_users_label(finished_project, workspace):
    items = yaml.safe_load((finished_project / "hypotheses.yaml").read_text(encoding="utf-8"))
    idea = next(h for h in items["hypotheses"] if h["id"] == "month_to_month_churns_more")
    result = try_hypothesis(idea, _own_words(workspace))
    rule = result.verdict["lamp_rule"].iloc[0]
    assert "Month-to-month" in rule and "[monthly]" not in rule
