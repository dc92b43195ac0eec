"""The Grafana dashboards (charts/umbrella/dashboards): what an on-call engineer relies on.

test_chart_checks checks that they render as ConfigMaps and that their PromQL names metrics
and labels the code exports; these tests check what the panels show: the five dashboards,
the SLO targets (the original ones and ours), the limits drawn as lines, and queries that
aggregate the way the metrics are produced.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import promql_parser
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.chart import CHART_DIR
from umbrella.observability.metrics import Metrics

DASHBOARDS = CHART_DIR / "dashboards"
TITLES = {
    "overview": "Umbrella / Overview",
    "slos": "Umbrella / SLOs",
    "quotas": "Umbrella / Quotas",
    "jobs": "Umbrella / Jobs",
    "providers": "Umbrella / Providers",
}
GRID_WIDTH = 24
# Gauges the worker samples from Postgres: every worker pod reports the same value.
SAMPLED_GAUGES = {
    "umbrella_queue_depth",
    "umbrella_queue_oldest_job_age_seconds",
    "umbrella_jobs_held_failed",
    "umbrella_outbox_backlog",
    "umbrella_cron_last_success_timestamp_seconds",
    "umbrella_storage_used_bytes",
    "umbrella_violet_prompts_today",
    "umbrella_violet_prompts_today_max",
    "umbrella_violet_artists_at_daily_limit",
}
PROFILE_ROUTES = ["/v1/profile/{artist_id}", "/v1/artists/{artist_id}"]
MARKETPLACE_ROUTES = ["/v1/gigs", "/v1/gigs/{gig_id}", "/v1/search", "/v1/artists"]
OPERATIONAL_ROUTES = ["/livez", "/readyz", "/health", "/metrics"]
Panel = dict[str, Any]


@functools.cache
def dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in DASHBOARDS.glob("*.json")}


def panels(name: str | None = None) -> Iterator[tuple[str, Panel]]:
    for stem, dashboard in sorted(dashboards().items()):
        if name is None or stem == name:
            for panel in dashboard["panels"]:
                yield stem, panel


def exprs(panel: Panel) -> list[str]:
    return [target["expr"] for target in panel.get("targets", [])]


def parse(expr: str) -> Any:
    return promql_parser.parse(expr.replace("$namespace", "umbrella"))


def walk(node: Any, aggregation: str | None = None) -> Iterator[tuple[Any, str | None]]:
    """Every vector selector of a PromQL tree, with the innermost aggregation around it."""
    if isinstance(node, promql_parser.VectorSelector):
        yield node, aggregation
        return
    if isinstance(node, promql_parser.AggregateExpr):
        aggregation = str(node.op)
    for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, (str, int, float)):
            yield from walk(child, aggregation)
    for child in getattr(node, "args", None) or []:
        yield from walk(child, aggregation)


def selectors(panel: Panel) -> Iterator[Any]:
    for expr in exprs(panel):
        for selector, _ in walk(parse(expr)):
            yield selector


def matcher(selector: Any, label: str) -> Any:
    found = [m for m in selector.matchers.matchers if m.name == label]
    return found[0] if found else None


def reference_lines(panel: Panel) -> dict[float, str]:
    """Lines drawn on a panel: constant series (`vector(N)`, by legend) and threshold lines."""
    lines = {}
    for target in panel.get("targets", []):
        tree = parse(target["expr"])
        if isinstance(tree, promql_parser.Call) and tree.func.name == "vector":
            lines[float(tree.args[0].val)] = target["legendFormat"]
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    style = defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode", "off")
    if style != "off":
        for step in defaults["thresholds"]["steps"]:
            if step["value"] is not None:
                lines[float(step["value"])] = "threshold"
    return lines


def find(name: str, *needles: str, kind: str = "timeseries") -> Panel:
    """The one panel of a kind in a dashboard whose queries contain every needle."""
    found = [
        p
        for _, p in panels(name)
        if p["type"] == kind and all(any(n in e for e in exprs(p)) for n in needles)
    ]
    assert len(found) == 1, (name, needles, [p["title"] for p in found])
    return found[0]


# --- the set of dashboards --------------------------------------------------------------------


def test_exactly_the_five_dashboards_with_unique_uids() -> None:
    assert {stem: d["title"] for stem, d in dashboards().items()} == TITLES
    uids = [d["uid"] for d in dashboards().values()]
    assert len(set(uids)) == len(uids)
    assert all(uid.startswith("umbrella-") for uid in uids)


@pytest.mark.parametrize("name", sorted(TITLES))
def test_datasource_and_namespace_are_variables(name: str) -> None:
    dashboard = dashboards()[name]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["namespace"]["type"] == "query"
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["schemaVersion"] >= 39
    for _, panel in panels(name):
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_every_selector_is_scoped_to_the_namespace_variable() -> None:
    for stem, panel in panels():
        for selector in selectors(panel):
            found = matcher(selector, "namespace")
            assert found is not None, (stem, panel["title"])
            assert found.value == "umbrella", (stem, panel["title"])
            assert found.op == promql_parser.MatchOp.Equal


def test_every_panel_says_what_good_looks_like() -> None:
    for stem, panel in panels():
        assert len(panel.get("description", "")) >= 40, (stem, panel["title"])
        if panel["type"] != "text":
            assert "Good" in panel["description"], (stem, panel["title"])
            assert panel["targets"], (stem, panel["title"])
        assert panel["type"] in {"timeseries", "stat", "bargauge", "text"}


@pytest.mark.parametrize("name", sorted(TITLES))
def test_panels_fit_the_grid_without_overlapping(name: str) -> None:
    boxes = []
    for _, panel in panels(name):
        grid = panel["gridPos"]
        assert min(grid["x"], grid["y"]) >= 0
        assert min(grid["w"], grid["h"]) > 0
        assert grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
        boxes.append((panel["title"], grid["x"], grid["y"], grid["w"], grid["h"]))
    for i, (title, x, y, w, h) in enumerate(boxes):
        for other, x2, y2, w2, h2 in boxes[i + 1 :]:
            apart = x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y
            assert apart, (name, title, other)
    ids = [panel["id"] for _, panel in panels(name)]
    assert len(ids) == len(set(ids))


# --- queries that aggregate the way the metrics are produced ----------------------------------


def test_gauges_sampled_from_postgres_are_taken_with_max_across_workers() -> None:
    """Every worker pod reports the same sampled value: `sum` would multiply it by the pods."""
    seen = set()
    for stem, panel in panels():
        for expr in exprs(panel):
            for selector, aggregation in walk(parse(expr)):
                if selector.name in SAMPLED_GAUGES:
                    seen.add(selector.name)
                    assert aggregation == "max", (stem, panel["title"], expr)
    assert seen == SAMPLED_GAUGES


def _excludes_operational_routes(route: Any) -> bool:
    matched = [re.fullmatch(route.value, path) is not None for path in OPERATIONAL_ROUTES]
    if route.op == promql_parser.MatchOp.NotRe:
        return all(matched)
    if route.op == promql_parser.MatchOp.Re:
        return route.value != "$route" and not any(matched)
    return bool(route.op == promql_parser.MatchOp.Equal and route.value not in OPERATIONAL_ROUTES)


def test_request_selectors_leave_out_operational_routes() -> None:
    for stem, panel in panels():
        for selector in selectors(panel):
            if selector.name.startswith("umbrella_http_request_duration_seconds"):
                routes = [m for m in selector.matchers.matchers if m.name == "route"]
                assert any(_excludes_operational_routes(r) for r in routes), (stem, panel["title"])


def _bucket_bounds() -> dict[str, set[str]]:
    """The `le` values each histogram of the code exposes (as Prometheus stores them)."""
    metrics = Metrics()
    metrics.http_request_duration.labels("/r", "GET", "200", "").observe(0)
    metrics.job_duration.labels("j").observe(0)
    metrics.external_request_duration.labels("s", "success").observe(0)
    bounds: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                bounds.setdefault(sample.name, set()).add(sample.labels["le"])
    return bounds


def test_bucket_selectors_use_bounds_the_histograms_have() -> None:
    """`le="1"` would select nothing: the client exposes 1.0. A missing bound is an empty panel."""
    bounds = _bucket_bounds()
    used = set()
    for stem, panel in panels():
        for selector in selectors(panel):
            le = matcher(selector, "le")
            if le is not None:
                assert le.op == promql_parser.MatchOp.Equal
                assert le.value in bounds[selector.name], (stem, panel["title"], le.value)
                used.add(le.value)
    assert {"0.02", "0.04", "0.5", "1.0"} <= used


# --- the SLO dashboard ------------------------------------------------------------------------


def _routes_selected(panel: Panel) -> set[str]:
    """The API routes a panel's latency queries select (equality or regex), GET only."""
    routes = set()
    for selector in selectors(panel):
        route = matcher(selector, "route")
        if route is None or route.op not in (promql_parser.MatchOp.Equal, promql_parser.MatchOp.Re):
            continue
        assert matcher(selector, "method").value == "GET", panel["title"]
        candidates = [*PROFILE_ROUTES, *MARKETPLACE_ROUTES, "/v1/gigs/{gig_id}/apply", "/v1/me"]
        if route.op == promql_parser.MatchOp.Equal:
            routes.add(route.value)
        else:
            routes |= {r for r in candidates if re.fullmatch(route.value, r)}
    return routes


