"""Base measures behind the indicators, grouped in blocks (one block per source table).

A block is a list of SQL CTEs (DuckDB dialect, transpiled to Spark SQL by the panel) whose
last CTE `b_<name>` has exactly one row per spine row `(account_id, wk)` and only columns
computed from data strictly before the week starts. Indicator expressions in `catalog.py`
read those columns as `<name>.<column>`.

Time is handled as integers so the SQL is identical on every engine: `dn` = days since
Monday 1970-01-05 (UTC dates), `wk` = floor(dn / 7) = week index, week start = day 7*wk.
"Strictly before week wk" is then simply `week(x) < wk`. The spine the blocks see is dense:
every week from the account's first spell start to its last spine week, including the weeks
between two spells (dropped from the panel at the end), so "the previous N spine rows" are
always the previous N calendar weeks. Three patterns recur:
- previous week: join the weekly aggregate at `awk = wk - 1`;
- last N weeks: sum the previous-week values over the spine rows `N-1 PRECEDING .. CURRENT`;
- ever before / latest so far: bin at the first week the fact is visible,
  `t = greatest(week(x) + 1, first_wk)` (earlier facts land in the first spine week), then a
  running MAX/MIN/SUM over the spine.

Labels with a meaning (the login event type, the key-person role, meeting kinds, milestones,
the feature-request ticket category) come from `Settings.vocabulary` (params `vocabulary:`),
compared case-insensitively; nothing here names a user's label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from churnlab.indicators.vocabulary import Vocabulary

EPOCH_MONDAY = "1970-01-05"
# Steps that scan the raw events and group by account_id: an engine may run them on slices
# of accounts and append the results (DuckDB does, to bound memory on big event logs).
ACCOUNT_SLICEABLE_STEPS = frozenset({"ev_uwk", "ev_ftype"})
# Event-type meanings that are not product features (feature breadth leaves them out).
FEATURE_EXCLUDED = ("login", "data_export")


@dataclass(frozen=True)
class Settings:
    """Values the SQL needs (params.yaml `panel:` and `vocabulary:`, tables.json `as_of`),
    passed as literals."""

    as_of: str | None = None  # 'YYYY-MM-DD' (tables.json "as_of"); required to build a panel
    trailing_weeks: int = 4
    mau_weeks: int = 4
    window_weeks: int = 4
    csm_change_weeks: int = 8
    nps_answer_days: int = 14
    has_plan: bool = True  # contract_terms has a `plan` column
    vocabulary: Vocabulary = field(default_factory=Vocabulary)


# Integer day arithmetic: microseconds since 1970 shifted by a whole number of weeks
# (700,000 days, back to the year 54) so that integer division floors for any real date.
_DAY_US = 86_400_000_000
_SHIFT_DAYS = 700_000


def dn(col: str) -> str:
    """Day number of a date/timestamp column (UTC calendar day). In integers, via epoch
    microseconds (`EPOCH_US`; Spark: UNIX_MICROS, see query.to_spark): not a cast to DATE
    (a zoned timestamp -> date cast goes through ICU and costs 4x more on the events), nor
    floating-point epoch seconds (~20% slower on the events pass). 1970-01-05 is epoch day 4."""
    return f"((EPOCH_US({col}) + {_SHIFT_DAYS * _DAY_US}) // {_DAY_US} - {_SHIFT_DAYS + 4})"


def wk(col: str) -> str:
    """Week index (Monday-based) of a date/timestamp column."""
    return f"CAST(FLOOR({dn(col)} / 7) AS BIGINT)"


def _win(frame: str) -> str:
    return f"OVER (PARTITION BY s.account_id ORDER BY s.wk ROWS BETWEEN {frame})"


RUNNING = _win("UNBOUNDED PRECEDING AND CURRENT ROW")


def last_n(n: int) -> str:
    """Window over the current and n-1 previous spine rows (= the n weeks before the week)."""
    return (
        _win(f"{n - 1} PRECEDING AND CURRENT ROW") if n > 1 else _win("CURRENT ROW AND CURRENT ROW")
    )


def trailing(n: int) -> str:
    """The n spine rows before the current one (= the n weeks before the previous week)."""
    return _win(f"{n} PRECEDING AND 1 PRECEDING")


@dataclass(frozen=True)
class Block:
    name: str
    tables: tuple[str, ...]
    needs: tuple[str, ...]  # other blocks whose CTEs this block reads
    ctes: Callable[..., list[tuple[str, str]]]  # (Settings[, wanted columns]) -> CTEs
    # ctes also takes the set of b_<name> columns the indicators read, and builds only
    # what those need (the panel passes it; None = every column).
    by_columns: bool = False


def _ctr(s: Settings, columns: frozenset[str] | None = None) -> list[tuple[str, str]]:
    """The contract block. b_ctr always has the current piece's billing_period, plan, mrr
    and seats (panel columns); renewal_dn and mrr_before only when `columns` names them
    (None: all), as their month arithmetic and windows cost a third of the block."""
    steps = [
        (
            "ctr_iv",
            """
            SELECT account_id, spell, billing_period, plan, mrr, seats, cs_dn,
                   CASE WHEN ROW_NUMBER() OVER (PARTITION BY account_id, spell
                                                ORDER BY start_dn, contract_id) = 1
                        THEN -1000000 ELSE start_dn END AS from_dn,
                   LEAD(start_dn) OVER (PARTITION BY account_id, spell
                                        ORDER BY start_dn, contract_id) AS to_dn,
                   CASE WHEN billing_period = 'annual' THEN 12 ELSE 1 END AS term_m
            FROM terms
            """,
        ),
        (
            "ctr_cur",
            f"""
            SELECT s.account_id, s.wk, c.billing_period, c.plan, c.mrr, c.seats, c.term_m,
                   c.start_date,
                   (YEAR(s.week_date) - YEAR(c.start_date)) * 12
                     + MONTH(s.week_date) - MONTH(c.start_date) AS months_in
            FROM spine s
            JOIN (SELECT *, DATE '{EPOCH_MONDAY}' + CAST(cs_dn AS INTEGER) AS start_date
                  FROM ctr_iv) c
              ON c.account_id = s.account_id AND c.spell = s.spell AND c.from_dn <= 7 * s.wk
             AND (c.to_dn IS NULL OR 7 * s.wk < c.to_dn)
            """,
        ),
    ]
    wanted = {"renewal_dn", "mrr_before"} if columns is None else set(columns)
    values = ["c.billing_period", "c.plan", "c.mrr", "c.seats"]
    source = "ctr_cur"
    if "renewal_dn" in wanted:
        steps.append(
            (
                "ctr_next",
                """
            SELECT *, ADD_MONTHS(start_date, term_m * periods) AS cand
            FROM (SELECT *, GREATEST(1, CAST(CEIL(months_in / term_m) AS INTEGER)) AS periods
                  FROM ctr_cur) x
            """,
            )
        )
        source = "ctr_next"
        values.append(
            f"""CASE WHEN {dn("c.cand")} >= 7 * s.wk THEN {dn("c.cand")}
                        ELSE {dn("ADD_MONTHS(c.start_date, c.term_m * (c.periods + 1))")}
                   END AS renewal_dn"""
        )
    if "mrr_before" in wanted:
        # MRR `trailing_weeks` earlier within the spell (at a reactivation, the first week
        # of the new spell is the baseline: the gap had no MRR to compare with).
        values.append(
            f"""COALESCE(LAG(c.mrr, {s.trailing_weeks}) OVER (PARTITION BY s.account_id, s.spell
                                                                  ORDER BY s.wk),
                            FIRST_VALUE(c.mrr) OVER (PARTITION BY s.account_id, s.spell
                                                     ORDER BY s.wk ROWS BETWEEN
                                                     UNBOUNDED PRECEDING AND CURRENT ROW))
                     AS mrr_before"""
        )
    steps.append(
        (
            "b_ctr",
            f"""
            SELECT s.account_id, s.wk, {", ".join(values)}
            FROM spine s
            LEFT JOIN {source} c ON c.account_id = s.account_id AND c.wk = s.wk
            """,
        )
    )
    return steps


# b_ev's columns: SQL over the spine `s` and the weekly aggregates, and what each reads
# (per user-week aggregates of ev_uwk, or other CTEs). `_ev` builds only what the wanted
# columns need, so a panel of five usage indicators skips the feature and MAU passes.
_EV_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "events": ("COALESCE(e.events, 0)", ("n",)),
    "events_before": (
        "COALESCE(LAG(e.events) OVER (PARTITION BY s.account_id ORDER BY s.wk), 0)",
        ("n",),
    ),
    "events_trailing_mean": ("AVG(COALESCE(e.events, 0)) {trailing}", ("n",)),
    "exports": ("COALESCE(e.exports, 0)", ("exports",)),
    "report_views_window": (
        "SUM(COALESCE(e.report_views, 0)) {window}",
        ("report_views",),
    ),
    "wau": ("COALESCE(e.wau, 0)", ("wau",)),
    "active_days": ("COALESCE(e.active_days, 0)", ("day_mask",)),
    "user_days": ("COALESCE(e.user_days, 0)", ("day_mask",)),
    "mau": ("SUM(COALESCE(m.delta, 0)) {running}", ("ev_mau_delta",)),
    "features_used": ("COALESCE(f.features_used, 0)", ("ev_feat",)),
    "features_available": ("fa.features_available", ("ev_feat_avail",)),
    "last_login_dn": ("MAX(l.last_login_dn) {running}", ("last_login_dn", "ev_login_t")),
}
# ev_uwk aggregate -> ev_wk columns it feeds (ev_wk reads only the wanted ones).
_EV_WEEKLY = {
    "n": "SUM(n) AS events",
    "exports": "SUM(exports) AS exports",
    "report_views": "SUM(report_views) AS report_views",
    "wau": "COUNT(*) AS wau",
    "day_mask": "BIT_COUNT(BIT_OR(day_mask)) AS active_days, SUM(BIT_COUNT(day_mask)) AS user_days",
    "last_login_dn": "MAX(last_login_dn) AS last_login_dn",
}


def ev_columns(wanted: frozenset[str] | None = None) -> tuple[str, ...]:
    """b_ev's columns, all or those wanted (in a fixed order); unknown names are an error."""
    if wanted is None:
        return tuple(_EV_COLUMNS)
    unknown = sorted(set(wanted) - set(_EV_COLUMNS) - {"account_id", "wk"})  # the join keys
    if unknown:
        raise ValueError(f"b_ev has no column(s) {', '.join(unknown)}")
    return tuple(c for c in _EV_COLUMNS if c in wanted)


