"""Render every report with papermill on the hand-made fixture project and check the HTML."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
import reports_fixture_project as fx
from page_diff import page_differences

from churnlab.config import load_params
from churnlab.reports import stage
from churnlab.reports.__main__ import main as reports_main

pytestmark = pytest.mark.e2e


def _sha8(label: str) -> str:
    return hashlib.sha1(label.encode("utf-8")).hexdigest()[:8]


# reports.segments null (every label in the data), reports.customer_goals a list whose second
# value does not occur: group pages follow the data, with safe names for any label.
GOAL_PAGE = f"groups/customer_goal_a_b_script_x_script-{_sha8(fx.EVIL_GOAL)}"
EXPECTED = sorted(
    [
        "action_list",
        "data_quality",
        "executive_summary",
        "hypotheses",
        "groups/segment_smb",
        f"groups/segment_public_sector-{_sha8(fx.PUBLIC)}",
        f"groups/segment_value-{_sha8(fx.JA_SEGMENT)}",
        GOAL_PAGE,
    ]
)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _render(root: Path) -> None:
    old = Path.cwd()
    os.chdir(root)
    try:
        stage.run(load_params("params.yaml"))
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = fx.write_project(
        tmp_path_factory.mktemp("reports_en"), segments=None, goals=(fx.EVIL_GOAL, "enterprise")
    )
    _render(root)
    return root


def _pages(project: Path) -> dict[str, str]:
    html = project / "reports/html"
    return {
        p.relative_to(html).with_suffix("").as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(html.rglob("*.html"))
    }


def test_every_report_is_rendered(project):
    assert sorted(_pages(project)) == EXPECTED
    assert (project / "reports/index.html").exists()


def test_reports_are_self_contained_and_codeless(project):
    for name, html in {
        **_pages(project),
        "index": (project / "reports/index.html").read_text(),
    }.items():
        assert "<script" not in html, name
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html), name
        assert "url(http" not in html and "@import" not in html, name
        assert "show(pages" not in html and "jp-InputArea" not in html, name  # no code cells
        assert "Traceback" not in html and "application/vnd.jupyter.stderr" not in html, name
        for src in re.findall(r'<img[^>]+src="([^"]+)"', html):
            assert src.startswith("data:image/png;base64,"), (name, src[:40])


def test_each_report_has_its_sections_and_images(project):
    pages = _pages(project)
    expected = {
        "executive_summary": [
            "Headline figures",
            "Takeaways",
            "Retention curves",
            "Cohort retention",
            "Health-score bands over time",
            "The indicators that lead churn most strongly",
        ],
        "hypotheses": [
            "Verdicts",
            "Lead profile",
            "Retention by lamp state (landmark)",
            "Where the lamp should switch on",
            "Lamp performance",
            "Suggested action",
        ],
        "data_quality": [
            "Accepted and quarantined rows per table",
            "Why rows were quarantined",
            "Missing optional tables",
            "Examples of quarantined rows",
        ],
        "action_list": ["Health bands this week", "Accounts to act on, by CSM", "Opportunities"],
        "groups/segment_smb": ["Segment report: smb", "Takeaways", "Retention curves"],
    }
    for name, headings in expected.items():
        for h in headings:
            assert h in pages[name], (name, h)
    n_images = {k: v.count("data:image/png;base64,") for k, v in pages.items()}
    assert n_images["hypotheses"] == 7  # lead profile + KM x 3 testable, 1 threshold curve
    # churn trend, MRR bridge, retention by segment and by billing period, cohorts, bands, HRs
    assert n_images["executive_summary"] == 7
    assert n_images["groups/segment_smb"] == 3


def test_numbers_match_the_model_files(project):
    pages = _pages(project)
    hyp = json.loads((project / "models/hypotheses.json").read_text())["hypotheses"]
    h1 = next(h for h in hyp if h["id"] == "H1")
    assert (
        f"{h1['hazard_ratio']:.2f} ({h1['ci_low']:.2f}–{h1['ci_high']:.2f})" in pages["hypotheses"]
    )
    assert "2.50 (1.80–3.47)" in pages["executive_summary"]
    kpis = json.loads((project / "models/kpis.json").read_text())
    assert f"{kpis['headline']['monthly_nrr'] * 100:.1f}%" in pages["executive_summary"]  # 99.2%
    assert "Monthly NRR (pooled over 3 observed months)" in pages["executive_summary"]
    assert "concordance 0.74 (baseline 0.61)" in pages["executive_summary"]
    assert "1,022" in pages["data_quality"] or "1,000" in pages["data_quality"]
    index = (project / "reports/index.html").read_text()
    assert "1 of 4 hypotheses lead churn" in index
    assert "Monthly logo churn 2.84% (pooled over 3 observed months)" in index
    # smb: a1 and a2 scored red in the last week, but a1 churned that week
    assert "3 accounts, 2 churned; 1 in the red band now." in index
    for page in pages.values():
        assert "Data as of 2025-03-16" in page


def test_data_names_are_escaped(project):
    pages = _pages(project)
    # quotes in text may be left literal by a serialiser; markup characters never are
    assert any(
        escaped in pages["action_list"]
        for escaped in (
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons",
            '&lt;script&gt;alert("x")&lt;/script&gt; &amp; Sons',
        )
    )
    assert fx.JA_NAME in pages["action_list"]
    # the user's labels are page titles: escaped in <title> and <h1>, never markup
    goal = pages[GOAL_PAGE]
    assert "<script>x</script>" not in goal
    assert "<h1>Customer-goal report: a/b &lt;script&gt;x&lt;/script&gt;</h1>" in goal
    assert re.search(
        r"<title>Customer-goal report: a/b &lt;script&gt;x&lt;/script&gt;</title>", goal
    )
    ja = pages[f"groups/segment_value-{_sha8(fx.JA_SEGMENT)}"]
    assert f"<h1>Segment report: {fx.JA_SEGMENT}</h1>" in ja
    assert "Accounts with segment = 公共部門." in ja
    assert "&lt;img src=" in pages["data_quality"] and '<img src="x"' not in pages["data_quality"]


def test_index_links_every_report(project):
    index = (project / "reports/index.html").read_text()
    links = re.findall(r'href="([^"]+)"', index)
    assert sorted(links) == sorted(f"html/{k}.html" for k in EXPECTED)
    assert (
        "Configured in params.yaml but not in the data, so no page: customer goal “enterprise”"
        in index
    )
    for link in links:
        assert (project / "reports" / link).exists()


def test_rerender_is_byte_identical(project):
    before = {k: v.encode() for k, v in _pages(project).items()}
    index_before = (project / "reports/index.html").read_bytes()
    old = Path.cwd()
    os.chdir(project)
    try:  # the commands dvc.yaml's stages call, in fresh kernels
        assert reports_main(["render", "hypotheses"]) == 0
        assert reports_main(["groups"]) == 0
        assert reports_main(["index"]) == 0
    finally:
        os.chdir(old)
    after = {k: v.encode() for k, v in _pages(project).items()}
    assert after == before, page_differences(after, before)
    assert (project / "reports/index.html").read_bytes() == index_before


def test_japanese_reports(tmp_path):
    root = fx.write_project(tmp_path / "ja", language="ja", segments=("smb",), goals=())
    old = Path.cwd()
    os.chdir(root)
    try:
        params = load_params("params.yaml")
        stage.render_reports(params, ["hypotheses"])
        stage.write_index(params)
    finally:
        os.chdir(old)
    hyp = (root / "reports/html/hypotheses.html").read_text()
    assert '<html lang="ja">' in hyp
    assert "仮説の検証結果" in hyp and "チャーンに先行" in hyp and "先行プロファイル" in hyp
    assert "適合率 30.0%、再現率 55.0%" in hyp
    index = (root / "reports/index.html").read_text()
    assert "churnlab レポート一覧" in index and "3 社、うち解約 2 社" in index
    # the groups command: pages for the configured labels only; stale pages are removed
    groups = root / "reports/html/groups"
    groups.mkdir(parents=True, exist_ok=True)
    (groups / "segment_enterprise.html").write_text("from an older run")
    os.chdir(root)
    try:
        assert reports_main(["groups"]) == 0
    finally:
        os.chdir(old)
    assert sorted(p.name for p in groups.iterdir()) == ["segment_smb.html"]
    assert "<h1>セグメント別レポート: smb</h1>" in (groups / "segment_smb.html").read_text()


def test_failed_notebook_is_reported_with_its_path(tmp_path):
    root = fx.write_project(tmp_path / "bad", segments=(), goals=())
    (root / "models/hypotheses.json").write_text('{"hypotheses": [{"id": "X", "lead_profile": 5}]}')
    old = Path.cwd()
    os.chdir(root)
    try:
        with pytest.raises(Exception, match=r"hypothesis_verdicts.ipynb.*reports/failed/"):
            stage.render_reports(load_params("params.yaml"), ["hypotheses"])
    finally:
        os.chdir(old)
    assert not (root / "reports/html/hypotheses.html").exists()
    # the executed copy, traceback included, is kept in the project itself
    assert '"output_type": "error"' in (root / "reports/failed/hypotheses.ipynb").read_text()


def _screenshot(page, path: Path) -> None:
    """Full-page screenshot; pages taller than Chromium's capture limit are clipped."""
    from playwright.sync_api import Error

    try:
        page.screenshot(path=str(path), full_page=True)
    except Error:
        clip = {"x": 0, "y": 0, "width": 1100, "height": 12000}
        page.screenshot(path=str(path), full_page=True, clip=clip)


