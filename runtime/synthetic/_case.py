"""One case along the statutory flow, planned step by step."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from runtime.synthetic._clock import _SECOND, _office, _workdays
from runtime.synthetic._plan import _Plan, _Weights

_AGE_BANDS: Final = _Weights("unborn:4 under_1:10 1_4:22 5_9:26 10_15:28 16_17:10")
_PARTNERS: Final = _Weights(
    "police:12 school:25 trust:14 gp:12 icb:6 housing:8 vcs:10 probation:6 yjs:4 edu:3"
)
_REFUSAL_BASES: Final = _Weights(
    "more_detrimental_to_child:25 consent_not_given:25 legal_prohibition:12 no_stated_basis:28 "
    "other:10"
)
_CONCERNS: Final = _Weights(
    "neglect:30 domestic_abuse:22 emotional_abuse:14 physical_abuse:14 exploitation:10 "
    "sexual_abuse:5 other:5"
)
_CLOSURES: Final = _Weights("no_further_action:60 moved_area:15 other:25")


class _Case:
    """Plans one case along the statutory flow, on a :class:`_Plan`."""

    def __init__(self, plan: _Plan, ident: str, start: datetime, children: Sequence[str]):
        self.plan, self.rng, self.p = plan, plan.rng, plan.p
        self.ident = ident
        self.start = start
        self.lead = self.p.csc
        rng = self.rng
        self.children = [(c, _AGE_BANDS.pick(rng)) for c in children]
        self.seeable = [(c, b) for c, b in self.children if b != "unborn"] or [
            (children[0], "under_1")
        ]
        self.joined: dict[str, int] = {}
        self.touches: dict[str, list[int]] = {}
        self.leaving: set[str] = set()
        self.open_idx = -1
        self.last = start
        self.requests = 0
        self.concerns = 0

    # -- steps --------------------------------------------------------------------

    def step(
        self,
        command: str,
        at: datetime,
        agency: str,
        /,
        *,
        names: Sequence[str] = (),
        deps: Sequence[int] = (),
        late_ok: bool = False,
        final: bool = False,
        source: str = "case_record",
        **kwargs: Any,
    ) -> int:
        involved = (agency, *names)
        needs = [self.open_idx] if self.open_idx >= 0 else []
        needs += [self.joined[a] for a in involved if a in self.joined]
        needs += deps
        late_ok = late_ok and not any(a in self.leaving for a in involved)
        index = self.plan.add(
            "case",
            command,
            at,
            agency,
            needs,
            may_be_late=late_ok,
            final=final,
            source=source,
            case=self.ident,
            **kwargs,
        )
        for a in involved:
            self.touches.setdefault(a, []).append(index)
        self.last = max(self.last, at)
        return index

    def action(self, at: datetime, action: str, agency: str | None = None, **kwargs: Any) -> int:
        late_ok = action in {"child_seen", "home_visit", "information_shared", "plan_reviewed"}
        return self.step(
            "record_action", at, agency or self.lead, late_ok=late_ok, action=action, **kwargs
        )

    def join(self, agency: str, at: datetime) -> None:
        if agency in self.joined or agency == self.lead:
            return
        self.joined[agency] = self.step("join_case", at, self.lead, names=(agency,), agency=agency)
        if self.rng.random() < 0.2:
            self.leaving.add(agency)

    def partner(self, at: datetime, exclude: Sequence[str] = ()) -> str:
        """A partner agency of the case, joined at ``at`` if it is a new one."""
        rng = self.rng
        current = [a for a in self.joined if a not in exclude and a not in self.leaving]
        if current and rng.random() < 0.6:
            return rng.choice(current)
        agency = rng.choice(self.p.by_kind[_PARTNERS.pick(rng)])
        self.join(agency, at)
        return agency

    def visit(self, at: datetime, agency: str | None = None) -> None:
        rng = self.rng
        child, band = rng.choice(self.seeable)
        seen = rng.random() < 0.9
        young = band in {"under_1", "1_4", "unborn"}
        kwargs: dict[str, Any] = {"child": child, "seen": seen}
        if seen:
            kwargs["seen_alone"] = (not young) and rng.random() < 0.65
        action = "child_seen" if rng.random() < 0.6 else "home_visit"
        self.action(at, action, agency, **kwargs)

    def request(self, at: datetime, frm: str, to: str) -> None:
        rng = self.rng
        self.requests += 1
        rq = f"rq-{self.requests}"
        due = _workdays(at, 5) if rng.random() < 0.5 else None
        req = self.step(
            "request_information",
            at,
            frm,
            names=(to,),
            source="email",
            request=rq,
            from_agency=frm,
            to_agency=to,
            due_by=due,
        )
        x = rng.random()
        if x < 0.72:
            when = _office(rng, _workdays(at, rng.randint(1, 10)))
            self.step(
                "provide_information",
                when,
                to,
                deps=(req,),
                source="email",
                request=rq,
                by_agency=to,
            )
        elif x < 0.82:
            when = _office(rng, _workdays(at, rng.randint(1, 8)))
            basis = _REFUSAL_BASES.pick(rng)
            self.refuse(when, to, to, "information_withheld", basis, request=rq, after=req)
        elif x < 0.9:
            when = _office(rng, _workdays(at, rng.randint(10, 20)))
            basis = "no_stated_basis"
            self.refuse(when, frm, to, "request_not_answered", basis, request=rq, after=req)

    def refuse(
        self,
        at: datetime,
        by: str,
        agency: str,
        kind: str,
        basis: str,
        *,
        request: str | None = None,
        after: int | None = None,
    ) -> None:
        """``by`` records that the party ``agency`` did not cooperate (``kind``, ``basis``)."""
        names = () if by == agency else (agency,)
        deps = () if after is None else (after,)
        self.step(
            "refuse_cooperation",
            at,
            by,
            names=names,
            deps=deps,
            late_ok=request is None,
            agency=agency,
            kind=kind,
            basis=basis,
            request=request,
        )

    def meeting(self, at: datetime, action: str, outcome: str | None) -> None:
        rng = self.rng
        self.action(at, action, source="meeting_minutes", outcome=outcome)
        for agency in list(self.joined):
            if agency in self.leaving:
                continue
            x = rng.random()
            when = at + timedelta(minutes=rng.uniform(30, 240))
            if x < 0.06:
                basis = "no_stated_basis" if rng.random() < 0.6 else "other"
                self.refuse(when, self.lead, agency, "meeting_not_attended", basis)
            elif x < 0.08:
                basis = _REFUSAL_BASES.pick(rng)
                self.refuse(when, self.lead, agency, "report_not_provided", basis)

    def concern(self, at: datetime, agency: str, kind: str) -> None:
        self.concerns += 1
        child = self.rng.choice(self.children)[0]
        self.step(
            "raise_concern",
            at,
            agency,
            late_ok=True,
            concern=f"cn-{self.concerns}",
            kind=kind,
            child=child,
        )

    # -- the flow -----------------------------------------------------------------

    def open(self, referrer: str) -> None:
        rng, t = self.rng, self.start
        children = [{"child": c, "age_band": b} for c, b in self.children]
        self.open_idx = self.step(
            "open_case",
            t,
            self.lead,
            source="referral_form",
            children=children,
            lead_agency=self.lead,
        )
        self.action(
            t + timedelta(minutes=3),
            "referral_received",
            source="referral_form",
            child=self.children[0][0],
        )
        self.join(referrer, t + timedelta(minutes=9))
        for child, band in self.children:
            if band == "unborn":
                self.step(
                    "record_unknown_identifier",
                    t + timedelta(minutes=20),
                    self.lead,
                    child=child,
                    reason="unborn",
                )
        if rng.random() < 0.04:
            child = self.children[0][0]
            token = "ch_" + hashlib.sha256(f"{self.ident}/{child}".encode()).hexdigest()[:32]
            self.step(
                "link_child_identifier",
                _office(rng, t + timedelta(days=2)),
                self.lead,
                child=child,
                linked=token,
                identifier_kind=rng.choice(["upn", "nhs_number"]),
            )

    def run(self, referrer: str, outcome: str) -> None:
        rng = self.rng
        self.open(referrer)
        x = rng.random()
        if x < 0.8:
            days = 0 if x < 0.45 else 1
        else:
            days = rng.randint(2, 3) if x < 0.92 else rng.randint(4, 10)
        t = _office(rng, _workdays(self.start, days))
        self.action(t, "referral_decision", outcome=outcome, child=self.children[0][0])
        if outcome in {"no_further_action", "early_help"}:
            self.short(t, referrer, outcome)
        elif outcome == "section17":
            self.assessment(t, referrer, months=rng.randint(1, 6))
        else:
            self.section47(t, referrer)

    def short(self, t: datetime, referrer: str, outcome: str) -> None:
        rng = self.rng
        if rng.random() < 0.4:
            self.action(t + timedelta(hours=rng.uniform(1, 30)), "information_shared", referrer)
        if outcome == "early_help":
            for _ in range(rng.randint(1, 3)):
                t = _office(rng, _workdays(t, rng.randint(3, 10)))
                self.visit(t)
        self.close(_office(rng, _workdays(t, rng.randint(0, 5))), "no_further_action")

    def assessment(self, t: datetime, referrer: str, months: int) -> None:
        rng = self.rng
        self.action(t + timedelta(minutes=30), "assessment_started")
        for _ in range(rng.randint(0, 2)):
            self.partner(t + timedelta(hours=rng.uniform(1, 48)))
        limit = rng.randint(10, 45) if rng.random() < 0.85 else rng.randint(46, 70)
        done = _office(rng, _workdays(self.start, limit))
        cursor = t
        while cursor < done:
            cursor = _office(rng, _workdays(cursor, rng.randint(4, 12)))
            self.visit(min(cursor, done - timedelta(minutes=5)))
            if rng.random() < 0.5:
                self.request(cursor, self.lead, self.partner(cursor))
            if rng.random() < 0.12:
                self.concern(cursor, self.partner(cursor), _CONCERNS.pick(rng))
        self.action(done, "assessment_completed", source="report", child=self.children[0][0])
        end = done + timedelta(days=30 * months)
        cursor = done
        while cursor < end:
            cursor = _office(rng, _workdays(cursor, rng.randint(10, 25)))
            self.visit(cursor)
            if rng.random() < 0.4:
                self.action(cursor + timedelta(hours=2), "plan_reviewed", source="meeting_minutes")
            if rng.random() < 0.25:
                self.action(cursor + timedelta(hours=3), "information_shared", self.partner(cursor))
        self.close(_office(rng, _workdays(cursor, rng.randint(1, 10))), self.closure())

    def section47(self, t: datetime, referrer: str, plan_months: int | None = None) -> None:
        rng, p = self.rng, self.p
        police = p.by_kind["police"][0]
        self.join(police, t + timedelta(minutes=20))
        if rng.random() < 0.6:
            self.join(rng.choice(p.by_kind["trust"] + p.by_kind["icb"]), t + timedelta(minutes=25))
        self.concern(t + timedelta(minutes=40), referrer, "significant_harm")
        sd = p.strategy_days
        days = rng.randint(0, sd) if rng.random() < 0.8 else sd + rng.randint(1, 5)
        strategy = _office(rng, _workdays(t, days)) + timedelta(hours=1)
        s47 = rng.random() < 0.9
        self.meeting(strategy, "strategy_discussion", "section47" if s47 else "section17")
        if not s47:
            self.assessment(strategy, referrer, months=rng.randint(1, 4))
            return
        started = strategy + timedelta(hours=1)
        self.action(started, "section47_started")
        self.action(started + timedelta(minutes=20), "assessment_started")
        for child, band in self.seeable:
            seen = _office(rng, _workdays(started, rng.randint(0, 2)))
            alone = band not in {"under_1", "1_4"} and rng.random() < 0.7
            self.action(seen, "child_seen", child=child, seen=True, seen_alone=alone)
        for _ in range(rng.randint(1, 4)):
            at = started + timedelta(hours=rng.uniform(2, 72))
            self.request(at, self.lead, self.partner(at))
        completed = _office(rng, _workdays(started, rng.randint(5, 14)))
        plan = rng.random() < 0.65 or plan_months is not None
        self.action(
            completed,
            "section47_completed",
            source="report",
            outcome="protection_plan" if plan else "section17",
        )
        if not plan:
            self.assessment(completed, referrer, months=rng.randint(1, 4))
            return
        days = rng.randint(8, 15) if rng.random() < 0.75 else rng.randint(16, 30)
        conference = max(_office(rng, _workdays(strategy, days)), completed + timedelta(hours=2))
        self.meeting(conference, "initial_conference", "protection_plan")
        self.action(conference + timedelta(hours=1), "protection_plan_started")
        limit = rng.randint(45, 70) if rng.random() < 0.15 else rng.randint(20, 45)
        self.action(
            _office(rng, _workdays(self.start, limit)),
            "assessment_completed",
            source="report",
            child=self.children[0][0],
        )
        months = plan_months or rng.choice([3, 6, 6, 9, 9, 9, 12, 12, 15, 18, 24])
        self.protection_plan(conference, conference + timedelta(days=30.4 * months))

    def protection_plan(self, conference: datetime, ends: datetime) -> None:
        rng = self.rng
        review = conference + timedelta(days=91)
        cursor = conference
        while True:
            cursor = _office(rng, _workdays(cursor, rng.randint(7, 13)))
            if cursor >= review:
                late = rng.random() < 0.15
                at = _office(rng, review + timedelta(days=rng.randint(5, 25) if late else 0))
                last = at >= ends
                self.meeting(at, "review_conference", "section17" if last else "protection_plan")
                if last:
                    self.action(at + timedelta(hours=1), "protection_plan_ended")
                    break
                review = at + timedelta(days=182)
                cursor = at
                continue
            self.visit(cursor)
            if rng.random() < 0.3:
                self.visit(cursor + timedelta(days=rng.uniform(1, 5)), self.partner(cursor))
            if rng.random() < 0.45:
                self.action(cursor + timedelta(hours=3), "plan_reviewed", source="meeting_minutes")
            if rng.random() < 0.2:
                self.action(cursor + timedelta(hours=5), "information_shared", self.partner(cursor))
            if rng.random() < 0.15:
                self.request(cursor + timedelta(hours=1), self.lead, self.partner(cursor))
            if rng.random() < 0.06:
                self.concern(cursor + timedelta(hours=4), self.partner(cursor), _CONCERNS.pick(rng))
        self.close(_office(rng, _workdays(cursor, rng.randint(3, 30))), "plan_ended")

    def closure(self) -> str:
        if any(b == "16_17" for _, b in self.children) and self.rng.random() < 0.3:
            return "child_turned_18"
        return _CLOSURES.pick(self.rng)

    def close(self, at: datetime, reason: str) -> None:
        """The agencies that leave, then the closure, after everything else on the case."""
        rng = self.rng
        at = max(at, self.last + timedelta(hours=2))
        for agency in sorted(self.leaving):
            touched = self.touches.get(agency, [])
            after = max(self.plan.steps[i].occurred_at for i in touched)
            when = min(after + timedelta(days=rng.uniform(1, 20)), at - timedelta(minutes=30))
            self.step(
                "leave_case",
                max(when, after + _SECOND),
                self.lead,
                names=(agency,),
                deps=touched,
                agency=agency,
            )
        self.step("close_case", at, self.lead, final=True, reason=reason)