def _ev(s: Settings, columns: frozenset[str] | None = None) -> list[tuple[str, str]]:
    """The events block; `columns`: the b_ev columns the indicators read (None: all). The
    user-week pass over the raw events always runs (kp reads its `n`); its other aggregates,
    the feature-type pass and the MAU / login steps only when a wanted column needs them."""
    v = s.vocabulary
    cols = ev_columns(columns)
    reads = {r for c in cols for r in _EV_COLUMNS[c][1]}

    def is_type(*meanings: str) -> str:
        return v.is_("et", "event_type", *meanings, normalised=True)

    uwk_aggs = {
        "exports": f"SUM(CASE WHEN {is_type('data_export')} THEN 1 ELSE 0 END) AS exports",
        "report_views": f"SUM(CASE WHEN {is_type('report_view')} THEN 1 ELSE 0 END) "
        "AS report_views",
        "last_login_dn": f"MAX(CASE WHEN {is_type('login')} THEN dn END) AS last_login_dn",
        "day_mask": "BIT_OR(1 << CAST(dn - 7 * awk AS INTEGER)) AS day_mask",
    }
    wanted_aggs = [sql for name, sql in uwk_aggs.items() if name in reads]
    # The event type is normalised (LOWER(TRIM)) once per row, and only when a wanted
    # aggregate compares it with the vocabulary.
    et = (
        "LOWER(TRIM(event_type)) AS et, "
        if reads & {"exports", "report_views", "last_login_dn"}
        else ""
    )
    steps: list[tuple[str, str]] = [
        # The pass over the raw events every events indicator shares: per user-week, the
        # event count and the aggregates the wanted columns need (counts by meaning, the
        # last login, a 7-bit mask of active weekdays: active days and user-days then come
        # without another pass over the events).
        (
            "ev_uwk",
            f"""
            SELECT account_id, user_id, awk, {", ".join(["COUNT(*) AS n", *wanted_aggs])}
            FROM (SELECT account_id, user_id, {et}dn, CAST(FLOOR(dn / 7) AS BIGINT) AS awk
                  FROM (SELECT account_id, user_id, {"event_type, " if et else ""}
                               {dn("occurred_at")} AS dn
                        FROM events) e0) e
            GROUP BY account_id, user_id, awk
            """,
        ),
    ]
    weekly = [sql for name, sql in _EV_WEEKLY.items() if name in reads]
    if weekly:
        steps.append(
            (
                "ev_wk",
                f"""
            SELECT account_id, awk, {", ".join(weekly)}
            FROM ev_uwk
            GROUP BY account_id, awk
            """,
            )
        )
    if reads & {"ev_feat", "ev_feat_avail"}:
        # The second pass over the raw events: which feature types each account used.
        steps.append(
            (
                "ev_ftype",
                f"""
            SELECT account_id, {wk("occurred_at")} AS awk, event_type
            FROM events WHERE NOT ({v.is_("event_type", "event_type", *FEATURE_EXCLUDED)})
            GROUP BY account_id, {wk("occurred_at")}, event_type
            """,
            )
        )
    if "ev_feat" in reads:
        steps.append(
            (
                "ev_feat",
                """
            SELECT account_id, awk, COUNT(*) AS features_used
            FROM ev_ftype GROUP BY account_id, awk
            """,
            )
        )
    if "ev_feat_avail" in reads:
        # Features "available" at week wk = feature types anyone had used before wk.
        steps.append(
            (
                "ev_feat_avail",
                """
            SELECT w.wk, COUNT(f.event_type) AS features_available
            FROM (SELECT DISTINCT wk FROM spine) w
            LEFT JOIN (SELECT event_type, MIN(awk) AS first_awk FROM ev_ftype
                       GROUP BY event_type) f
              ON f.first_awk < w.wk
            GROUP BY w.wk
            """,
            )
        )
    if "ev_mau_delta" in reads:
        # Distinct users over the last M weeks without expanding rows: a user active in
        # week awk counts for target weeks awk+1 .. awk+M, cut where their next active week
        # takes over, so each user's intervals never overlap; +1/-1 at the interval ends
        # and a running sum over the spine give the distinct count.
        steps += [
            (
                "ev_mau_iv",
                f"""
            SELECT account_id, awk + 1 AS t_from,
                   LEAST(awk + {s.mau_weeks},
                         COALESCE(LEAD(awk) OVER (PARTITION BY account_id, user_id ORDER BY awk),
                                  awk + {s.mau_weeks})) + 1 AS t_to
            FROM ev_uwk
            """,
            ),
            (
                "ev_mau_delta",
                """
            SELECT d.account_id, GREATEST(d.t, a.first_wk) AS t, SUM(d.delta) AS delta
            FROM (SELECT account_id, t_from AS t, 1 AS delta FROM ev_mau_iv
                  UNION ALL
                  SELECT account_id, t_to AS t, -1 AS delta FROM ev_mau_iv) d
            JOIN acc a ON a.account_id = d.account_id
            GROUP BY d.account_id, GREATEST(d.t, a.first_wk)
            """,
            ),
        ]
    if "ev_login_t" in reads:
        steps.append(
            (
                "ev_login_t",
                """
            SELECT e.account_id, GREATEST(e.awk + 1, a.first_wk) AS t,
                   MAX(e.last_login_dn) AS last_login_dn
            FROM ev_wk e JOIN acc a ON a.account_id = e.account_id
            WHERE e.last_login_dn IS NOT NULL
            GROUP BY e.account_id, GREATEST(e.awk + 1, a.first_wk)
            """,
            )
        )
    fill = {
        "trailing": trailing(s.trailing_weeks),
        "window": last_n(s.window_weeks),
        "running": RUNNING,
    }
    select = ",\n                   ".join(
        f"{_EV_COLUMNS[c][0].format(**fill)} AS {c}" for c in cols
    )
    joins = [
        ("ev_wk e", "e.account_id = s.account_id AND e.awk = s.wk - 1", bool(weekly)),
        ("ev_feat f", "f.account_id = s.account_id AND f.awk = s.wk - 1", "ev_feat" in reads),
        ("ev_feat_avail fa", "fa.wk = s.wk", "ev_feat_avail" in reads),
        ("ev_mau_delta m", "m.account_id = s.account_id AND m.t = s.wk", "ev_mau_delta" in reads),
        ("ev_login_t l", "l.account_id = s.account_id AND l.t = s.wk", "ev_login_t" in reads),
    ]
    join_sql = "\n            ".join(f"LEFT JOIN {t} ON {on}" for t, on, used in joins if used)
    steps.append(
        (
            "b_ev",
            f"""
            SELECT s.account_id, s.wk{"," if cols else ""}
                   {select}
            FROM spine s
            {join_sql}
            """,
        )
    )
    return steps


