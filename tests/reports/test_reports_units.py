"""Fast tests of the report-side computations, text generators and rendering helpers (no kernel)."""

from __future__ import annotations

import hashlib
import json
import re

import nbformat
import numpy as np
import pandas as pd
import pytest
import reports_fixture_project as fx
from matplotlib.figure import Figure
from nbformat.v4 import new_code_cell, new_notebook, new_output

from churnlab.errors import ConfigError, UserError
from churnlab.reports import catalog, frames, i18n, pages, plotting, render, style, takeaways
from churnlab.reports import markup as m
from churnlab.reports.loaders import ReportData

# --- frames -------------------------------------------------------------------------------


def test_kaplan_meier_matches_hand_computation():
    # durations/events of the fixture: churn at 4, 6, 10; censored at 10 (x3)
    km = frames.kaplan_meier([10, 10, 6, 10, 4, 10], [1, 0, 1, 0, 1, 0])
    assert km["weeks"].tolist() == [0, 4, 6, 10]
    assert km["survival"].tolist() == pytest.approx([1, 5 / 6, 4 / 6, 0.5])
    assert km["at_risk"].tolist() == [6, 6, 5, 4]


def test_kaplan_meier_carries_curve_to_last_censoring():
    km = frames.kaplan_meier([2, 5], [1, 0])
    assert km["weeks"].tolist() == [0, 2, 5]
    assert km["survival"].tolist() == pytest.approx([1, 0.5, 0.5])


def test_account_lifetimes_from_panel():
    life = frames.account_lifetimes(fx.panel()).set_index("account_id")
    assert life.loc["a1", "weeks"] == 10 and life.loc["a1", "churned"] == 1
    assert life.loc["a5", "weeks"] == 4 and life.loc["a5", "churned"] == 1
    assert life.loc["a2", "churned"] == 0 and life.loc["a2", "segment"] == "smb"
    assert life["churned"].sum() == 3


def test_retention_by_group_per_segment():
    curves = frames.retention_by_group(frames.account_lifetimes(fx.panel()), "segment", "all")
    smb = curves[curves["group"] == "smb"]
    # smb: a5 churns at 4 (1 of 3), a1 at 10 (1 of the 2 left)
    assert smb["survival"].tolist() == pytest.approx([1, 2 / 3, 1 / 3])
    assert set(curves["group"]) == {"smb", fx.PUBLIC, fx.JA_SEGMENT}


def test_monthly_churn_counts_events_over_active_accounts():
    out = frames.monthly_churn(fx.panel()).set_index("month")
    # weeks start 2025-01-06; a5 churns in week 3 (Jan 27), a3 in week 5 (Feb 10), a1 in week 9 (Mar 10)
    assert out["active_accounts"].tolist() == [6, 5, 4]
    assert out["churned"].tolist() == [1, 1, 1]
    assert out["logo_churn_rate"].tolist() == pytest.approx([1 / 6, 1 / 5, 1 / 4])


def test_band_shares_and_latest_bands_count_active_accounts_only():
    # latest week: a1 red but churned that week (event 1), a2 red, a4 green, a6 amber
    scores = fx.health_scores()
    shares = frames.band_share_by_week(scores)
    assert shares.iloc[-1][["red", "amber", "green"]].tolist() == pytest.approx([1 / 3] * 3)
    assert shares.iloc[0][["red", "amber", "green"]].tolist() == pytest.approx([0.25, 0.25, 0.5])
    assert frames.latest_bands(scores).to_dict() == {"red": 1, "amber": 1, "green": 1}
    # an older scores file without `event`: the panel's churn week says who left
    old = scores.drop(columns="event")
    assert frames.latest_bands(old).to_dict() == {"red": 2, "amber": 1, "green": 1}
    assert frames.latest_bands(old, fx.panel()).to_dict() == {"red": 1, "amber": 1, "green": 1}
    assert frames.band_share_by_week(old, fx.panel()).equals(shares)


def test_red_band_never_exceeds_active_accounts(fixture_data):
    html = _html(pages.executive_summary(fixture_data, "en"))
    cards = dict(
        re.findall(r'<div class="value">([^<]*)</div><div class="label">([^<]*)</div>', html)
    )
    by_label = {v: k for k, v in cards.items()}
    assert by_label["Accounts in red band"] == "1"
    assert by_label["Active accounts"] == "3"


def test_spells_are_subjects_and_an_account_that_came_back_is_not_churned():
    # acc x: spell 1 of 3 weeks ends in churn, spell 2 runs 2 weeks; acc y: 4 weeks, churns
    panel = pd.DataFrame(
        {
            "account_id": ["x"] * 5 + ["y"] * 4,
            "spell": [1, 1, 1, 2, 2, 1, 1, 1, 1],
            "stop": [1, 2, 3, 1, 2, 1, 2, 3, 4],
            "event": [0, 0, 1, 0, 0, 0, 0, 0, 1],
            "segment": ["s"] * 9,
        }
    )
    spells = frames.spell_lifetimes(panel)
    assert spells[["account_id", "spell", "weeks", "churned"]].values.tolist() == [
        ["x", 1, 3, 1],
        ["x", 2, 2, 0],
        ["y", 1, 4, 1],
    ]
    accounts = frames.account_lifetimes(panel).set_index("account_id")
    assert accounts.loc["x", "churned"] == 0 and accounts.loc["x", "weeks"] == 5
    assert accounts.loc["y", "churned"] == 1 and accounts.loc["y", "weeks"] == 4
    # KM over the 3 subjects: week 3, 1 of 2 at risk churns (x spell 1); week 4, 1 of 1 (y)
    km = frames.kaplan_meier(spells["weeks"], spells["churned"])
    assert km["survival"].tolist() == pytest.approx([1, 0.5, 0])