def test_slo_latency_panels_carry_the_original_and_our_targets() -> None:
    latency = [
        p for _, p in panels("slos") if any("histogram_quantile(0.95" in e for e in exprs(p))
    ]
    profile = [
        p
        for p in latency
        if p["type"] == "timeseries" and _routes_selected(p) == set(PROFILE_ROUTES)
    ]
    market = [
        p
        for p in latency
        if p["type"] == "timeseries" and _routes_selected(p) == set(MARKETPLACE_ROUTES)
    ]
    assert len(profile) == len(market) == 1
    for panel, original, ours in ((profile[0], 0.5, 0.02), (market[0], 1.0, 0.04)):
        lines = reference_lines(panel)
        assert {original, ours} <= set(lines), panel["title"]
        assert "original" in lines[original]
        assert "our" in lines[ours]


def test_slo_stats_turn_red_at_the_original_target() -> None:
    for routes, ours, original in (
        (set(PROFILE_ROUTES), 0.02, 0.5),
        (set(MARKETPLACE_ROUTES), 0.04, 1),
    ):
        (stat,) = [
            p for _, p in panels("slos") if p["type"] == "stat" and _routes_selected(p) == routes
        ]
        steps = {
            s["value"]: s["color"] for s in stat["fieldConfig"]["defaults"]["thresholds"]["steps"]
        }
        assert steps[ours] == "yellow"
        assert steps[original] == "red"