def _kp(s: Settings) -> list[tuple[str, str]]:
    return [
        (
            "kp_wk",
            f"""
            SELECT d.account_id, d.awk, SUM(d.n) AS kp_events
            FROM ev_uwk d
            JOIN users u ON u.user_id = d.user_id AND u.account_id = d.account_id
            WHERE {s.vocabulary.is_("u.role", "role", "key_person")}
            GROUP BY d.account_id, d.awk
            """,
        ),
        (
            "b_kp",
            f"""
            SELECT s.account_id, s.wk, COALESCE(k.kp_events, 0) AS kp_events,
                   AVG(COALESCE(k.kp_events, 0)) {trailing(s.trailing_weeks)} AS kp_trailing_mean
            FROM spine s
            LEFT JOIN kp_wk k ON k.account_id = s.account_id AND k.awk = s.wk - 1
            """,
        ),
    ]


def _usr(s: Settings) -> list[tuple[str, str]]:
    return [
        (
            "usr_t",
            f"""
            SELECT u.account_id, GREATEST({wk("u.activated_at")} + 1, a.first_wk) AS t,
                   COUNT(*) AS n
            FROM users u JOIN acc a ON a.account_id = u.account_id
            WHERE u.activated_at IS NOT NULL
            GROUP BY u.account_id, GREATEST({wk("u.activated_at")} + 1, a.first_wk)
            """,
        ),
        (
            "b_usr",
            f"""
            SELECT s.account_id, s.wk, SUM(COALESCE(u.n, 0)) {RUNNING} AS activated_users
            FROM spine s LEFT JOIN usr_t u ON u.account_id = s.account_id AND u.t = s.wk
            """,
        ),
    ]


