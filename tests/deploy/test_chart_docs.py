"""Every value is documented (`## @param`), and the chart README's table is current."""

from __future__ import annotations

import yaml

from tests.deploy import chart_docs


def test_every_value_has_a_param_line() -> None:
    values = yaml.safe_load(chart_docs.VALUES.read_text())
    documented = {param.path for param in chart_docs.params()}
    undocumented = [
        leaf
        for leaf in chart_docs.leaves(values)
        if not any(leaf == path or leaf.startswith(f"{path}.") for path in documented)
    ]
    assert undocumented == [], "add a `## @param` line to charts/umbrella/values.yaml"


def test_every_param_line_names_a_value() -> None:
    values = yaml.safe_load(chart_docs.VALUES.read_text())
    for param in chart_docs.params():
        chart_docs.lookup(values, param.path)  # KeyError names a stale @param
        assert param.section, param.path
        assert len(param.description) > 10, param.path


def test_the_readme_parameter_table_is_current() -> None:
    assert chart_docs.README.read_text() == chart_docs.rendered_readme(), (
        "charts/umbrella/README.md is stale: run `make chart-readme`"
    )