def test_hypotheses_table_sorting_and_top():
    hyps = frames.hypotheses_table({"hypotheses": fx.HYPOTHESES})
    assert hyps.set_index("id")["verdict_key"].to_dict() == {
        "H1": "leads_churn",
        "H2": "too_late",
        "H3": "no_evidence",
        "H4": "not_testable",
    }
    assert frames.sort_hypotheses(hyps)["id"].tolist() == ["H1", "H2", "H3", "H4"]
    assert frames.top_leading(hyps)["id"].tolist() == ["H1"]


def test_top_leading_puts_lamps_before_attributes():
    # An attribute (known from week 1) describes who churns; the headline "strongest leading
    # indicator" is a lamp that warns, even when the attribute's HR is larger.
    records = [
        {**fx.HYPOTHESES[0], "id": "lamp", "hazard_ratio": 1.9, "attribute": None},
        {**fx.HYPOTHESES[0], "id": "plan", "hazard_ratio": 2.7, "attribute": "billing_period"},
    ]
    hyps = frames.hypotheses_table({"hypotheses": records})
    assert frames.top_leading(hyps)["id"].tolist() == ["lamp", "plan"]


def test_lead_profile_is_sorted_with_ci():
    prof = frames.lead_profile({"hypotheses": fx.HYPOTHESES}, "H1")
    assert prof["lag_weeks"].tolist() == [0, 1, 2, 4, 8, 12]
    assert prof.loc[prof["lag_weeks"] == 8, "hazard_ratio"].item() == 2.5
    assert frames.lead_profile({"hypotheses": fx.HYPOTHESES}, "nope").empty


def test_km_curve_accepts_string_lamp_states():
    rows = pd.DataFrame(
        {
            "timeline": [0, 4, 0, 4],
            "km_estimate": [1, 0.9, 1, 0.7],
            "group": ["off", "off", "on", "on"],
        }
    )
    km = frames.km_curve(rows)
    assert km[km["lamp_on"]]["survival"].tolist() == [1, 0.7]
    assert km[~km["lamp_on"]]["survival"].tolist() == [1, 0.9]


def test_quarantine_counts_and_reasons():
    counts = frames.quarantine_counts(fx.tables_json()).set_index("table")
    assert counts.loc["events", "quarantined"] == 5
    assert counts.loc["events", "share"] == pytest.approx(0.005)
    assert counts.loc["users", "share"] == 0
    reasons = frames.quarantine_reasons(fx.tables_json())
    # without quarantined rows the column is unknown ("")
    assert reasons.iloc[0].tolist() == ["events", "unknown_account", 3, ""]
    assert "unaccounted" not in counts  # an older tables.json: read was the sum
    assert len(reasons) == 4  # zero counts (users) are left out


def test_kpi_headline_prefers_pooled_values():
    monthly = frames.kpi_monthly(fx.kpis())
    head = frames.kpi_headline(fx.kpis() | {"headline": {"monthly_logo_churn": 0.03}}, monthly)
    assert head["logo_churn"] == 0.03
    assert head["nrr"] == 0.987  # no pooled NRR: latest month
    assert monthly["month"].iloc[0] == pd.Timestamp("2025-01-01")


def test_kpi_km_filters_by_and_group():
    km = frames.kpi_km({"km_curves": fx.km_curves()}, "segment", ["smb"])
    assert set(km["group"]) == {"smb"} and km["survival"].tolist() == [1.0, 0.67, 0.33]
    assert frames.kpi_km({}, "segment").empty


def test_actions_by_csm_puts_unassigned_last():
    actions = pd.DataFrame({"account_id": ["a", "b", "c"], "csm_id": ["z", None, "b"]})
    groups = frames.actions_by_csm(actions, "unassigned")
    assert [g for g, _ in groups] == ["b", "z", "unassigned"]


def test_glm_cross_check_is_a_hazard_ratio_at_the_headline_lag():
    hyps = frames.hypotheses_table({"hypotheses": fx.HYPOTHESES}).set_index("id")
    # exp(0.875) = 2.399; exp(0.875 -/+ 1.959964 * 0.17) = 1.719, 3.348
    assert hyps.loc["H1", "glm_hazard_ratio"] == pytest.approx(2.399, abs=1e-3)
    assert hyps.loc["H1", "glm_ci_low"] == pytest.approx(1.719, abs=1e-3)
    assert hyps.loc["H1", "glm_ci_high"] == pytest.approx(3.348, abs=1e-3)
    assert hyps.loc["H1", "lag_weeks"] == 8 and hyps.loc["H3", "lag_weeks"] == 0
    assert pd.isna(hyps.loc["H3", "glm_hazard_ratio"])  # no GLM entry at that lag
    assert hyps.loc["H2", "glm_disagreement"] == "significant in Cox only"