def _tk(s: Settings) -> list[tuple[str, str]]:
    # Response time in whole microseconds: a 'second' DATE_DIFF counts second boundaries in
    # DuckDB but elapsed seconds in Spark, which differ by 1 s on sub-second timestamps.
    n = s.window_weeks
    return [
        (
            "tk_open",
            f"""
            SELECT account_id, {wk("opened_at")} AS awk, COUNT(*) AS opened,
                   SUM(CASE WHEN {s.vocabulary.is_("category", "ticket_category", "feature_request")}
                            THEN 1 ELSE 0 END) AS fr
            FROM tickets GROUP BY account_id, {wk("opened_at")}
            """,
        ),
        (
            "tk_resp",
            f"""
            SELECT account_id, {wk("first_response_at")} AS awk, COUNT(*) AS responded,
                   SUM(DATE_DIFF('microsecond', opened_at, first_response_at)) / 3600000000.0
                     AS hours
            FROM tickets WHERE first_response_at IS NOT NULL
            GROUP BY account_id, {wk("first_response_at")}
            """,
        ),
        (
            "b_tk",
            f"""
            SELECT s.account_id, s.wk,
                   SUM(COALESCE(o.opened, 0)) {last_n(n)} AS opened,
                   SUM(COALESCE(o.fr, 0)) {last_n(n)} AS feature_requests,
                   SUM(COALESCE(r.responded, 0)) {last_n(n)} AS responded,
                   SUM(COALESCE(r.hours, 0.0)) {last_n(n)} AS response_hours
            FROM spine s
            LEFT JOIN tk_open o ON o.account_id = s.account_id AND o.awk = s.wk - 1
            LEFT JOIN tk_resp r ON r.account_id = s.account_id AND r.awk = s.wk - 1
            """,
        ),
    ]


