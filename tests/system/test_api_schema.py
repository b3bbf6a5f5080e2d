"""Schemathesis against the running service's own OpenAPI document.

``ledger serve --demo`` runs as a subprocess, as a person runs it (its views and delivery
workers, its access log, its readiness check), on the session's nats-server with a stream
of this module's own, so that the test reads the stream's last sequence from NATS itself
rather than from the service under test. Schemathesis loads ``/schema/openapi.json`` and,
for every operation but the endless Server-Sent Events stream, sends the requests its
examples, coverage and fuzzing phases make of the document, one at a time, with the
token of a role the operation is for: each command with a role that may send it (the
admin for the admin's), each question as the board and as an agency, the access log as
the board. Every answer must be no 5xx and match what the document says of it (status
code, content type, headers, body); a POST answered 4xx must leave the stream's last
sequence where it was, and no GET moves it. The generation is bounded and
deterministic (``max_examples``, ``derandomize``, no example database), so a CI run
repeats the last.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import hypothesis
import msgspec
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serve_support import Served, ledger_env

from interfaces.http import MAY_SEND
from ledger.application import Ledger
from runtime.demo_partnership import DEMO_PARTNERSHIP, DEMO_TOKENS_FILE
from runtime.settings import Settings
from runtime.tokens import Role
from schemas.wire import HDR_SIGNATURE

EVENTS_PATH: Final = "/partnerships/{partnership}/events"
#: Cases per operation and phase: the whole module stays within a few minutes on 2 cores.
MAX_EXAMPLES: Final = 15
#: Cases of the demo partnership, so that generated questions also reach real answers.
DEMO_CASES: Final = ("c-0000001", "c-0000035")
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Service:
    """The running service, its demo tokens by role, and a reader of its stream."""

    url: str
    tokens: dict[Role, str]
    stream: Ledger
    #: (method, status) -> how many answers: the run must reach real answers too.
    answered: Counter[tuple[str, int]] = field(default_factory=Counter)

    def last_sequence(self) -> int:
        return self.stream.recorder.max_notification_id() or 0


class _DemoTokens(msgspec.Struct):
    tokens: dict[Role, str]


@pytest.fixture(scope="module")
def service(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    unique = secrets.token_hex(6)
    stream, prefix = f"LEDGER_T{unique}", f"ldg{unique}"
    data_dir: Path = tmp_path_factory.mktemp("api-schema") / "data"
    env = ledger_env(
        data_dir,
        NATS_URL=nats_url,
        NATS_STREAM=stream,
        NATS_SUBJECT_PREFIX=prefix,
        # A generated `after` may name a sequence the views have applied: a 504 comes
        # only of a wait, and a short one keeps the run short.
        LEDGER_READ_WAIT_S="0.5",
    )
    # Every refusal is logged: into files, since a pipe nobody reads would fill and block it.
    served = Served(env, "--demo", output=data_dir.parent)
    reader = Ledger(env=Settings(stream=stream, subject_prefix=prefix).persistence_env(nats_url))
    try:
        served.wait_ready()
        kept = msgspec.json.decode((data_dir / DEMO_TOKENS_FILE).read_bytes(), type=_DemoTokens)
        running = Service(url=served.url, tokens=kept.tokens, stream=reader)
        yield running
    finally:
        reader.close()
        served.stop()
    # Not only refusals: some generated commands were recorded and some questions answered.
    sent = {method for method, _ in running.answered}
    if "POST" in sent:
        assert running.answered["POST", 201], running.answered
    if "GET" in sent:
        assert running.answered["GET", 200], running.answered
    assert served.process.returncode == 0, served.stderr[-4000:]
    assert "Traceback" not in served.stderr, served.stderr[-4000:]


@pytest.fixture(scope="module")
def api_schema(service: Service) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            "phases": {"stateful": {"enabled": False}},
            "request-timeout": 30,
        }
    )
    return schemathesis.openapi.from_url(f"{service.url}/schema/openapi.json", config=config)


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's fixture-loaded schemas read and rename ``Node._nodeid``, which
    pytest 9.2 no longer has (its ``nodeid`` is derived): give it the attribute it reads."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path=EVENTS_PATH)
SETTINGS: Final = hypothesis.settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


#: What generated free text is drawn from: Hypothesis draws from the schemas' own free-text
#: pattern (every plane of Unicode less the controls, bidirectional overrides and
#: noncharacters) at some 0.2 s a string, which would make the run take an hour. Negative
#: cases send text outside it, odd Unicode among it.
CHEAP_TEXT: Final = r"^[\u0020-\u007e\u00a0-\u017f]*$"


@schemathesis.hook
def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
    """Generate free text from :data:`CHEAP_TEXT` (a subset of what the schemas allow)."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            pattern = node.get("pattern")
            if isinstance(pattern, str) and r"\ufdcf" in pattern:  # the free-text rule
                node["pattern"] = CHEAP_TEXT
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(raw_schema)


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """Half the generated paths name the demo partnership and one of its cases."""
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    ours = {**path_parameters}
    if "partnership" in ours:
        ours["partnership"] = DEMO_PARTNERSHIP
    if "case" in ours:
        return st.sampled_from([path_parameters, *({**ours, "case": c} for c in DEMO_CASES)])
    return st.sampled_from([path_parameters, ours])


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """Half the generated commands are for the demo partnership (the tokens')."""
    if isinstance(body, dict) and "partnership" in body:
        return st.sampled_from([body, {**body, "partnership": DEMO_PARTNERSHIP}])
    return st.just(body)


@schemathesis.hook
def flatmap_headers(context: Any, headers: Any) -> Any:
    """Half the generated commands go unsigned: a generated detached signature never
    verifies (400 or 403), so without this hardly a command would be recorded."""
    if isinstance(headers, dict) and HDR_SIGNATURE in headers:
        unsigned = {k: v for k, v in headers.items() if k != HDR_SIGNATURE}
        return st.sampled_from([headers, unsigned])
    return st.just(headers)


def _call(service: Service, case: schemathesis.Case, role: Role) -> None:
    """Send ``case`` with ``role``'s token and check the answer and the stream."""
    before = service.last_sequence()
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {service.tokens[role]}"}, checks=CHECKS
    )
    after = service.last_sequence()
    service.answered[case.method.upper(), response.status_code] += 1
    if case.method.upper() != "POST" or 400 <= response.status_code < 500:
        assert after == before, (
            f"{case.method} {case.formatted_path} answered {response.status_code}"
            f" and the stream moved from {before} to {after}"
        )


def _sender(tag: str) -> Role:
    """A role that may send command ``tag`` (an agency's before a board's)."""
    return next(role for role in (Role.AGENCY, Role.BOARD, Role.ADMIN) if tag in MAY_SEND[role])


@schema.include(tag="commands").parametrize()
@SETTINGS
def test_every_command_as_a_role_that_may_send_it(
    case: schemathesis.Case, service: Service
) -> None:
    _call(service, case, _sender(case.path.rsplit("/", 1)[-1]))


@schema.include(tag="views").parametrize()
@SETTINGS
def test_every_question_as_the_board(case: schemathesis.Case, service: Service) -> None:
    _call(service, case, Role.BOARD)


@schema.include(tag="views").parametrize()
@SETTINGS
def test_every_question_as_an_agency(case: schemathesis.Case, service: Service) -> None:
    _call(service, case, Role.AGENCY)


@schema.exclude(tag=["commands", "views"]).parametrize()
@SETTINGS
def test_the_service_routes_and_the_access_log_as_the_board(
    case: schemathesis.Case, service: Service
) -> None:
    _call(service, case, Role.BOARD)