def test_slo_faster_than_target_panels_use_the_target_buckets() -> None:
    for routes, bounds in (
        (set(PROFILE_ROUTES), {"0.02", "0.5"}),
        (set(MARKETPLACE_ROUTES), {"0.04", "1.0"}),
    ):
        (panel,) = [
            p
            for _, p in panels("slos")
            if "le=" in "".join(exprs(p)) and _routes_selected(p) == routes
        ]
        les = {matcher(s, "le").value for s in selectors(panel) if matcher(s, "le") is not None}
        assert les == bounds
        assert 0.95 in reference_lines(panel)  # P95 target met when 95 % are faster


def test_slo_text_explains_which_target_is_the_original_and_which_is_ours() -> None:
    (text,) = [p for _, p in panels("slos") if p["type"] == "text"]
    content = text["options"]["content"]
    for words in ("original", "our", "500 ms", "20 ms", "1 s", "40 ms", "99.9", "5 %"):
        assert words in content, words


def _recorded(window: str, slo: str = "availability") -> str:
    """A ratio the chart's PrometheusRule records (templates/monitoring/prometheusrule.yaml)."""
    return f'umbrella:slo_error_ratio:rate{window}{{namespace="$namespace",slo="{slo}"}}'


def test_slo_error_rate_availability_budget_and_burn_rate() -> None:
    """The SLO panels read the ratios the burn-rate alerts read, never 30 days of raw series."""
    error_rate = find("slos", _recorded("5m"))
    assert 0.05 in reference_lines(error_rate)
    availability = [p for _, p in panels("slos") if "availability" in p["title"].lower()]
    assert {p["type"] for p in availability} == {"stat", "timeseries"}
    assert all(exprs(p)[0] == f"1 - {_recorded('30d')}" for p in availability)
    budget = [p for _, p in panels("slos") if "budget remaining" in p["title"].lower()]
    assert {p["type"] for p in budget} == {"stat", "timeseries"}
    for expr in (e for p in budget for e in exprs(p)):
        assert expr == f"1 - ({_recorded('30d')} / 0.001)"
    burn = find("slos", f"{_recorded('1h')} / 0.001", f"{_recorded('6h')} / 0.001")
    assert burn["type"] == "timeseries"
    assert {14.4, 6} <= set(reference_lines(burn))
    for _, panel in panels("slos"):
        for expr in exprs(panel):
            assert "[30d]" not in expr, panel["title"]