def _tp(s: Settings) -> list[tuple[str, str]]:
    v = s.vocabulary
    kind = "touchpoint_kind"
    return [
        (
            "tp_wk",
            f"""
            SELECT account_id, {wk("occurred_at")} AS awk,
                   SUM(CASE WHEN {v.is_("kind", kind, "event_attendance")}
                            THEN 1 ELSE 0 END) AS attendance,
                   MAX(CASE WHEN {v.is_("kind", kind, "meeting", "decision_maker_meeting", "qbr")}
                            THEN {dn("occurred_at")} END) AS meeting_dn,
                   MAX(CASE WHEN {v.is_("kind", kind, "decision_maker_meeting")}
                            THEN {dn("occurred_at")} END) AS dm_dn
            FROM touchpoints GROUP BY account_id, {wk("occurred_at")}
            """,
        ),
        (
            "tp_t",
            """
            SELECT p.account_id, GREATEST(p.awk + 1, a.first_wk) AS t,
                   MAX(p.meeting_dn) AS meeting_dn, MAX(p.dm_dn) AS dm_dn
            FROM tp_wk p JOIN acc a ON a.account_id = p.account_id
            GROUP BY p.account_id, GREATEST(p.awk + 1, a.first_wk)
            """,
        ),
        (
            "b_tp",
            f"""
            SELECT s.account_id, s.wk,
                   SUM(COALESCE(p.attendance, 0)) {last_n(s.window_weeks)} AS event_attendance,
                   MAX(t.meeting_dn) {RUNNING} AS last_meeting_dn,
                   MAX(t.dm_dn) {RUNNING} AS last_dm_dn
            FROM spine s
            LEFT JOIN tp_wk p ON p.account_id = s.account_id AND p.awk = s.wk - 1
            LEFT JOIN tp_t t ON t.account_id = s.account_id AND t.t = s.wk
            """,
        ),
    ]


