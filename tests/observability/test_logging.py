"""Log lines carry the ids of the active span, so a line leads to its trace and back."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.trace import Span, Tracer

from umbrella.observability.logging import ConsoleFormatter, JsonFormatter


class Lines:
    """What one logger wrote through one formatter."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(formatter)
        self.logger = logging.getLogger(f"tests.observability.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self.handler)

    def text(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text()]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    lines = Lines(JsonFormatter("api"))
    yield lines
    lines.logger.removeHandler(lines.handler)


@pytest.fixture
def console_lines() -> Iterator[Lines]:
    lines = Lines(ConsoleFormatter("api"))
    yield lines
    lines.logger.removeHandler(lines.handler)


def tracer(sampler: sampling.Sampler = sampling.ALWAYS_ON) -> Tracer:
    # A provider of the test's own: the global one can be set only once per process.
    return TracerProvider(sampler=sampler, shutdown_on_exit=False).get_tracer("tests")


def ids(span: Span) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def test_a_json_line_carries_the_ids_of_the_active_span(json_lines: Lines) -> None:
    traced = tracer()
    with traced.start_as_current_span("request") as request:
        json_lines.logger.info("in the request")
        with traced.start_as_current_span("query") as query:
            json_lines.logger.info("in the query")
        json_lines.logger.info("back in the request")
    in_request, in_query, back = json_lines.json()
    assert (in_request["trace_id"], in_request["span_id"]) == ids(request)
    assert (in_query["trace_id"], in_query["span_id"]) == ids(query)
    assert in_query["trace_id"] == in_request["trace_id"]
    assert in_query["span_id"] != in_request["span_id"]
    assert (back["trace_id"], back["span_id"]) == ids(request)
    # Lowercase hex of the W3C widths, as trace backends search for them.
    assert re.fullmatch("[0-9a-f]{32}", in_request["trace_id"])
    assert re.fullmatch("[0-9a-f]{16}", in_request["span_id"])


def test_a_json_line_outside_any_span_has_no_trace_ids(json_lines: Lines) -> None:
    json_lines.logger.info("no request", extra={"job": "send_notification"})
    with tracer().start_as_current_span("request"):
        pass
    json_lines.logger.info("after the request")
    for line in json_lines.json():
        assert "trace_id" not in line
        assert "span_id" not in line
    assert json_lines.json()[0]["job"] == "send_notification"


def test_an_unsampled_span_still_ties_its_lines_together(json_lines: Lines) -> None:
    # With OTEL_TRACES_SAMPLER=parentbased_traceidratio most requests are not exported, but
    # their api and worker lines must still share one id.
    with tracer(sampling.ALWAYS_OFF).start_as_current_span("request") as request:
        assert not request.is_recording()
        json_lines.logger.info("in an unsampled request")
    [line] = json_lines.json()
    assert (line["trace_id"], line["span_id"]) == ids(request)


def test_console_lines_show_the_ids_inside_a_span_only(console_lines: Lines) -> None:
    with tracer().start_as_current_span("request") as request:
        console_lines.logger.info("in the request", extra={"route": "/v1/gigs"})
    console_lines.logger.info("outside")
    inside, outside = console_lines.text()
    trace_id, span_id = ids(request)
    assert inside.endswith(f"in the request trace_id={trace_id} span_id={span_id} route=/v1/gigs")
    assert outside.endswith("outside")
