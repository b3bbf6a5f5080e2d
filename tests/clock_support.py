"""What the clock-rule tests share: events with the common fields, and rules files as text.

A plain module (not a conftest) so that test modules can import its names.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from schemas import ActionKind, ActionRecorded, RecordedBy, Source, SourceKind

#: Friday 1 May 2026 and Wednesday 6 May 2026 (the Early May bank holiday is between).
T0 = dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 5, 6, 14, 0, tzinfo=dt.UTC)
CHILD = "ch_" + "0123456789abcdef"


def common(agency: str = "la", at: dt.datetime = T0) -> dict[str, Any]:
    """The fields every event carries."""
    return {
        "occurred_at": at,
        "recorded_at": at,
        "recorded_by": RecordedBy(agency=agency, actor="act_sw00042"),
        "source": Source(kind=SourceKind.CASE_RECORD),
    }


def action(kind: ActionKind, *, at: dt.datetime = T0, **fields: Any) -> ActionRecorded:
    return ActionRecorded(**common(at=at), action=kind, **fields)


def toml(value: Any) -> str:
    """A TOML value (JSON's strings, numbers and arrays are TOML's; tables are inline)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return json.dumps(value)


def rules_file(*rules: dict[str, Any]) -> str:
    """A rules file of ``rules``; a field given as ``None`` is left out."""
    return "\n".join(
        "[[rule]]\n"
        + "".join(f"{key} = {toml(value)}\n" for key, value in rule.items() if value is not None)
        for rule in rules
    )


def a_rule(**overrides: Any) -> dict[str, Any]:
    """A valid local rule: information requested -> provided, keyed by request."""
    rule: dict[str, Any] = {
        "name": "information_request",
        "title": "Information request answered",
        "start": [{"event": "InformationRequested"}],
        "stop": [{"event": "InformationProvided"}],
        "key": "request",
        "limit": 10,
        "unit": "working_days",
        "responsible": "to_agency",
        "nations": ["england", "wales"],
        "note": "Local procedure 4.2",
    }
    return rule | overrides