def _nps(s: Settings) -> list[tuple[str, str]]:
    # Each survey is "the latest one old enough to judge" from the first week whose Monday is
    # more than nps_answer_days after it was sent, until the next survey takes over; it is
    # unanswered at week wk if no answer came before wk. The last score works the same way
    # over answered surveys, from the week after the answer.
    return [
        (
            "nps_due",
            f"""
            SELECT account_id, answered_wk, t_from,
                   LEAD(t_from) OVER (PARTITION BY account_id
                                      ORDER BY sent_at, survey_id) AS t_to
            FROM (SELECT account_id, survey_id, sent_at,
                         {wk("answered_at")} AS answered_wk,
                         CAST(FLOOR(({dn("sent_at")} + {s.nps_answer_days}) / 7) AS BIGINT) + 1
                           AS t_from
                  FROM surveys) x
            """,
        ),
        (
            "nps_ans",
            f"""
            SELECT account_id, CAST(nps_score AS DOUBLE) AS score,
                   {wk("answered_at")} + 1 AS t_from,
                   LEAD({wk("answered_at")} + 1) OVER (PARTITION BY account_id
                                                      ORDER BY answered_at, survey_id) AS t_to
            FROM surveys WHERE answered_at IS NOT NULL AND nps_score IS NOT NULL
            """,
        ),
        (
            "b_nps",
            """
            SELECT s.account_id, s.wk,
                   CASE WHEN d.t_from IS NULL THEN NULL
                        WHEN d.answered_wk IS NULL OR d.answered_wk >= s.wk THEN 1.0
                        ELSE 0.0 END AS unanswered,
                   a.score AS last_score
            FROM spine s
            LEFT JOIN nps_due d ON d.account_id = s.account_id AND d.t_from <= s.wk
                               AND (d.t_to IS NULL OR s.wk < d.t_to)
            LEFT JOIN nps_ans a ON a.account_id = s.account_id AND a.t_from <= s.wk
                               AND (a.t_to IS NULL OR s.wk < a.t_to)
            """,
        ),
    ]