def test_glm_and_ph_sentences():
    hyps = frames.hypotheses_table({"hypotheses": fx.HYPOTHESES}).set_index("id")
    h1 = pages.glm_text(hyps.loc["H1"], "en")
    assert (
        h1
        == "Discrete-time hazard cross-check: HR 2.40 (95% CI 1.72–3.35), consistent with the Cox model."
    )
    assert "DISAGREES" in pages.glm_text(hyps.loc["H2"], "en")
    assert "significant in Cox only" in pages.glm_text(hyps.loc["H2"], "en")
    assert "look proportional (p = 0.510)" in pages.ph_text(hyps.loc["H1"], "en")
    assert "changes with tenure (p = 0.010)" in pages.ph_text(hyps.loc["H2"], "en")
    assert pages.ph_text(hyps.loc["H4"], "en") is None


def test_chosen_threshold_prefers_the_curve_flag():
    curve = frames.threshold_curve(
        pd.DataFrame({"id": "H", "threshold": [0.5, 0.2], "chosen": [True, False]})
    )
    assert curve["threshold"].tolist() == [0.2, 0.5]
    assert pages.chosen_threshold(curve, pd.Series({"threshold": 0.9})) == 0.5
    assert pages.chosen_threshold(curve.iloc[0:0], pd.Series({"threshold": 0.9})) == 0.9


def test_landmark_km_keeps_each_landmark():
    rows = pd.DataFrame(
        {
            "id": "H",
            "landmark_week": [13, 13, 26],
            "lamp": ["on", "off", "on"],
            "weeks_since_landmark": [0, 0, 0],
            "at_risk": [3, 9, 2],
            "survival": [1.0, 1.0, 1.0],
        }
    )
    km = frames.km_curve(rows)
    assert km["landmark_week"].tolist() == [13, 13, 26]
    assert km["lamp_on"].tolist() == [False, True, True]
    assert km["at_risk"].tolist() == [9, 3, 2]


def test_validation_pair_reads_estimates():
    validation = fx.health_json()["validation"]
    assert takeaways.validation_pair(validation, "concordance") == (0.74, 0.61)
    assert takeaways.validation_pair(validation, "top_decile_lift") == (3.2, 2.0)
    assert all(np.isnan(takeaways.validation_pair({}, "auc")))


def test_action_table_shows_contract_columns_in_order():
    df = pd.read_csv(
        __import__("io").StringIO(
            "rank,account_id,account_name,csm_id,band,health_score,mrr,mrr_at_risk,lamp_rule,weeks_on,action,verdict\n"
            "1,a1,Acme <x>,c1,red,20.5,1000,800.4,x < 0.5,3,Call them,leads churn\n"
        ),
        dtype=str,
    )
    html = _html([pages.action_table(df, "en", "mrr_at_risk", "")])
    headers = [
        h
        for h in (
            "Rank",
            "Account",
            "Account ID",
            "Band",
            "Health score (0–100)",
            "MRR at risk",
            "Lamp",
            "Weeks on",
            "Action",
        )
    ]
    positions = [html.index(f">{h}</th>") for h in headers]
    assert positions == sorted(positions)
    assert ">MRR</th>" not in html and "verdict" not in html and "c1" not in html
    assert "Acme &lt;x&gt;" in html and ">800</td>" in html
    assert '<span class="band band-red">red</span>' in html


# --- takeaways ----------------------------------------------------------------------------


def _monthly(rates):
    return pd.DataFrame(
        {
            "month": pd.date_range("2025-01-01", periods=len(rates), freq="MS"),
            "logo_churn_rate": rates,
        }
    )


def test_churn_trend_sentence_direction():
    up = takeaways.churn_trend_sentence(_monthly([0.01, 0.01, 0.02, 0.03, 0.03, 0.04]), "en")
    assert up == "Logo churn rose from 1.0% to 3.5% per month over the last 6 months."
    down = takeaways.churn_trend_sentence(_monthly([0.04, 0.03, 0.02]), "en")
    assert "fell from 4.0% to 2.0%" in down
    flat = takeaways.churn_trend_sentence(_monthly([0.02, 0.021, 0.0202]), "en")
    assert "held steady at about 2.0%" in flat
    assert takeaways.churn_trend_sentence(_monthly([0.02]), "en") is None


def test_nrr_sentence_threshold_at_100_percent():
    latest = {"nrr_basis": "latest", "latest_month": "2025-03"}
    assert "offsets" in takeaways.nrr_sentence({"nrr": 1.0, **latest}, "en")
    assert takeaways.nrr_sentence({"nrr": 0.95, **latest}, "en") == (
        "Net revenue retention in the latest month (2025-03) is 95.0%: the existing base shrinks"
        " in revenue terms."
    )
    assert takeaways.nrr_sentence({"nrr": None}, "en") is None


def test_takeaway_quotes_the_headline_nrr_over_its_own_window():
    # issue 13: "Net revenue retention is 99.2%" (the monthly figure) under a 12-month NRR
    # headline of 86.1%. The takeaway must quote the headline's figure and name its window.
    kpis = fx.kpis()
    kpis["headline"] |= {
        "nrr_12m": 0.861,
        "grr_12m": 0.83,
        "retention_12m_window": ["2024-03-31", "2025-03-31"],
    }
    monthly = frames.kpi_monthly(kpis)
    head = frames.kpi_headline(kpis, monthly)
    line = takeaways.nrr_sentence(head, "en")
    assert line == (
        "Net revenue retention over the 12 months to 2025-03-31 is 86.1%: the existing base"
        " shrinks in revenue terms."
    )
    assert "99.2%" not in line
    cards = dict((v, k) for k, v in pages.headline_cards(head, 1, "en"))
    assert cards["86.1%"] == "NRR (12 months to 2025-03-31)"
    assert cards["83.0%"] == "GRR (12 months to 2025-03-31)"
    assert cards["2.84%"] == "Monthly logo churn (pooled over 3 observed months)"


