"""Fast tests of the report-side computations, text generators and rendering helpers (no kernel)."""

from __future__ import annotations

import hashlib

import nbformat
import numpy as np
import pandas as pd
import pytest
import reports_fixture_project as fx
from nbformat.v4 import new_code_cell, new_notebook, new_output

from churnlab.errors import ConfigError, UserError
from churnlab.reports import catalog, frames, i18n, pages, plotting, render, takeaways
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
    assert set(curves["group"]) == {"smb", "mid_market", "enterprise"}


def test_monthly_churn_counts_events_over_active_accounts():
    out = frames.monthly_churn(fx.panel()).set_index("month")
    # weeks start 2025-01-06; a5 churns in week 3 (Jan 27), a3 in week 5 (Feb 10), a1 in week 9 (Mar 10)
    assert out["active_accounts"].tolist() == [6, 5, 4]
    assert out["churned"].tolist() == [1, 1, 1]
    assert out["logo_churn_rate"].tolist() == pytest.approx([1 / 6, 1 / 5, 1 / 4])


def test_band_shares_and_latest_bands():
    shares = frames.band_share_by_week(fx.health_scores())
    last = shares.iloc[-1]
    assert last[["red", "amber", "green"]].tolist() == pytest.approx([0.5, 0.25, 0.25])
    assert frames.latest_bands(fx.health_scores()).to_dict() == {"red": 2, "amber": 1, "green": 1}


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
    assert reasons.iloc[0].tolist() == ["events", "unknown_account", 3]
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
    html = pages.action_table(df, "en", "mrr_at_risk", "")
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
    assert "offsets" in takeaways.nrr_sentence(pd.DataFrame({"nrr": [0.9, 1.0]}), "en")
    assert "shrinks" in takeaways.nrr_sentence(pd.DataFrame({"nrr": [1.1, 0.95]}), "en")


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
    assert "98.7%" in lines[1] and "shrinks" in lines[1]
    assert "2.5× higher" in lines[2] and "1.8–3.5" in lines[2] and "8 weeks ahead" in lines[2]
    assert lines[3].endswith(": 1.")
    assert lines[4].startswith("50.0% of active accounts (2)")
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


def test_catalog_lists_one_report_per_segment_and_goal():
    params = {
        "base": {},
        "reports": {"segments": ["smb", "01"], "customer_goals": ["learn_myself"]},
    }
    keys = [r.key for r in catalog.all_reports(params)]
    assert keys == [*catalog.CORE, "segment_smb", "segment_01", "customer_goal_learn_myself"]
    assert catalog.find(params, "segment_01").value == "01"  # string ids stay strings


def test_catalog_rejects_path_like_values():
    params = {"base": {}, "reports": {"segments": ["../etc"]}}
    with pytest.raises(ConfigError, match="reports.segments"):
        catalog.all_reports(params)


def test_notebook_parameters_are_strings():
    params = {
        "base": {"models_dir": "m", "processed_dir": "p", "interim_dir": "i", "reports_dir": "r"},
        "reports": {"language": "ja", "segments": ["007"]},
    }
    nb_params = catalog.notebook_parameters(params, catalog.find(params, "segment_007"))
    assert nb_params["value"] == "007" and nb_params["dimension"] == "segment"
    assert nb_params["title"] == "セグメント別レポート: 007"
    assert all(isinstance(v, str) for v in nb_params.values())


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
    return "".join(b for b in blocks if isinstance(b, str))


def test_hypothesis_sections_show_every_hypothesis(fixture_data):
    blocks = pages.hypothesis_sections(fixture_data, "en")
    html = _html(blocks)
    for h in fx.HYPOTHESES:
        assert h["statement"] in html
    assert "Run an activation workshop with the admin" in html
    assert "DISAGREES" in html  # H2's GLM cross-check disagrees with Cox
    assert "Precision 30.0%, recall 55.0%, lift 2.1" in html
    # 3 testable hypotheses x 3 plots; H4 (not testable) gets none
    # 3 testable hypotheses x (lead profile + landmark KM) + H1's threshold curve; H4 none
    assert sum(isinstance(b, bytes) for b in blocks) == 7
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
    assert fx.JA_NAME not in html  # a6 is mid_market


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
    n_plots = sum(isinstance(b, bytes) for b in pages.hypothesis_sections(fixture_data, "en"))
    data = copy.copy(fixture_data)
    data.hypotheses = copy.deepcopy(fixture_data.hypotheses)
    h1 = data.hypotheses["hypotheses"][0]
    h1["threshold_source"], h1["threshold_tuning"] = "configured", None
    blocks = pages.hypothesis_sections(data, "en")
    assert "The threshold (0.40) is set in hypotheses.yaml" in _html(blocks)
    assert sum(isinstance(b, bytes) for b in blocks) == n_plots - 1  # no curve for H1


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
