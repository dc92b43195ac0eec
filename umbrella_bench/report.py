"""The targets of the load benchmark (2 cores, the api as one process) and the printed table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from umbrella_bench.load import LoadResult, SaturationResult

# Achieved below this share of the target rate means the server could not keep up.
MIN_RATE_SHARE = 0.95


@dataclass(frozen=True)
class Target:
    """One line of the targets: a rate and its p95, a share of the floor, or a memory cap."""

    what: str
    rate: float | None = None
    p95_ms: float | None = None
    min_floor_ratio: float | None = None
    max_rss_mb: float | None = None
    max_ratio: float | None = None
    max_seconds: float | None = None


# Every run must also have zero errors. Scenarios not named here have no latency target.
TARGETS: dict[str, Target] = {
    "profile_cached": Target("profile view (cached)", rate=300, p95_ms=20),
    "profile_uncached": Target("profile view (uncached)", rate=300, p95_ms=20),
    "gig_browse": Target("gig browse, filtered, scrolling", rate=200, p95_ms=40),
    "search": Target("search", rate=100, p95_ms=60),
    "poll_idle": Target("conversation poll, idle", rate=500, p95_ms=10),
    "send_message": Target("send message", rate=100, p95_ms=30),
    "floor_ratio": Target("profile saturation vs the floor", min_floor_ratio=0.5),
    "rss_api": Target("api RSS", max_rss_mb=200),
    "rss_worker": Target("worker RSS", max_rss_mb=200),
    "browse_ratio": Target("gig browse p95 at 1,000,000 gigs / at 10,000 gigs", max_ratio=1.5),
    "analytics_daily": Target("analytics-daily over 100,000 artists", max_seconds=60),
    "broadcast_email": Target("10,000-recipient email broadcast delivered", max_seconds=15),
}
# The dataset sizes the ratio compares, and the recipients of the broadcast target.
BROWSE_RATIO_GIGS = (10_000, 1_000_000)
BROADCAST_RECIPIENTS = 10_000


def verdict(result: LoadResult) -> str:
    """`ok`, or FAIL with every reason: errors, rate not reached, p95 over its target."""
    reasons = []
    if result.error_count:
        reasons.append("errors")
    if result.achieved_rate < MIN_RATE_SHARE * result.target_rate:
        reasons.append("rate")
    target = TARGETS.get(result.name)
    p95_target = target.p95_ms if target else None
    if p95_target is not None and (result.p95_ms is None or result.p95_ms > p95_target):
        reasons.append("p95")
    return "ok" if not reasons else "FAIL " + ",".join(reasons)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _errors(result: LoadResult) -> str:
    if not result.errors:
        return "0"
    return f"{result.error_count} (" + ", ".join(f"{k} {v}" for k, v in result.errors.items()) + ")"


HEADER = (
    "scenario",
    "target rate",
    "achieved",
    "p50",
    "p95",
    "p99",
    "max",
    "errors",
    "target p95",
    "verdict",
)


def table(results: list[LoadResult]) -> str:
    """The results as an aligned text table (latencies in ms, rates per second)."""
    rows: list[tuple[str, ...]] = [HEADER]
    for result in results:
        target = TARGETS.get(result.name)
        rows.append(
            (
                result.name,
                f"{result.target_rate:.0f}/s",
                f"{result.achieved_rate:.1f}/s",
                _ms(result.p50_ms),
                _ms(result.p95_ms),
                _ms(result.p99_ms),
                _ms(result.max_ms),
                _errors(result),
                f"≤ {target.p95_ms:.0f}" if target and target.p95_ms is not None else "-",
                verdict(result),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def floor_line(ours: SaturationResult, floor: SaturationResult) -> tuple[str, float]:
    ratio = ours.throughput / floor.throughput if floor.throughput else 0.0
    minimum = TARGETS["floor_ratio"].min_floor_ratio or 0.0
    mark = "ok" if ratio >= minimum else "FAIL"
    text = (
        f"profile saturation ({ours.workers} closed-loop workers, {ours.duration:.0f}s):"
        f" ours {ours.throughput:.0f}/s (p50 {_ms(ours.p50_ms)} ms),"
        f" floor {floor.throughput:.0f}/s (p50 {_ms(floor.p50_ms)} ms):"
        f" {ratio:.0%} of the floor (target ≥ {minimum:.0%}) {mark}"
    )
    if ours.errors or floor.errors:
        text += f"; errors ours {ours.errors or 0}, floor {floor.errors or 0}"
    return text, ratio


def rss_line(name: str, rss_mb: float | None) -> str:
    target = TARGETS[f"rss_{name}"].max_rss_mb or 0.0
    if rss_mb is None:
        return f"{name} RSS: n/a (not started by the bench)"
    mark = "ok" if rss_mb <= target else "FAIL"
    return f"{name} RSS: {rss_mb:.0f} MB (target ≤ {target:.0f} MB) {mark}"


def as_json(
    results: list[LoadResult],
    *,
    saturation: dict[str, Any] | None,
    rss_mb: dict[str, float | None],
    setup: dict[str, Any],
    checks: list[Check] | None = None,
) -> dict[str, Any]:
    return {
        "setup": setup,
        "targets": {name: vars(target) for name, target in TARGETS.items()},
        "scenarios": [result.as_dict() | {"verdict": verdict(result)} for result in results],
        "saturation": saturation,
        "rss_mb": rss_mb,
        "checks": [check.as_dict() for check in checks or []],
    }


# -- targets that are not request rates ----------------------------------------------------


@dataclass
class Check:
    """One row of the other targets: what was measured, its limit and the verdict.

    `verdict` is "ok", "FAIL <reasons>", "skipped: <why>" (asked for, but the data could not
    feed it: a failure, like a skipped scenario) or "not run: <why>" (not asked for, or not
    possible in this mode: no failure).
    """

    name: str
    measured: str
    limit: str
    verdict: str
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return not (self.verdict == "ok" or self.verdict.startswith("not run"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "what": TARGETS[self.name].what if self.name in TARGETS else self.name,
            "measured": self.measured,
            "limit": self.limit,
            "verdict": self.verdict,
            "detail": self.detail,
            "data": self.data,
        }


def not_run(name: str, why: str) -> Check:
    return Check(name, "-", _limit(name), f"not run: {why}")


def _limit(name: str) -> str:
    target = TARGETS[name]
    if target.max_ratio is not None:
        return f"≤ {target.max_ratio:.2f}x"
    if target.max_seconds is not None:
        return f"≤ {target.max_seconds:.0f} s"
    return "-"


def seconds_check(
    name: str,
    seconds: float | None,
    *,
    reasons: list[str],
    measured: str | None = None,
    detail: str = "",
    data: dict[str, Any] | None = None,
) -> Check:
    """A wall-time target: FAIL with `reasons` (already found) plus "time" when over."""
    limit = TARGETS[name].max_seconds
    reasons = list(reasons)
    if seconds is None:
        if not reasons:
            reasons.append("not measured")
    elif limit is not None and seconds > limit:
        reasons.append("time")
    shown = measured or ("-" if seconds is None else f"{seconds:.1f} s")
    verdict = "ok" if not reasons else "FAIL " + ",".join(reasons)
    return Check(name, shown, _limit(name), verdict, detail, data or {})


def ratio_verdict(
    current_p95: float | None, baseline_p95: float | None, max_ratio: float
) -> tuple[float | None, str]:
    """current / baseline and its verdict: ok at or under `max_ratio`."""
    if current_p95 is None or baseline_p95 is None:
        return None, "FAIL no p95"
    if baseline_p95 <= 0:
        return None, "FAIL baseline p95 is 0"
    ratio = current_p95 / baseline_p95
    return ratio, "ok" if ratio <= max_ratio else "FAIL ratio"


def baseline_browse(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The gig_browse row of a bench's JSON results, with the dataset's gig count."""
    rows = [row for row in document.get("scenarios", []) if row.get("scenario") == "gig_browse"]
    if not rows:
        return None
    dataset = (document.get("setup") or {}).get("dataset") or {}
    return {**rows[0], "gigs": dataset.get("gigs")}


