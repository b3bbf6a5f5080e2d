"""A seeded synthetic safeguarding partnership, written through the real ``Ledger`` commands.

Every event goes through :class:`ledger.application.Ledger`: the schema validates it and
the aggregates check their rules, so the stream holds only legal histories. The ledger's
``clock`` is a :class:`SimulatedClock`, so ``recorded_at`` follows a simulated timeline
from 2024-01-01 to 2025-12-31 (UTC) instead of the wall clock.

What is generated (``random.Random`` seeded per unit of work, so the same seed and
parameters give the same commands on every aggregate, whatever the thread count):

* **Partnerships**: ``northvale`` and ``southmere`` (England, three escalation stages) and
  ``glanrhyd`` (Wales, four), each with 30-60 agencies: children's social care, police
  and the health board (statutory partners, each with a signing key), NHS trusts, GP
  practices, 14-30 schools, probation, housing, voluntary and other services. Cases are
  spread 45 / 35 / 20 % over them. Set up first, on one thread, in November 2023.
* **Cases** open at a uniformly random time of the two years, about one to four children
  each (pseudonymous ``ch_<hex>`` tokens from a hash of seed and index; an unborn child
  gets ``ChildIdentifierUnknown``, 4 % of cases link a second token), led by children's
  social care and referred by police, health, a school or another agency. The referral
  decision comes within 0-1 working days for 80 % (2-3 for 12 %, 4-10 for 8 %) and is
  no further action 25 %, early help 15 %, section 17 30 %, section 47 30 %. A section 47
  case has a significant-harm concern, a strategy discussion (on time for 80 %), the
  enquiry, children seen (alone or not, by age), an initial conference (within 15
  working days for 75 %), a protection plan of 3-24 months with visits every ~10
  working days, core groups, review conferences at 3 then every 6 months, and closes
  when the plan ends. Assessments finish within 45 working days for 85 %. Information
  requests are answered (72 %), refused with a stated basis (10 %: more detrimental to
  the child, consent, legal prohibition, no stated basis, other), reported unanswered
  (8 %) or left open; agencies miss meetings (6 % per agency and meeting) and 20 % of
  the partner agencies leave a case before it ends. A case still running on 2025-12-31
  stays open; the rest close.
* **Challenges** on 18 % of cases (a second on 5 %) and on 5 % of units without a case:
  raised at stage 1, answered (80 %, mostly within the stage's working days), escalated
  to stage 2 and 3, resolved with an outcome, withdrawn, or left open.
* **Reviews**: every 120th unit (``reviews_every``, ``--reviews-every``: the demo asks for
  every 20th; the first early in 2024, so that even a small run has a published review)
  has a serious incident on its (section 47) case:
  notification (within 5 working days for 85 %), rapid review, local or national review
  commissioned and published, 3-8 recommendations to registered owners, accepted (80 %)
  or rejected (10 %), progress reported red/amber/green, implemented (70 % of accepted,
  some after the due date) or left overdue.
* **Recording**: events are recorded minutes to hours after they occurred; about 3 % of
  all events (actions, concerns, non-attendance) are recorded 2-42 days late, and 60 %
  of those are followed by ``LateRecordingExplained``. ``recorded_at`` is never before
  ``occurred_at``. Free text is only the short neutral phrases the schema requires.

``events`` is met exactly: units are planned one after another until the total reaches
it, and the last one is cut short (a prefix of a legal history is legal). With
``big_case_events`` one extra case gets that many events, spread over the two years.

Run it (the embedded nats-server in a temporary directory unless told otherwise)::

    .venv/bin/python -m runtime.synthetic --events 200000 --seed 1
    .venv/bin/python -m runtime.synthetic --events 1000000 --data-dir .ledger-synthetic
    .venv/bin/python -m runtime.synthetic --events 50000 --nats-url nats://127.0.0.1:4222 \\
        --stream SYNTHETIC --subject-prefix synthetic --big-case-events 10000
"""

from runtime.synthetic._cli import main
from runtime.synthetic._clock import END, LATE, START, SimulatedClock
from runtime.synthetic._partnerships import SYNTHETIC_KEY_ID, synthetic_agency_key
from runtime.synthetic._run import GeneratedSummary, generate

__all__ = [
    "END",
    "LATE",
    "START",
    "SYNTHETIC_KEY_ID",
    "GeneratedSummary",
    "SimulatedClock",
    "generate",
    "main",
    "synthetic_agency_key",
]