def test_slo_latency_burn_rates_divide_by_the_five_percent_budget() -> None:
    for slo in ("profile", "marketplace"):
        burn = find("slos", f"{_recorded('1h', slo)} / 0.05", f"{_recorded('6h', slo)} / 0.05")
        assert {14.4, 6} <= set(reference_lines(burn))


# --- quotas, jobs, providers ------------------------------------------------------------------


def test_quotas_show_the_violet_limit_of_50_a_day() -> None:
    violet = find("quotas", "umbrella_violet_prompts_today_max")
    assert 50 in reference_lines(violet)
    find("quotas", "umbrella_violet_artists_at_daily_limit", "umbrella_violet_prompts_today{")
    find("quotas", "umbrella_violet_prompts_total")
    find("quotas", "umbrella_storage_quota_rejections_total", "[1h]")


def test_quotas_show_upload_failures_against_5_an_hour() -> None:
    failures = find("quotas", 'umbrella_uploads_total{namespace="$namespace",outcome="failed"}[1h]')
    assert 5 in reference_lines(failures)
    find("quotas", "sum by (purpose, step, outcome) (increase(umbrella_uploads_total")


def test_jobs_show_the_outbox_limits_and_the_25_hour_cron_line() -> None:
    outbox = find("jobs", "max by (channel) (umbrella_outbox_backlog")
    lines = reference_lines(outbox)
    assert "email" in lines[100]
    assert "sms" in lines[50]
    cron = find("jobs", "time() - max by (cron_job) (umbrella_cron_last_success")
    assert reference_lines(cron) == {25 * 3600: "threshold"}
    for metric in ("umbrella_queue_depth", "umbrella_queue_oldest_job_age_seconds"):
        assert any(f"max by (task) ({metric}" in e for _, p in panels("jobs") for e in exprs(p))
    find("jobs", "histogram_quantile(0.95, sum by (le, task) (rate(umbrella_job_duration")
    find("jobs", "sum by (task, outcome) (rate(umbrella_jobs_total")


def test_providers_show_errors_against_their_limits_and_latency_from_the_histogram() -> None:
    errors = find("providers", "sum by (provider) (increase(", 'outcome!="success"')
    lines = reference_lines(errors)
    assert "Resend / Twilio" in lines[10]
    assert "anthropic" in lines[5]
    for quantile in ("0.5", "0.95"):
        panel = find(
            "providers",
            f"histogram_quantile({quantile}, sum by (le, provider) "
            "(rate(umbrella_external_request_duration_seconds_bucket",
        )
        assert panel["fieldConfig"]["defaults"]["unit"] == "s"
    find("providers", "sum by (provider, outcome) (rate(umbrella_external_requests_total")


def test_jobs_show_the_stalled_queue_limit_of_30_minutes() -> None:
    age = find("jobs", "max by (task) (umbrella_queue_oldest_job_age_seconds")
    assert reference_lines(age) == {1800: "threshold"}
