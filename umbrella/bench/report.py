"""The targets of `umbrella bench` (2 cores, the api as one process) and the printed table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from umbrella.bench.load import LoadResult, SaturationResult

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
}


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
) -> dict[str, Any]:
    return {
        "setup": setup,
        "targets": {name: vars(target) for name, target in TARGETS.items()},
        "scenarios": [result.as_dict() | {"verdict": verdict(result)} for result in results],
        "saturation": saturation,
        "rss_mb": rss_mb,
    }
