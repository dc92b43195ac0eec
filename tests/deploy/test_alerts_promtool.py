"""The alerts, checked and unit-tested by promtool on the PrometheusRule a real helm renders.

Every alert has its own file of promtool rule tests, `tests/deploy/alerts/<alert>.yaml`, with
a case where each of its rules fires, a case where it stays silent on a plausible series, and,
when it has a `for`, a case showing it pending before it fires. The files read the rendered
groups as `prometheusrule.yaml` in their own directory: the test writes them there, next to
copies of the files. The chart's default values are rendered, so the tests see the documented
thresholds and `for`s.

By hand: `.tools/bin/helm template umbrella charts/umbrella --namespace umbrella
--set metrics.prometheusRule.enabled=true --show-only templates/monitoring/prometheusrule.yaml`,
keep its `.spec` as `prometheusrule.yaml` beside copies of the files, and run
`promtool test rules *.yaml` there.
"""

from __future__ import annotations

import copy
import math
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from tests.deploy import tools
from tests.deploy.chart import CHART_DIR, NAMESPACE, RELEASE, VALUES_PRODUCTION
from umbrella.observability.metrics import LATENCY_BUCKETS

ALERT_TESTS = Path(__file__).parent / "alerts"
RULES_NAME = "prometheusrule.yaml"
TEMPLATE = "templates/monitoring/prometheusrule.yaml"


# Value sets that change which rules exist: production adds labels to every alert, and a
# queue with a limit of its own gets a rule next to the one for every other queue.
LINTED = {
    "default": ("--set", "metrics.prometheusRule.enabled=true"),
    "production-queue-limits": (
        "--values", str(VALUES_PRODUCTION),
        "--set", "metrics.prometheusRule.queueDepth.queues.send_sms=50",
        "--set", "metrics.prometheusRule.queueDepth.queues.send_broadcast=1000",
    ),
}  # fmt: skip


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )  # fmt: skip