def browse_ratio(
    current: LoadResult | None, baseline: Mapping[str, Any], *, current_gigs: int | None
) -> Check:
    """gig_browse p95 of this run over the baseline's (same rate, no errors in either)."""
    name = "browse_ratio"
    max_ratio = TARGETS[name].max_ratio or 0.0
    base_gigs = baseline.get("gigs")
    if current is None:
        return Check(name, "-", _limit(name), "skipped: gig_browse did not run")
    ratio, verdict = ratio_verdict(current.p95_ms, baseline.get("p95_ms"), max_ratio)
    reasons = [] if verdict == "ok" else [verdict.removeprefix("FAIL ")]
    # A p95 under errors or at another arrival rate is no point of comparison.
    if baseline.get("error_count"):
        reasons.append("baseline errors")
    if current.error_count:
        reasons.append("errors")
    if baseline.get("target_rate") != current.target_rate:
        reasons.append("rates differ")
    measured = "-" if ratio is None else f"{ratio:.2f}x"
    detail = (
        f"p95 {_ms(current.p95_ms)} ms at {_count(current_gigs)} gigs vs"
        f" {_ms(baseline.get('p95_ms'))} ms at {_count(base_gigs)} gigs,"
        f" {current.target_rate:.0f}/s vs {float(baseline.get('target_rate') or 0):.0f}/s"
    )
    if (base_gigs, current_gigs) != BROWSE_RATIO_GIGS:
        detail += " (the target compares 1,000,000 gigs with 10,000)"
    data = {
        "ratio": None if ratio is None else round(ratio, 3),
        "p95_ms": current.p95_ms,
        "gigs": current_gigs,
        "baseline_p95_ms": baseline.get("p95_ms"),
        "baseline_gigs": base_gigs,
        "rate": current.target_rate,
        "baseline_rate": baseline.get("target_rate"),
    }
    verdict = "ok" if not reasons else "FAIL " + ",".join(reasons)
    return Check(name, measured, _limit(name), verdict, detail, data)


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


CHECK_HEADER = ("target", "measured", "limit", "verdict", "detail")


def checks_table(checks: list[Check]) -> str:
    """The other targets as an aligned text table (the detail column last, unpadded)."""
    rows: list[tuple[str, ...]] = [CHECK_HEADER]
    rows += [(c.name, c.measured, c.limit, c.verdict, c.detail) for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(len(CHECK_HEADER))]
    lines = [" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