def test_executive_takeaways_from_fixture_numbers():
    hyps = frames.hypotheses_table({"hypotheses": fx.HYPOTHESES})
    lines = takeaways.executive_takeaways(
        frames.kpi_monthly(fx.kpis()),
        hyps,
        frames.top_leading(hyps),
        frames.latest_bands(fx.health_scores()),
        fx.health_json()["validation"],
        "en",
    )
    assert lines[0] == "Logo churn rose from 2.0% to 4.0% per month over the last 3 months."
    # without the kpis headline, the latest month's NRR, named as such
    assert lines[1].startswith("Net revenue retention in the latest month (2025-03) is 98.7%")
    assert "2.5× higher" in lines[2] and "1.8–3.5" in lines[2] and "8 weeks ahead" in lines[2]
    assert lines[3].endswith(": 1.")
    # a1 churned in the latest week: not counted; a2 of a2, a4, a6 is red
    assert lines[4].startswith("33.3% of active accounts (1)")
    assert "0.74 (baseline 0.61)" in lines[5]


def test_no_leading_hypothesis_says_so():
    hyps = frames.hypotheses_table({"hypotheses": fx.HYPOTHESES[2:]})
    lines = takeaways.executive_takeaways(
        pd.DataFrame(), hyps, frames.top_leading(hyps), pd.Series(dtype=int), {}, "ja"
    )
    assert lines == [i18n.t("ja", "takeaway.no_leading")]


def test_segment_takeaways_compare_with_all():
    life = frames.account_lifetimes(fx.panel())
    smb = life[life["segment"] == "smb"]
    lines = takeaways.segment_takeaways(smb, life, "en")
    assert lines[0] == "66.7% of these 3 accounts have churned (2)."
    assert lines[1] == "That is higher than the 50.0% across all accounts."


# --- i18n / markup ------------------------------------------------------------------------


def test_every_english_key_is_translated():
    assert i18n.keys("en") == i18n.keys("ja")


def test_verdict_spellings_map_to_words():
    assert i18n.verdict_word("ja", "leads churn") == "チャーンに先行"
    assert i18n.verdict_key("Too late to act on") == "too_late"
    assert i18n.verdict_key("opposite-direction") == "opposite_direction"
    assert i18n.verdict_key(None) == "inconclusive"


def test_unknown_language_is_a_config_error():
    with pytest.raises(ConfigError, match="reports.language"):
        i18n.t("fr", "title.index")


def test_table_escapes_data_but_not_trusted_badges():
    df = pd.DataFrame({"name": [fx.EVIL_NAME], "band": [m.badge("band band-red", "red")]})
    html = m.table(df, raw=["band"])
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons" in html
    assert '<span class="band band-red">red</span>' in html


def test_formatters():
    assert m.fmt_pct(0.0213) == "2.1%"
    assert m.fmt_pct(None) == "–" and m.fmt_pct(np.nan) == "–"
    assert m.fmt_hr(2.5, 1.8, 3.47) == "2.50 (1.80–3.47)"
    assert m.fmt_p(0.0004) == "<0.001" and m.fmt_p(0.0123) == "0.012"
    assert m.fmt_int(1234.4) == "1,234"


# --- catalog --------------------------------------------------------------------------------


ATTRS = {"segment": ["Public sector", "smb", "公共部門"], "customer_goal": ["a/b", "<script>"]}


def _sha8(label: str) -> str:
    return hashlib.sha1(label.encode("utf-8")).hexdigest()[:8]


def test_file_slug_is_safe_stable_and_distinct_for_any_label():
    assert catalog.file_slug("smb") == "smb"
    assert catalog.file_slug("done_for_me") == "done_for_me"
    assert catalog.file_slug("Public sector") == f"public_sector-{_sha8('Public sector')}"
    assert catalog.file_slug("公共部門") == f"value-{_sha8('公共部門')}"
    assert catalog.file_slug("a/b") == f"a_b-{_sha8('a/b')}"
    assert catalog.file_slug("<script>") == f"script-{_sha8('<script>')}"
    assert catalog.file_slug("../etc") == f"etc-{_sha8('../etc')}"
    labels = ["Public sector", "public sector", "public_sector", "Public-Sector", "SMB", "smb",
              "公共部門", "公共部門 ", "a/b", "a\\b", "<script>", "x" * 80, "ÉTÉ", ""]  # fmt: skip
    names = [catalog.file_slug(x) for x in labels]
    assert len(set(names)) == len(labels)  # collision-free, and not by case alone
    assert len({n.lower() for n in names}) == len(labels)
    for name in names:
        assert re.fullmatch(r"[a-z0-9_]{1,40}(-[0-9a-f]{8})?", name), name
    assert catalog.file_slug("ÉTÉ") == f"ete-{_sha8('ÉTÉ')}"
    assert names == [catalog.file_slug(x) for x in labels]  # stable