def _render(directory: Path, *values: str) -> Path:
    """The rule groups helm renders with these value arguments, as promtool reads them."""
    rendered = _run(
        tools.helm(), "template", RELEASE, str(CHART_DIR), "--namespace", NAMESPACE,
        "--show-only", TEMPLATE, *values,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    (rule,) = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    assert rule["kind"] == "PrometheusRule"
    path = directory / RULES_NAME
    path.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    return path


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(tmp_path_factory.mktemp("alerts"), *LINTED["default"])


@pytest.fixture(scope="module")
def every_rule(rules_file: Path) -> list[dict[str, Any]]:
    """The recording rules and the alerts."""
    spec = yaml.safe_load(rules_file.read_text())
    return [rule for group in spec["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def rules(every_rule: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts."""
    return [rule for rule in every_rule if "alert" in rule]


def _test_files() -> dict[str, dict[str, Any]]:
    return {path.stem: yaml.safe_load(path.read_text()) for path in ALERT_TESTS.glob("*.yaml")}


# --- what a file of rule tests covers ----------------------------------------------------------


@dataclass
class Coverage:
    """What one file's cases show about one alert."""

    firing: list[dict[str, str]] = field(default_factory=list)  # labels of each firing alert
    silent: int = 0  # series on which it never fires, not just not yet
    pending: bool = False


def _labels(text: str) -> dict[str, str]:
    """The labels of a promtool series string, `ALERTS{alertname="X",alertstate="pending"}`."""
    return dict(re.findall(r'(\w+)="([^"]*)"', text))


def coverage(alert: str, tests: dict[str, Any]) -> Coverage:
    """The firing, silent and pending cases of `alert` in one file of rule tests."""
    found = Coverage()
    for group in tests.get("tests") or []:
        cases = [c for c in group.get("alert_rule_test") or [] if c.get("alertname") == alert]
        expected = [e for case in cases for e in case.get("exp_alerts") or []]
        found.firing += [
            {str(k): str(v) for k, v in (e.get("exp_labels") or {}).items()} for e in expected
        ]
        found.silent += bool(cases) and not expected
        for case in group.get("promql_expr_test") or []:
            for sample in case.get("exp_samples") or []:
                labels = _labels(sample.get("labels", ""))
                if labels.get("alertname") == alert and labels.get("alertstate") == "pending":
                    found.pending = True
    return found


def _has_for(rule: dict[str, Any]) -> bool:
    return any(int(n) for n in re.findall(r"\d+", str(rule.get("for", "0"))))


def missing_cases(rules: list[dict[str, Any]], files: dict[str, dict[str, Any]]) -> list[str]:
    """What the test files fail to show about the rendered rules; empty when nothing."""
    problems = []
    names = sorted({rule["alert"] for rule in rules})
    for name in names:
        tests = files.get(name)
        if tests is None:
            problems.append(f"{name}: no {ALERT_TESTS.name}/{name}.yaml")
            continue
        if tests.get("rule_files") != [RULES_NAME]:
            problems.append(f"{name}: rule_files must be [{RULES_NAME}]")
        found = coverage(name, tests)
        for rule in (r for r in rules if r["alert"] == name):
            static = {k: str(v) for k, v in rule.get("labels", {}).items()}
            if not any(static.items() <= labels.items() for labels in found.firing):
                where = ",".join(f"{k}={v}" for k, v in static.items())
                problems.append(f"{name} {where}: no case where it fires")
            if _has_for(rule) and not found.pending:
                problems.append(f"{name}: no case showing it pending before its for elapses")
        if not found.silent:
            problems.append(f"{name}: no case where it stays silent")
    problems += [f"{stray}.yaml: no such alert" for stray in sorted(files.keys() - set(names))]
    return sorted(set(problems))


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("values", LINTED.values(), ids=LINTED.keys())
def test_the_rendered_rules_pass_promtool_lint(tmp_path: Path, values: tuple[str, ...]) -> None:
    rules_file = _render(tmp_path, *values)
    checked = _run(tools.promtool(), "check", "rules", "--lint-fatal", str(rules_file))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_every_alert_has_a_firing_a_silent_and_a_pending_case(rules: list[dict[str, Any]]) -> None:
    assert len({rule["alert"] for rule in rules}) >= 15
    assert missing_cases(rules, _test_files()) == []


def test_the_case_check_notices_what_is_missing(rules: list[dict[str, Any]]) -> None:
    files = _test_files()

    def without(alert: str, keep: Callable[[dict[str, Any]], bool]) -> dict[str, dict[str, Any]]:
        """The files with only the alert_rule_test cases of `alert` that `keep` accepts."""
        changed = copy.deepcopy(files)
        for group in changed[alert]["tests"]:
            group["alert_rule_test"] = [c for c in group.get("alert_rule_test", []) if keep(c)]
            group.pop("promql_expr_test", None)
        return changed

    quiet = without("UmbrellaTargetDown", lambda case: not case["exp_alerts"])
    assert missing_cases(rules, quiet) == [
        "UmbrellaTargetDown severity=critical,component=api,namespace=umbrella: no case where it"
        " fires",
        "UmbrellaTargetDown severity=critical,component=worker,namespace=umbrella: no case where"
        " it fires",
        "UmbrellaTargetDown: no case showing it pending before its for elapses",
    ]
    loud = without("UmbrellaCronJobLate", lambda case: case["exp_alerts"])
    assert missing_cases(rules, loud) == ["UmbrellaCronJobLate: no case where it stays silent"]
    # Silent only until its `for` has elapsed is not a healthy series.
    not_yet = copy.deepcopy(files)
    not_yet["UmbrellaTargetDown"]["tests"] = not_yet["UmbrellaTargetDown"]["tests"][:1]
    assert missing_cases(rules, not_yet) == ["UmbrellaTargetDown: no case where it stays silent"]
    gone = {name: tests for name, tests in files.items() if name != "UmbrellaProviderErrors"}
    assert missing_cases(rules, gone) == [
        f"UmbrellaProviderErrors: no {ALERT_TESTS.name}/UmbrellaProviderErrors.yaml"
    ]


@pytest.mark.parametrize("tests", sorted(ALERT_TESTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_promtool_rule_tests_pass(rules_file: Path, tests: Path) -> None:
    shutil.copy(tests, rules_file.parent / tests.name)
    tested = _run(tools.promtool(), "test", "rules", tests.name, cwd=rules_file.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr


# --- what Alertmanager and the SLO dashboard rely on ----------------------------------------------


def _aggregations(node: Any) -> list[Any]:
    """Every aggregation (`sum`, `max`, …) of a PromQL tree."""
    found = [node] if isinstance(node, promql_parser.AggregateExpr) else []
    for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, (str, int, float)):
            found += _aggregations(child)
    for child in getattr(node, "args", None) or []:
        found += _aggregations(child)
    return found


def _kept_labels(aggregation: Any) -> set[str]:
    modifier = aggregation.modifier
    if modifier is None or modifier.type != promql_parser.AggModifierType.By:
        return set()
    return set(modifier.labels)


def test_every_aggregation_keeps_the_namespace(every_rule: list[dict[str, Any]]) -> None:
    """Alertmanager routes by `namespace`: no alert or recorded series may sum it away."""
    seen = 0
    for rule in every_rule:
        for aggregation in _aggregations(promql_parser.parse(rule["expr"])):
            seen += 1
            name = rule.get("alert") or rule["record"]
            assert "namespace" in _kept_labels(aggregation), (name, str(aggregation))
    assert seen > 50
    # The check itself: an aggregation without `by (namespace)` is caught.
    (bare,) = _aggregations(promql_parser.parse("max(umbrella_queue_depth) > 1"))
    assert "namespace" not in _kept_labels(bare)


def test_every_alert_fires_with_its_namespace() -> None:
    """Alertmanager routes by `namespace`: each firing case of every file shows it on the alert."""
    firing = 0
    for name, tests in _test_files().items():
        for labels in coverage(name, tests).firing:
            firing += 1
            assert labels.get("namespace") == NAMESPACE, (name, labels)
    assert firing > 40


def test_the_burn_rate_alerts_read_the_recorded_ratios(every_rule: list[dict[str, Any]]) -> None:
    recorded = {(r["record"], r["labels"]["slo"]) for r in every_rule if "record" in r}
    slos = {slo for _, slo in recorded}
    assert slos == {"availability", "profile", "marketplace"}
    windows = ("5m", "30m", "1h", "6h", "3d", "30d")
    for slo in slos:
        for window in windows:
            assert (f"umbrella:slo_error_ratio:rate{window}", slo) in recorded
    burns = [r for r in every_rule if r.get("alert", "").endswith("BudgetBurn")]
    assert {(r["labels"]["slo"], r["labels"]["window"]) for r in burns} == {
        (slo, window) for slo in slos for window in ("1h", "6h", "3d")
    }
    pages = {r["labels"]["window"]: r for r in burns if r["labels"]["slo"] == "availability"}
    assert "rate1h" in pages["1h"]["expr"]
    assert "rate5m" in pages["1h"]["expr"]
    assert "14.4 * (1 - 0.999)" in pages["1h"]["expr"]
    assert "rate6h" in pages["6h"]["expr"]
    assert "rate30m" in pages["6h"]["expr"]
    assert "6 * (1 - 0.999)" in pages["6h"]["expr"]
    assert {r["labels"]["severity"] for r in pages.values()} == {"critical", "warning"}
    assert pages["3d"]["labels"]["severity"] == "warning"


def test_latency_slo_thresholds_are_bounds_of_the_request_histogram(
    every_rule: list[dict[str, Any]],
) -> None:
    """`le="0.75"` would select no series: the SLO would read as 100 % slow, or as nothing."""
    exposed = {"1.0" if bound == 1 else str(float(bound)) for bound in LATENCY_BUCKETS}
    used = set()
    for rule in every_rule:
        used |= set(re.findall(r'\ble="([^"]+)"', rule["expr"]))
    assert used == {"0.5", "1.0"}
    assert used <= exposed
    schema = yaml.safe_load((CHART_DIR / "values.schema.json").read_text())
    slos = schema["properties"]["metrics"]["properties"]["prometheusRule"]["properties"]["slos"]
    allowed = slos["additionalProperties"]["properties"]["p95Seconds"]["enum"]
    assert [float(bound) for bound in allowed] == list(LATENCY_BUCKETS)
    assert all(math.isfinite(bound) for bound in LATENCY_BUCKETS)


def test_runbook_links_default_to_this_repository_and_follow_the_value(tmp_path: Path) -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    home = chart["home"].rstrip("/")
    assert home in chart["sources"]

    def links(*values: str) -> set[str]:
        spec = yaml.safe_load(_render(tmp_path, *LINTED["default"], *values).read_text())
        alerts = [r for g in spec["groups"] for r in g["rules"] if "alert" in r]
        return {alert["annotations"]["runbook_url"] for alert in alerts}

    default = links()
    assert f"{home}/blob/main/docs/runbooks/UmbrellaErrorBudgetBurn.md" in default
    assert all(url.startswith(f"{home}/blob/main/docs/runbooks/") for url in default)
    ours = links("--set", "metrics.prometheusRule.runbookBaseUrl=https://wiki.example.com/rb/")
    assert "https://wiki.example.com/rb/UmbrellaCronJobLate.md" in ours
    assert all(url.startswith("https://wiki.example.com/rb/Umbrella") for url in ours)


def test_the_dashboards_read_only_series_the_rules_record(every_rule: list[dict[str, Any]]) -> None:
    """A dashboard panel on a recorded series nobody records would be empty, silently."""
    recorded = {rule["record"] for rule in every_rule if "record" in rule}
    read = set()
    for path in (CHART_DIR / "dashboards").glob("*.json"):
        read |= set(re.findall(r"umbrella:[a-z_]+:[a-z_]+[0-9]+[smhd]", path.read_text()))
    assert {"umbrella:slo_error_ratio:rate30d", "umbrella:slo_error_ratio:rate1h"} <= read
    assert read <= recorded