@pytest.mark.browser
def test_reports_in_headless_chromium(project, tmp_path):
    """Open the index and every linked report offline; nothing may leave the machine."""
    if not CHROMIUM.exists():
        pytest.fail(
            "/usr/bin/chromium is missing: `make test` installs it (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    requests, console_errors, failed = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on(
                "console",
                lambda msg: console_errors.append(msg.text) if msg.type == "error" else None,
            )
            page.on("pageerror", lambda exc: console_errors.append(str(exc)))
            # anything not local is aborted (and recorded above), so the test can never fetch
            page.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith(("file://", "data:"))
                    else route.abort()
                ),
            )
            index = (project / "reports/index.html").resolve().as_uri()
            page.goto(index)
            _screenshot(page, shots / "index.png")
            links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            assert len(links) == len(EXPECTED)
            for link in links:
                response = page.goto(link)
                assert response is not None and response.ok, link
                images = page.eval_on_selector_all(
                    "img", "els => els.map(e => [e.complete, e.naturalWidth])"
                )
                assert images, f"{link}: no images"
                assert all(done and width > 0 for done, width in images), link
                assert page.locator("h1").count() == 1, link
                # embedded CJK glyph subsets (fonts.py) must load, e.g. for 株式会社テスト
                fonts = page.evaluate(
                    "document.fonts.ready.then(f => Array.from(f).map(x => [x.family, x.status]))"
                )
                assert all(status == "loaded" for _, status in fonts), (link, fonts)
                if "action_list" in link:
                    assert [f for f, _ in fonts] == ['"churnlab-cjk"'] or ["churnlab-cjk"] == [
                        f for f, _ in fonts
                    ], fonts
                _screenshot(page, shots / (Path(link).stem + ".png"))
        finally:
            browser.close()
    assert not console_errors, console_errors
    assert not failed, failed
    outside = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert not outside, outside
    assert len(list(shots.glob("*.png"))) == len(EXPECTED) + 1


def test_kernels_talk_over_private_ipc_sockets_and_leave_nothing(project):
    """Render workers start kernels at the same moment; TCP ports picked by jupyter_client
    can collide, so kernels use IPC sockets in a temporary directory that is removed."""
    left = [p for p in project.rglob("*") if p.is_socket() or p.name.startswith(("kernel-", "k-"))]
    assert left == []