def test_group_pages_follow_the_data():
    params = {"base": {}, "reports": {"segments": None, "customer_goals": None}}
    reports, skipped = catalog.group_reports(params, ATTRS)
    assert [(r.kind, r.value) for r in reports] == [
        ("segment", "Public sector"),
        ("segment", "smb"),
        ("segment", "公共部門"),
        ("customer_goal", "a/b"),
        ("customer_goal", "<script>"),
    ]
    assert skipped == []
    assert reports[0].html_name == f"groups/segment_public_sector-{_sha8('Public sector')}.html"
    assert reports[1].html_name == "groups/segment_smb.html"
    assert reports[2].title("ja") == "セグメント別レポート: 公共部門"
    assert reports[4].title("en") == "Customer-goal report: <script>"  # escaped where shown
    keys = [r.key for r in catalog.all_reports(params, ATTRS)]
    assert keys[:4] == list(catalog.CORE) and len(keys) == 9
    # no data labels, no group pages (none for values that do not occur)
    assert catalog.group_reports(params, {"segment": [], "customer_goal": []}) == ([], [])


def test_configured_list_restricts_orders_and_skips_values_not_in_the_data():
    params = {
        "base": {},
        "reports": {"segments": ["公共部門", " SMB ", "enterprise", "smb"], "customer_goals": []},
    }
    reports, skipped = catalog.group_reports(params, ATTRS)
    # trimmed, case-insensitive match; the page uses the data's label; duplicates once
    assert [r.value for r in reports] == ["公共部門", "smb"]
    assert skipped == [catalog.Skipped("segment", "enterprise")]
    found = catalog.find(params, f"segment_value-{_sha8('公共部門')}", ATTRS)
    assert found.value == "公共部門"
    with pytest.raises(ConfigError, match="reports.segments"):
        catalog.settings({"reports": {"segments": "smb"}})


def test_notebook_parameters_are_strings():
    params = {
        "base": {"models_dir": "m", "processed_dir": "p", "interim_dir": "i", "reports_dir": "r"},
        "reports": {"language": "ja", "segments": ["007"]},
    }
    attrs = {"segment": ["007"], "customer_goal": []}
    nb_params = catalog.notebook_parameters(params, catalog.find(params, "segment_007", attrs))
    assert nb_params["value"] == "007" and nb_params["dimension"] == "segment"
    assert nb_params["title"] == "セグメント別レポート: 007"
    assert all(isinstance(v, str) for v in nb_params.values())


def test_occurring_values_from_panel_meta_else_the_panel(tmp_path):
    from churnlab.reports.loaders import Paths, occurring_values

    root = fx.write_project(tmp_path / "p")
    paths = Paths.from_dirs(
        root / "models", root / "data/processed", root / "data/interim", root / "reports"
    )
    expected = {"segment": sorted(["smb", fx.PUBLIC, fx.JA_SEGMENT]),
                "customer_goal": sorted(["done_for_me", "learn_myself", fx.EVIL_GOAL])}  # fmt: skip
    assert occurring_values(paths) == expected
    meta = json.loads(paths.panel_meta.read_text())
    meta["attributes"] = {"segment": ["only this"]}  # goals fall back to the panel
    paths.panel_meta.write_text(json.dumps(meta))
    assert occurring_values(paths) == {**expected, "segment": ["only this"]}


# --- plots and rendering helpers ----------------------------------------------------------


def test_png_bytes_are_deterministic_and_carry_no_metadata():
    plotting.apply_style("ja")
    prof = frames.lead_profile({"hypotheses": fx.HYPOTHESES}, "H1")
    a = plotting.png_bytes(plotting.lead_profile(prof, "ライセンス有効化率", "ja"))
    b = plotting.png_bytes(plotting.lead_profile(prof, "ライセンス有効化率", "ja"))
    assert a[:8] == b"\x89PNG\r\n\x1a\n"
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
    assert b"Software" not in a and b"matplotlib" not in a.lower()


def test_japanese_plot_text_has_a_glyph(recwarn):
    plotting.apply_style("ja")
    plotting.png_bytes(plotting.band_mix(pd.Series({"red": 1, "amber": 2, "green": 3}), "ja"))
    missing = [w for w in recwarn if "missing from font" in str(w.message)]
    assert not missing


def test_normalize_strips_volatile_metadata():
    nb = new_notebook(
        cells=[
            new_code_cell(
                "x = 1", metadata={"tags": ["parameters"], "papermill": {"duration": 1.2}}
            ),
            new_code_cell(
                "x",
                execution_count=7,
                outputs=[new_output("execute_result", {"text/plain": "1"}, execution_count=7)],
            ),
        ],
        metadata={
            "papermill": {"start_time": "2026-01-01T00:00:00"},
            "kernelspec": {"name": "churnlab", "display_name": "Python (churnlab)"},
        },
    )
    nb.cells[1].metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:01"}
    out = render.normalize(nb, "T")
    text = nbformat.writes(out)
    assert "2026" not in text and "papermill" not in text and "duration" not in text
    assert [c["id"] for c in out.cells] == ["cell-000", "cell-001"]
    assert out.cells[0].metadata == {"tags": ["parameters"]}
    assert (
        out.cells[1].execution_count is None and out.cells[1].outputs[0]["execution_count"] is None
    )


def test_external_references_are_detected():
    assert render.external_references('<script src="https://cdn.example/x.js"></script>')
    assert render.external_references("<link href='//cdn.example/a.css'>")
    assert render.external_references("body { background: url(http://x/y.png) }")
    assert not render.external_references(
        '<img src="data:image/png;base64,AAAA"><a href="html/a.html">'
    )


