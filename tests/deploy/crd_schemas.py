"""Strict schemas of the custom resources the chart renders (Prometheus Operator, KEDA).

kubernetes-validate knows only the built-in kinds. These follow the monitoring.coreos.com/v1
and keda.sh/v1alpha1 CRDs for the fields the chart uses, with `additionalProperties: false`,
so a misspelt or misplaced field fails here as the API server would reject it.
"""

from __future__ import annotations

from typing import Any

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
    r"(([0-9]+)s)?(([0-9]+)ms)?)$",
}
_METADATA = {
    "type": "object",
    "required": ["name", "namespace"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
}
_LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": _STRING_MAP, "matchExpressions": {"type": "array"}},
}


def _object(
    kind: str, spec: dict[str, Any], api_version: str = "monitoring.coreos.com/v1"
) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
    }


SERVICE_MONITOR = _object(
    "ServiceMonitor",
    {
        "type": "object",
        "required": ["selector", "endpoints"],
        "additionalProperties": False,
        "properties": {
            "namespaceSelector": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "any": {"type": "boolean"},
                    "matchNames": {"type": "array", "items": {"type": "string"}},
                },
            },
            "selector": _LABEL_SELECTOR,
            "jobLabel": {"type": "string"},
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["port"],
                    "properties": {
                        "port": {"type": "string"},
                        "path": {"type": "string", "pattern": "^/"},
                        "interval": _DURATION,
                        "scrapeTimeout": _DURATION,
                        "honorLabels": {"type": "boolean"},
                        "scheme": {"enum": ["http", "https"]},
                    },
                },
            },
        },
    },
)

_ALERTING_RULE: dict[str, Any] = {
    "type": "object",
    "required": ["alert", "expr", "labels", "annotations"],
    "additionalProperties": False,
    "properties": {
        "alert": {"type": "string", "pattern": "^[A-Z][A-Za-z0-9]+$"},
        "expr": {"type": "string", "minLength": 1},
        "for": _DURATION,
        "keep_firing_for": _DURATION,
        "labels": {
            **_STRING_MAP,
            "required": ["severity"],
            "properties": {"severity": {"enum": ["critical", "warning", "info"]}},
        },
        "annotations": {
            **_STRING_MAP,
            "required": ["summary", "description", "runbook_url"],
        },
    },
}

_RECORDING_RULE: dict[str, Any] = {
    "type": "object",
    "required": ["record", "expr"],
    "additionalProperties": False,
    "properties": {
        "record": {"type": "string", "pattern": "^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
        "expr": {"type": "string", "minLength": 1},
        "labels": _STRING_MAP,
    },
}

PROMETHEUS_RULE = _object(
    "PrometheusRule",
    {
        "type": "object",
        "required": ["groups"],
        "additionalProperties": False,
        "properties": {
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "rules"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "interval": _DURATION,
                        "rules": {
                            "type": "array",
                            "items": {"oneOf": [_ALERTING_RULE, _RECORDING_RULE]},
                        },
                    },
                },
            }
        },
    },
)

_INT32 = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}

# keda.sh/v1alpha1 ScaledObject (KEDA 2.x) with a prometheus trigger.
SCALED_OBJECT = _object(
    "ScaledObject",
    {
        "type": "object",
        "required": ["scaleTargetRef", "triggers"],
        "additionalProperties": False,
        "properties": {
            "scaleTargetRef": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "name": {"type": "string", "minLength": 1},
                },
            },
            "minReplicaCount": _INT32,
            "maxReplicaCount": _INT32,
            "pollingInterval": _INT32,
            "cooldownPeriod": _INT32,
            "triggers": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["type", "metadata"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"const": "prometheus"},
                        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                        "metadata": {
                            "type": "object",
                            "required": ["serverAddress", "query", "threshold"],
                            "additionalProperties": {"type": "string"},
                            "properties": {
                                "serverAddress": {"type": "string", "pattern": "^https?://"},
                                "query": {"type": "string", "minLength": 1},
                                "threshold": {"type": "string", "pattern": r"^[0-9.]+$"},
                            },
                        },
                        "authenticationRef": {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {"name": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
    api_version="keda.sh/v1alpha1",
)

SCHEMAS = {
    "ServiceMonitor": SERVICE_MONITOR,
    "PrometheusRule": PROMETHEUS_RULE,
    "ScaledObject": SCALED_OBJECT,
}