def _csm(s: Settings) -> list[tuple[str, str]]:
    return [
        (
            "csm_chg",
            f"""
            SELECT account_id, {wk("start_date")} AS awk, COUNT(*) AS changes
            FROM (SELECT account_id, csm_id, start_date,
                         LAG(csm_id) OVER (PARTITION BY account_id
                                           ORDER BY start_date, csm_id) AS prev_csm
                  FROM csm_assignments) x
            WHERE prev_csm IS NOT NULL AND prev_csm <> csm_id
            GROUP BY account_id, {wk("start_date")}
            """,
        ),
        (
            "b_csm",
            f"""
            SELECT s.account_id, s.wk,
                   SUM(COALESCE(c.changes, 0)) {last_n(s.csm_change_weeks)} AS changes
            FROM spine s
            LEFT JOIN csm_chg c ON c.account_id = s.account_id AND c.awk = s.wk - 1
            """,
        ),
    ]


def _ms(s: Settings) -> list[tuple[str, str]]:
    def reached(meaning: str) -> str:
        return s.vocabulary.is_("m.milestone", "milestone", meaning)

    return [
        (
            "ms_t",
            f"""
            SELECT m.account_id, GREATEST({wk("m.achieved_at")} + 1, a.first_wk) AS t,
                   MAX(CASE WHEN {reached("first_login")} THEN 1.0 ELSE 0.0 END) AS first_login,
                   MAX(CASE WHEN {reached("onboarding_complete")} THEN 1.0 ELSE 0.0 END)
                     AS onboarding_done,
                   MAX(CASE WHEN {reached("training_complete")} THEN 1.0 ELSE 0.0 END)
                     AS training_done,
                   MAX(CASE WHEN {reached("goal_achieved")} THEN 1.0 ELSE 0.0 END) AS goal_done,
                   MIN(CASE WHEN {reached("onboarding_complete")}
                            THEN {dn("m.achieved_at")} END) AS onboarding_dn
            FROM milestones m JOIN acc a ON a.account_id = m.account_id
            GROUP BY m.account_id, GREATEST({wk("m.achieved_at")} + 1, a.first_wk)
            """,
        ),
        (
            "b_ms",
            f"""
            SELECT s.account_id, s.wk,
                   MAX(COALESCE(m.first_login, 0.0)) {RUNNING} AS first_login,
                   MAX(COALESCE(m.onboarding_done, 0.0)) {RUNNING} AS onboarding_done,
                   MAX(COALESCE(m.training_done, 0.0)) {RUNNING} AS training_done,
                   MAX(COALESCE(m.goal_done, 0.0)) {RUNNING} AS goal_done,
                   MIN(m.onboarding_dn) {RUNNING} AS onboarding_dn
            FROM spine s LEFT JOIN ms_t m ON m.account_id = s.account_id AND m.t = s.wk
            """,
        ),
    ]


BLOCKS: dict[str, Block] = {
    b.name: b
    for b in (
        Block("ctr", ("contracts",), (), _ctr, by_columns=True),
        Block("ev", ("events",), (), _ev, by_columns=True),
        Block("kp", ("events", "users"), ("ev",), _kp),
        Block("usr", ("users",), (), _usr),
        Block("tk", ("tickets",), (), _tk),
        Block("tp", ("touchpoints",), (), _tp),
        Block("nps", ("surveys",), (), _nps),
        Block("csm", ("csm_assignments",), (), _csm),
        Block("ms", ("milestones",), (), _ms),
    )
}