def test_missing_kernel_is_a_user_error():
    with pytest.raises(UserError, match="make kernel"):
        render.check_kernel("no-such-kernel-churnlab")


# --- page sections (no kernel) --------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory):
    from churnlab.reports.loaders import Paths, load

    root = fx.write_project(tmp_path_factory.mktemp("units"))
    paths = Paths.from_dirs(
        root / "models",
        root / "data/processed",
        root / "data/interim",
        root / "reports",
        root / "metrics",
    )
    return load(paths, {"kpis", "hypotheses", "health", "actions", "panel", "quality"})


def _html(blocks) -> str:
    """The page's text and tables (figures left out: see _figures), Styler markup reduced
    to plain cells (`<td class="num">1</td>`) so assertions read like the page."""
    html = "".join(
        style.to_html(b) if isinstance(b, pd.DataFrame) else b
        for b in blocks
        if isinstance(b, str | pd.DataFrame)
    )
    html = re.sub(r'<td class="data [^"]*?\bnum"\s*>', '<td class="num">', html)
    html = re.sub(r'<(t[dh]) class="(?:data|col_heading) [^"]*"\s*>', r"<\1>", html)
    return re.sub(r">\s+<", "><", html)


def _figures(blocks) -> int:
    return sum(isinstance(b, Figure) for b in blocks)


def test_hypothesis_sections_show_every_hypothesis(fixture_data):
    blocks = pages.hypothesis_sections(fixture_data, "en")
    html = _html(blocks)
    for h in fx.HYPOTHESES:
        assert h["statement"] in html
    assert "Run an activation workshop with the admin" in html
    assert "DISAGREES" in html  # H2's GLM cross-check disagrees with Cox
    assert "precision 30.0%, recall 55.0%, lift 2.1" in html
    # 3 testable hypotheses x 3 plots; H4 (not testable) gets none
    # 3 testable hypotheses x (lead profile + landmark KM) + H1's threshold curve; H4 none
    assert _figures(blocks) == 7
    assert "No threshold curve is available" in html


def test_action_list_escapes_names_and_groups_by_csm(fixture_data):
    html = _html(pages.action_list(fixture_data, "en"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert fx.JA_NAME in html
    assert "CSM csm_1 — 1 accounts" in html and "CSM csm_2 — 1 accounts" in html


def test_cohort_report_restricts_to_segment(fixture_data):
    html = _html(pages.cohort_report(fixture_data, "en", "segment", "smb"))
    assert "66.7% of these 3 accounts have churned (2)." in html
    assert fx.EVIL_NAME not in html and "&lt;script&gt;" in html  # a2 (smb) is on the action list
    assert fx.JA_NAME not in html  # a6 is in the public sector


def test_data_quality_sections(fixture_data):
    html = _html(pages.data_quality(fixture_data, "en"))
    assert "unknown_account" in html and "surveys, touchpoints" in html
    assert "&lt;img src=&quot;x&quot;" in html and '<img src="x"' not in html


def test_empty_inputs_render_placeholders():
    data = ReportData()
    for blocks in (
        pages.executive_summary(data, "en"),
        pages.hypotheses_overview(data, "en"),
        pages.data_quality(data, "en"),
        pages.action_list(data, "en"),
        pages.cohort_report(data, "en", "segment", "smb"),
    ):
        assert blocks


def test_check_inputs_names_the_missing_file_and_stage(tmp_path):
    from churnlab.reports.loaders import Paths
    from churnlab.reports.stage import check_inputs

    root = fx.write_project(tmp_path / "p")
    paths = Paths.from_dirs(
        root / "models",
        root / "data/processed",
        root / "data/interim",
        root / "reports",
        root / "metrics",
    )
    check_inputs(paths, {"kpis", "hypotheses", "health", "panel", "quality"})
    (root / "models/hypotheses.json").unlink()
    check_inputs(paths, {"kpis", "panel"})  # a segment page does not need it
    with pytest.raises(UserError, match=r"hypotheses.json: not found; run `churnlab hypotheses`"):
        check_inputs(paths, {"hypotheses"})


def test_cjk_glyphs_are_embedded_as_a_small_deterministic_subset():
    from churnlab.reports import fonts

    page = "<html><head><style>x{}</style></head><body><p>株式会社テスト &amp; Acme – 2.5×</p></body></html>"
    assert fonts.needed_characters(page) == "".join(sorted(set("株式会社テスト")))
    out = fonts.embed_cjk_font(page)
    assert out == fonts.embed_cjk_font(page)  # deterministic bytes
    face = out[out.index("@font-face") : out.index("</style>", out.index("@font-face"))]
    assert "data:font/ttf;base64," in face and "http" not in face
    assert len(face) < 60_000  # a subset, not the 4 MB font
    assert (
        fonts.embed_cjk_font("<html><head></head><body>plain ASCII – ×</body></html>").count(
            "@font-face"
        )
        == 0
    )


def test_observed_months_drops_unrecorded_and_partial_months():
    monthly = pd.DataFrame(
        {"month": pd.date_range("2024-11-01", periods=6, freq="MS"), "logo_churn_rate": 0.1}
    )
    kpis = {"headline": {"observation_start": "2024-12-16"}, "monthly": [{"month": "2025-02-01"}]}
    kept = frames.observed_months(monthly, kpis)["month"].dt.strftime("%Y-%m").tolist()
    assert kept == ["2024-12", "2025-01", "2025-02"]
    assert len(frames.observed_months(monthly, {})) == 6


def test_top_actions_truncates_with_a_note(fixture_data):
    html = _html(pages.top_actions(fixture_data, "en", {"a2", "a6"}, n=1))
    assert "Showing the first 1 of 2 rows" in html
    assert "&lt;script&gt;" in html and fx.JA_NAME not in html  # a2 ranks first
    assert "Acme" not in html  # a4's opportunity is not in this group


def test_configured_threshold_gets_a_sentence_not_a_one_point_plot(fixture_data):
    import copy

    html = _html(pages.hypothesis_sections(fixture_data, "en"))
    assert "The threshold (3.00) is set in hypotheses.yaml" in html
    # the suggested one says where it was chosen and where it was tested
    assert "chosen on 3 randomly drawn accounts" in html and "the other 3 accounts" in html
    assert "Rule: sharpest split (largest chi-square)" in html and "lift peaks" in html
    n_plots = _figures(pages.hypothesis_sections(fixture_data, "en"))
    data = copy.copy(fixture_data)
    data.hypotheses = copy.deepcopy(fixture_data.hypotheses)
    h1 = data.hypotheses["hypotheses"][0]
    h1["threshold_source"], h1["threshold_tuning"] = "configured", None
    blocks = pages.hypothesis_sections(data, "en")
    assert "The threshold (0.40) is set in hypotheses.yaml" in _html(blocks)
    assert _figures(blocks) == n_plots - 1  # no curve for H1


def test_action_list_page_shows_the_first_accounts_per_csm_and_points_to_the_csv(
    fixture_data, monkeypatch
):
    import copy

    data = copy.copy(fixture_data)
    one = fixture_data.actions.iloc[[0]]
    # one CSM with 30 accounts, each with two lamp rows, already in priority order
    rows = []
    for i in range(30):
        for hyp in ("H1", "H2"):
            rows.append(one.assign(account_id=f"z{i:02d}", hypothesis_id=hyp, csm_id="csm_9"))
    data.actions = pd.concat(rows, ignore_index=True)
    html = _html(pages.action_list(data, "en"))
    assert "CSM csm_9 — 30 accounts" in html
    assert "The 25 accounts with the most MRR at risk of 30" in html
    assert "reports/action_list.csv" in html
    assert "z24" in html and "z25" not in html
    assert html.count(">z00<") == 2  # both lamps of a shown account stay
    monkeypatch.setattr(pages, "ACCOUNTS_PER_CSM", 40)
    html = _html(pages.action_list(data, "en"))
    assert "z29" in html and "most MRR at risk" not in html


# --- v2: honest headlines, warnings, contract histories, as-of -----------------------------


def test_headline_cards_say_over_how_many_months_they_pool(fixture_data):
    html = _html(pages.executive_summary(fixture_data, "en"))
    cards = dict(
        re.findall(r'<div class="value">([^<]*)</div><div class="label">([^<]*)</div>', html)
    )
    assert cards["2.84%"] == "Monthly logo churn (pooled over 3 observed months)"
    assert cards["96.0%"] == "Monthly GRR (pooled over 3 observed months)"
    assert cards["99.2%"] == "Monthly NRR (pooled over 3 observed months)"
    assert (
        "Monthly net revenue retention, pooled over 3 observed months, is 99.2%: the existing"
        " base shrinks in revenue terms." in html
    )
    assert "98.7%" not in html  # March alone is never quoted beside a pooled headline


def test_pooled_months_falls_back_to_the_monthly_records_in_the_window():
    kpis = fx.kpis()
    del kpis["headline"]["months_pooled"]
    monthly = frames.kpi_monthly(kpis)
    assert frames.pooled_months(kpis, monthly) == 3
    kpis["headline"]["window_months"] = ["2025-03-01", "2025-03-01"]
    assert frames.pooled_months(kpis, monthly) == 1
    head = frames.kpi_headline(kpis, monthly)
    assert takeaways.headline_labels(head, "en")["logo_churn"] == (
        "Monthly logo churn (pooled over 1 observed month)"
    )
    assert frames.pooled_months({}, monthly) is None


def test_percent_axis_never_repeats_a_tick_label():
    plotting.apply_style("en")
    monthly = pd.DataFrame(
        {
            "month": pd.date_range("2025-01-01", periods=4, freq="MS"),
            "logo_churn_rate": [0.010, 0.011, 0.0105, 0.012],
            "grr": [0.981, 0.9815, 0.983, 0.9822],
            "nrr": [0.982, 0.984, 0.9835, 0.983],
        }
    )
    fig = plotting.churn_trend(monthly, "en")
    fig.canvas.draw()
    for ax in fig.axes:
        labels = [tl.get_text() for tl in ax.get_yticklabels() if tl.get_text()]
        assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    assert plotting.distinct_decimals([98.0, 98.2, 98.4]) == 1
    assert plotting.distinct_decimals([98.0, 98.25, 98.5]) == 2
    assert plotting.distinct_decimals([0, 20, 40]) == 0
    plotting.plt.close(fig)


def test_mrr_bridge_has_a_reactivation_line_when_the_kpis_have_one():
    monthly = frames.kpi_monthly(fx.kpis())
    bridge = frames.mrr_bridge(monthly, 3)
    # 600 + 0 new + 20 expansion + 50 reactivated - 10 contraction - 300 churned = 360
    assert bridge["step"].tolist() == [
        "start", "new_mrr", "expansion_mrr", "reactivated_mrr", "contraction_mrr", "churned_mrr",
        "end",
    ]  # fmt: skip
    assert bridge["amount"].tolist() == [600, 0, 20, 50, -10, -300, 360]
    without = frames.mrr_bridge(monthly.drop(columns="reactivated_mrr"), 3)
    assert "reactivated_mrr" not in without["step"].tolist()
    assert without.set_index("step").loc["other", "amount"] == 50  # said, not hidden
    assert frames.mrr_bridge(monthly, 1)["amount"].tolist() == [420, 0, 0, 50, -10, -100, 360]
    assert frames.mrr_bridge(pd.DataFrame(), 3).empty
    assert isinstance(plotting.png_bytes(plotting.mrr_bridge(bridge, "ja")), bytes)


def test_warnings_are_shown_with_what_they_mean(fixture_data):
    for blocks in (
        pages.executive_summary(fixture_data, "en"),
        pages.data_quality(fixture_data, "en"),
    ):
        html = _html(blocks)
        assert "Data warnings" in html
        assert fx.PILE_UP_MESSAGE in html
        assert "What it means: churn in the last month of the data is far above" in html
    import copy

    data = copy.copy(fixture_data)
    data.tables = {
        "warnings": [
            {"code": "single_churn_date", "message": "98% of churns are on 2025-03-16."},
            {"code": "new_code", "message": "Something ingest says."},
        ]
    }
    html = _html(pages.executive_summary(data, "ja"))
    assert "98% of churns are on 2025-03-16." in html and "スナップショット" in html
    assert "Something ingest says." in html
    # a snapshot: the monthly churn trend is not described as a trend
    lines = takeaways.executive_takeaways(
        frames.kpi_monthly(fx.kpis()), pd.DataFrame(), pd.DataFrame(), pd.Series(dtype=int), {},
        "en", warning_codes={"single_churn_date"},
    )  # fmt: skip
    assert not any("Logo churn rose" in line for line in lines)


def test_data_quality_shows_contract_histories_and_snapshots(fixture_data):
    html = _html(pages.data_quality(fixture_data, "en"))
    assert "Contract histories" in html
    assert 'Reactivations (churn followed by a new spell)</td><td class="num">1<' in html
    assert "Accounts with no accepted contract (left out of the panel and KPIs)" in html
    assert "Events of accounts with no accepted contract (left out with them)" in html
    assert '<td class="num">12</td>' in html and "(1 of 1 listed): a9." in html
    assert "Snapshot export" not in html
    import copy

    data = copy.copy(fixture_data)
    data.tables = dict(fixture_data.tables, snapshot=True)
    assert "Snapshot export: accounts and contracts only" in _html(pages.data_quality(data, "en"))


def test_every_page_header_states_the_as_of_date(fixture_data):
    html = _html(pages.header(fixture_data, "en", "T"))
    # one level of parentheses (it used to read "(latest date in the data (events...)).")
    assert "Data as of 2025-03-16, the latest date in the data (events.occurred_at)." in html
    configured = ReportData(tables={"as_of": "2025-03-16", "as_of_source": "base.as_of"})
    assert pages.as_of_sentence(configured, "en") == (
        "Data as of 2025-03-16, set by base.as_of in params.yaml."
    )
    assert pages.as_of_sentence(fixture_data, "ja") == (
        "2025-03-16 時点のデータ(データ中の最新の日付: events.occurred_at)。"
    )
    assert "2025-03-16" in _html(pages.footer(ReportData(kpis={"as_of": "2025-03-16"}), "en"))


def test_group_titles_are_escaped(fixture_data):
    from churnlab.reports.index import index_html

    report = catalog.Report("customer_goal", fx.EVIL_GOAL)
    html = _html(pages.header(fixture_data, "en", report.title("en")))
    assert "<script>" not in html and "a/b &lt;script&gt;x&lt;/script&gt;" in html
    body = _html(pages.cohort_report(fixture_data, "en", "customer_goal", fx.EVIL_GOAL))
    assert "<script>x" not in body and "customer goal = a/b &lt;script&gt;" in body
    assert "0.0% of these 1 accounts have churned (0)." in body  # a6 only
    index = index_html([report], fixture_data, "en", skipped=[catalog.Skipped("segment", "<b>")])
    assert "<script>x" not in index and "&lt;script&gt;x" in index
    assert 'href="html/groups/customer_goal_a_b_script_x_script-' in index
    assert "no page: segment “&lt;b&gt;”" in index


def test_retention_by_billing_period_and_plan_when_the_kpis_have_them(fixture_data):
    import copy

    n_images = _figures(pages.executive_summary(fixture_data, "en"))
    data = copy.copy(fixture_data)
    km = fx.km_curves()
    plan = km[km["by"] == "billing_period"].assign(by="plan", group="Pro 年額")
    data.kpi_tables = dict(fixture_data.kpi_tables, km_curves=pd.concat([km, plan]))
    assert _figures(pages.executive_summary(data, "en")) == n_images + 1
    data.kpi_tables = dict(fixture_data.kpi_tables, km_curves=km[km["by"] != "billing_period"])
    assert _figures(pages.executive_summary(data, "en")) == n_images - 1
    assert i18n.label_text("ja", "billing_period", "annual") == "年払い"
    assert i18n.label_text("ja", "segment", "annual") == "annual"  # only known canonical words
    assert i18n.label_text("en", "plan", "Pro 年額") == "Pro 年額"
