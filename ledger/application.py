"""The application service: commands in, checked facts appended to the ledger, receipts out.

:class:`Ledger` is an eventsourcing ``Application`` that executes commands: data
(:mod:`schemas.commands`: ``OpenCase``, ``RaiseChallenge`` ...) handed to
:meth:`Ledger.execute` with the caller's identity, or the keyword method that builds
each (``open_case``, ``raise_challenge``, ... in :mod:`ledger._commands`). A command

1. builds the schema fact and validates it once (:class:`~ledger.errors.InvalidCommand`);
2. loads the aggregate and the partnership (:class:`~ledger.errors.AggregateNotFound`),
   from the cache when they are there: the cache neither reads the stream again
   (no fast-forward) nor deep-copies;
3. checks the agency's signature against the partnership's keys (:mod:`ledger._signing`);
4. lets the aggregate check its rules (:class:`~ledger.errors.RuleViolation`) and record;
5. saves (the signature riding on the recorded event itself, which the mapper makes a
   :class:`~ledger._aggregate.SignedStoredEvent`), and returns a :class:`Receipt`.

Nothing is written on any error. Because cached aggregates are shared, not copied,
an aggregate that may have been changed by a command that then failed is evicted
from the cache, so the next command reloads it from the stream. Another process
may have written since an aggregate was cached, so a command whose save conflicts,
or whose rule check failed on cached state, is tried once more on fresh state. The
partnership, which most commands read without saving, is dropped from the cache as soon
as any process writes to it (:mod:`ledger.nats._watch`), and not trusted from the cache
while that watch is down.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Protocol, TypeVar

import structlog
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import Environment, EnvType, get_topic

from ledger._aggregate import (
    LedgerAggregate,
    LedgerMapper,
    Opened,
    Recorded,
    aggregate_id,
    split_aggregate_id,
)
from ledger._commands import (
    CaseCommands,
    ChallengeCommands,
    PartnershipCommands,
    Receipt,
    RecordedByInput,
    ReviewCommands,
    SourceInput,
    build_fact,
    check_identifier,
)
from ledger._commands._unpack import unpack
from ledger._history import project_without_gaps
from ledger._signing import ServiceKeys, Signing, signature_to_store, verify_early
from ledger.domain import Case, Challenge, Partnership, Review
from ledger.domain._rules import Rule, violation
from ledger.errors import AggregateNotFound, ConcurrencyConflict, InvalidCommand, RuleViolation
from ledger.proofs.errors import SignatureRefused
from ledger.signing import DEFAULT_PREFIX, SIGNED_NEEDS_OCCURRED_AT
from schemas import (
    CaseOpened,
    ChallengeRaised,
    Command,
    LateRecordingExplained,
    PartnershipEstablished,
    SeriousIncidentNotified,
    tag_of,
)
from schemas import Event as Fact

__all__ = ["Ledger", "Receipt"]

log = structlog.get_logger()

A = TypeVar("A", bound=LedgerAggregate)

UNIQUE_ID: Final = Rule("unique_id", "an id names one aggregate of its kind in a partnership")
EXPLAINS_CASE_EVENT: Final = Rule(
    "explains_case_event",
    "a late-recording explanation names the stream sequence of an event in the case's "
    "chronology: an event of the case, or of a challenge or review about it",
)
EXPLAINS_NO_EXPLANATION: Final = Rule(
    "explains_no_explanation",
    "a late-recording explanation explains a fact of the case, not another explanation",
)
_LOCK_STRIPES: Final = 64
#: Seconds after a hint of a partnership write (ledger/nats/_watch.py) during which every
#: command reads that partnership from the stream: the hint can come before the write is
#: stored, and a store takes milliseconds, not seconds.
_HINT_WINDOW_S: Final = 2.0
#: Reads of a partnership a command makes at most while hints keep coming.
_PARTNERSHIP_READS: Final = 3


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Retry(Exception):
    """The first attempt met stale or conflicting state; try once more on fresh state."""


class _Watch(Protocol):
    """What the ledger asks of a watch of other processes' partnership writes
    (:class:`ledger.nats._watch.PartnershipWatch`)."""

    @property
    def live(self) -> bool: ...


class _Loads:
    """The aggregates one attempt took from the cache (and may have to evict)."""

    __slots__ = ("from_cache",)

    def __init__(self) -> None:
        self.from_cache: list[str] = []


class Ledger(
    PartnershipCommands, CaseCommands, ChallengeCommands, ReviewCommands, Application[str]
):
    """The ledger's application service: :meth:`execute`, one keyword method per command, reads.

    ``clock`` stamps ``recorded_at`` (UTC now by default); ``occurred_at`` defaults to it.
    Commands are keyword-only, take ``partnership``, the aggregate's id (``case``,
    ``challenge`` or ``review``), ``recorded_by`` (a :class:`schemas.RecordedBy` or a
    dict), ``source`` (default ``{"kind": "case_record"}``), ``occurred_at`` and the
    event's own fields; they return a :class:`Receipt`.
    """

    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
        "MAPPER_TOPIC": get_topic(LedgerMapper),
    }

    def __init__(
        self, env: EnvType | None = None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._clock: Callable[[], datetime] = clock or _utc_now
        # Cached aggregates are shared objects that a command changes before its save,
        # so commands (and reads) of one aggregate take turns. Other aggregates a command
        # reads are never changed in place before a save: the partnership is copied on
        # write, and a case named by a challenge or review is only checked to exist.
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
        super().__init__(env)
        self._prefix = self.env.get("NATS_SUBJECT_PREFIX") or DEFAULT_PREFIX  # signed subjects
        self._service_keys = ServiceKeys.at(self.env.get(ServiceKeys.ENV))
        # A partnership another process changed is dropped from the cache (its keys, its
        # agencies: read by commands that never save it, so no conflict would catch it).
        # A persistence of one process (in memory, SQLite) has no watch and needs none.
        # Hints of partnership writes: how many so far, and when each partnership (None:
        # every one) had its last (see _fresh_partnership_needed).
        self._hints = 0
        self._hinted: dict[str | None, float] = {}
        self._watch: _Watch | None = None
        watch = getattr(self.factory, "watch_partnerships", None)
        self._watch = (
            watch(self._partnership_changed)
            if watch is not None and self.repository.cache is not None
            else None
        )

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """The class defaults and the given ``env``, and nothing from ``os.environ``.

        The library merges the process environment in, where ``LEDGER_NATS_URL`` and
        the like would silently override what :mod:`runtime.bootstrap` passed from the
        one frozen :class:`~runtime.settings.Settings`. ``Ledger()`` with no ``env`` is
        the in-memory ledger, whatever the shell says.
        """
        merged = dict(type(self).env)
        if env is not None:
            merged.update(env)
        return Environment(name, merged)

    # -- reads ----------------------------------------------------------------------

    def get_partnership(self, partnership: str) -> Partnership:
        """The partnership aggregate (shared with the cache: read it, never change it)."""
        check_identifier("partnership", partnership)
        target = aggregate_id(partnership, Partnership.KIND, partnership)
        with self._locks[hash(target) % _LOCK_STRIPES]:  # never mid-command
            return self._partnership(_Loads(), partnership)

    def get_case(self, partnership: str, case: str) -> Case:
        """The case aggregate (shared with the cache: read it, never change it)."""
        return self._get(Case, partnership, case)

    def get_challenge(self, partnership: str, challenge: str) -> Challenge:
        """The challenge aggregate (shared with the cache: read it, never change it)."""
        return self._get(Challenge, partnership, challenge)

    def get_review(self, partnership: str, review: str) -> Review:
        """The review aggregate (shared with the cache: read it, never change it)."""
        return self._get(Review, partnership, review)

    def case_events(self, partnership: str, case: str) -> list[tuple[int, Fact]]:
        """Every stored fact of the case with its version, replayed from the store."""
        check_identifier("partnership", partnership)
        check_identifier("case", case)
        events = self.events.get(aggregate_id(partnership, Case.KIND, case))
        facts = [
            (event.originator_version, event.fact)
            for event in events
            if isinstance(event, Opened | Recorded)
        ]
        if not facts:
            raise AggregateNotFound(_missing(Case.KIND, partnership, case))
        return facts

    def _get(self, cls: type[A], partnership: str, ident: str) -> A:
        check_identifier("partnership", partnership)
        check_identifier(cls.KIND, ident)
        target = aggregate_id(partnership, cls.KIND, ident)
        with self._locks[hash(target) % _LOCK_STRIPES]:  # never mid-command
            return self._load(_Loads(), cls, target, _missing(cls.KIND, partnership, ident))

    # -- the command pipeline -------------------------------------------------------

    def execute(
        self, command: Command, *, recorded_by: RecordedByInput, signature: str | None = None
    ) -> Receipt:
        """Record the event ``command`` asks for, as ``recorded_by``, and return its receipt.

        ``command`` is any of :data:`schemas.Command` (``RecordAction``, ``OpenCase`` ...),
        decoded from JSON by :func:`schemas.decode_command` or built in Python;
        ``recorded_by`` is the caller's identity, never part of the command. Its fields
        are checked as the event's, by the same pipeline every keyword method uses
        (:class:`~ledger.errors.InvalidCommand`, :class:`~ledger.errors.RuleViolation`,
        :class:`~ledger.errors.AggregateNotFound`); nothing is written on any error.

        ``signature`` (:func:`ledger.signing.sign_command`; a signed command states its
        ``occurred_at``) is checked against the partnership's keys and stored with the
        event (docs/proofs.md, "Signatures").
        """
        found = unpack(command, recorded_by)
        if signature is not None and found.occurred_at is None:
            raise InvalidCommand(SIGNED_NEEDS_OCCURRED_AT, field="occurred_at")
        return self._submit(
            found.event,
            found.partnership,
            found.ident,
            recorded_by,
            found.source,
            found.occurred_at,
            _signature=signature,
            **found.fields,
        )

    def _submit(
        self,
        event_type: type[Fact],
        partnership: str,
        ident: str,
        recorded_by: RecordedByInput,
        source: SourceInput,
        occurred_at: datetime | None,
        /,
        _signature: str | None = None,
        **fields: Any,
    ) -> Receipt:
        kind = event_type.aggregate_kind
        check_identifier("partnership", partnership)
        if kind != Partnership.KIND:
            check_identifier(kind, ident)
        recorded_at = self._clock()
        fact = build_fact(
            event_type,
            recorded_at=recorded_at,
            occurred_at=recorded_at if occurred_at is None else occurred_at,
            recorded_by=recorded_by,
            source=source,
            fields=fields,
        )
        target = aggregate_id(partnership, kind, ident)
        signing = Signing(f"{self._prefix}.{target}", _signature)
        if _signature is not None:  # the Ed25519 arithmetic, outside the lock (see _cached)
            verify_early(self._cached_partnership(fact, partnership), fact, signing)
        with self._locks[hash(target) % _LOCK_STRIPES]:
            try:
                return self._attempt(fact, partnership, ident, target, signing, last=False)
            except _Retry:
                pass
            return self._attempt(fact, partnership, ident, target, signing, last=True)

    def _attempt(
        self,
        fact: Fact,
        partnership: str,
        ident: str,
        target: str,
        signing: Signing,
        *,
        last: bool,
    ) -> Receipt:
        """Check, record and save ``fact`` once; raise :class:`_Retry` for a second try."""
        loads = _Loads()
        try:
            stored_signature = self._signature(loads, fact, partnership, signing)
            aggregate = self._decide(loads, fact, partnership, ident, target)
        except (RuleViolation, SignatureRefused):
            if last or not loads.from_cache:
                raise
            self._evict(*loads.from_cache)  # checked against cached state: look again
            raise _Retry from None
        except AggregateNotFound:
            raise  # never a stale answer (the cache holds no misses), and nothing changed
        except BaseException:
            self._evict(target)  # may have been changed half-way
            raise
        try:
            recordings = self._save_one(aggregate, fact, stored_signature, signing.payload)
        except IntegrityError as error:
            self._evict(target)
            if not last:
                raise _Retry from None
            if isinstance(error, ConcurrencyConflict):
                raise
            msg = f"{target}: another writer appended to it first; nothing was written"
            raise ConcurrencyConflict(msg) from error
        except BaseException:
            self._evict(target)
            raise
        return self._receipt(fact, partnership, ident, aggregate, recordings[-1].notification.id)

    def _signature(
        self, loads: _Loads, fact: Fact, partnership: str, signing: Signing
    ) -> str | None:
        """The signature to store with ``fact`` (:mod:`ledger._signing`), checked against
        the partnership as it stands before ``fact``."""
        party = self._partnership(loads, partnership) if signing.needs_partnership(fact) else None
        return signature_to_store(party, fact, signing, self._service_keys)

    def _decide(
        self, loads: _Loads, fact: Fact, partnership: str, ident: str, target: str
    ) -> LedgerAggregate:
        """The aggregate with ``fact`` checked and recorded on it (not yet saved)."""
        kind = type(fact).aggregate_kind
        if kind == Partnership.KIND:
            if isinstance(fact, PartnershipEstablished):
                self._require_absent(loads, target, kind, partnership, ident)
                return Partnership.establish(target, fact)
            # Copy on write: every other command reads the cached partnership without a
            # lock, so it must only ever see what was saved. The copy replaces it in the
            # cache after the save (partnership commands are rare; the copy is cheap).
            found = copy.deepcopy(self._partnership(loads, partnership))
            found.handle(fact)
            return found
        party = self._partnership(loads, partnership)
        if kind == Case.KIND:
            if isinstance(fact, CaseOpened):
                self._require_absent(loads, target, kind, partnership, ident)
                return Case.start(target, fact, party)
            case = self._load(loads, Case, target, _missing(kind, partnership, ident))
            if isinstance(fact, LateRecordingExplained):  # before ``handle`` records it
                self._require_explained(loads, fact.event_sequence, partnership, ident)
            case.handle(fact, party)
            return case
        if kind == Challenge.KIND:
            if isinstance(fact, ChallengeRaised):
                self._require_absent(loads, target, kind, partnership, ident)
                self._require_case(loads, partnership, fact.case)
                return Challenge.start(target, fact, party)
            challenge = self._load(loads, Challenge, target, _missing(kind, partnership, ident))
            challenge.handle(fact, party)
            return challenge
        if isinstance(fact, SeriousIncidentNotified):
            self._require_absent(loads, target, kind, partnership, ident)
            self._require_case(loads, partnership, fact.case)
            return Review.start(target, fact, party)
        review = self._load(loads, Review, target, _missing(kind, partnership, ident))
        review.handle(fact, party)
        return review

    def _save_one(
        self,
        aggregate: LedgerAggregate,
        fact: Fact,
        signature: str | None,
        payload: bytes | None = None,
    ) -> list[Recording[str]]:
        """``save(aggregate)`` without the library's generic collection step.

        ``Application.save`` sorts what it is given with ``isinstance`` checks against
        runtime protocols, which cost ~90 µs a command on Python 3.11 (measured with
        cProfile: a third of an in-memory command). The ledger only ever saves one of
        its own aggregates, so it hands the events to the same recording path directly.

        ``fact``'s event carries its signature and, when the signature check encoded it,
        its ``payload``, which the mapper then stores instead of encoding it again.
        """
        events = aggregate.collect_events()
        if signature is not None or payload is not None:
            for event in events:
                if isinstance(event, Opened | Recorded) and event.fact is fact:
                    event.signature = signature or ""
                    event.payload = payload
        processing_event: ProcessingEvent[str] = ProcessingEvent()
        processing_event.events.extend(events)
        processing_event.aggregates[aggregate.id] = aggregate
        recordings = self._record(processing_event)
        self._notify(recordings)
        return recordings

    def _receipt(
        self, fact: Fact, partnership: str, ident: str, aggregate: LedgerAggregate, seq: int
    ) -> Receipt:
        kind = type(fact).aggregate_kind
        event_type = tag_of(type(fact))
        ids = {} if kind == Partnership.KIND else {kind: ident}
        log.info(
            "event_recorded",
            partnership=partnership,
            **ids,
            agency=fact.recorded_by.agency,
            event_type=event_type,
            seq=seq,
            version=aggregate.version,
        )
        return Receipt(
            aggregate_id=aggregate.id,
            version=aggregate.version,
            sequence=seq,
            event_type=event_type,
            recorded_at=fact.recorded_at,
        )

    # -- loading --------------------------------------------------------------------

    def _cached_partnership(self, fact: Fact, partnership: str) -> Partnership | None:
        """The partnership as cached, read without a lock (it is copied on write, never
        changed in place), for checking a signature's arithmetic before the command's
        lock; ``None`` if it is not cached (or ``fact`` establishes it). Never a read of
        the store: the command's own check, under the lock, loads what it needs."""
        cache = self.repository.cache
        if (
            cache is None
            or isinstance(fact, PartnershipEstablished)
            or self._fresh_partnership_needed(
                aggregate_id(partnership, Partnership.KIND, partnership)
            )
        ):
            return None
        try:
            found = cache.get(aggregate_id(partnership, Partnership.KIND, partnership))
        except KeyError:
            return None
        return found if isinstance(found, Partnership) else None

    def _partnership(self, loads: _Loads, partnership: str) -> Partnership:
        """The partnership, from the cache only when nothing says it may be stale: read from
        the stream while the watch is down or within :data:`_HINT_WINDOW_S` of a hint, and
        dropped again if a hint came while it was being read (the read may predate it)."""
        target = aggregate_id(partnership, Partnership.KIND, partnership)
        missing = _missing(Partnership.KIND, partnership)
        for _ in range(_PARTNERSHIP_READS - 1):
            if self._fresh_partnership_needed(target):
                self._evict(target)
            hints = self._hints
            found = self._load(loads, Partnership, target, missing)
            if self._hints == hints:
                return found
            self._evict(target)  # a hint came during the read: what was cached may predate it
        self._evict(target)
        found = self._load(loads, Partnership, target, missing)
        self._evict(target)  # read, but not kept: hints keep coming
        return found

    def _fresh_partnership_needed(self, target: str) -> bool:
        """Whether ``target`` must be read from the stream rather than trusted from the cache:
        the watch is down, or it hinted at a write to it (or to every partnership, on
        (re)subscribing) less than :data:`_HINT_WINDOW_S` ago. A hint can arrive before the
        stream has stored its message, so one read just after it may not see the write: every
        command reads the partnership again until the window has passed."""
        if not self._partnerships_watched():
            return True
        now = time.monotonic()
        return any(
            (at := self._hinted.get(key)) is not None and now - at < _HINT_WINDOW_S
            for key in (target, None)
        )

    @property
    def subject_prefix(self) -> str:
        """The prefix of its subjects, which a signed command's subject names."""
        return self._prefix

    @property
    def watching_partnerships(self) -> bool:
        """True while other processes' writes to partnerships reach this ledger's cache
        (False for a ledger of one process, which has no watch, and while the watch is down)."""
        return self._watch is not None and self._watch.live

    def _partnerships_watched(self) -> bool:
        """True when a cached partnership can be trusted: this process is the only writer
        (no watch), or the watch of other processes' writes is live."""
        return self._watch is None or self._watch.live

    def _partnership_changed(self, target: str | None) -> None:
        """Drop ``target`` (None: every partnership) from the cache, and say it may be stale
        for a while (:meth:`_fresh_partnership_needed`); the watch's callback."""
        self._hinted[target] = time.monotonic()
        self._hints += 1
        if target is not None:
            self._evict(target)
            return
        cache = self.repository.cache
        if cache is not None:
            marker = f".{Partnership.KIND}."
            self._evict(*(key for key in list(cache.cache) if marker in str(key)))

    def _load(self, loads: _Loads, cls: type[A], target: str, missing: str) -> A:
        """The aggregate ``target``: cached if it is, else replayed from the store."""
        repository = self.repository
        found: Any = None
        if repository.cache is not None and not repository.fastforward:
            try:
                found = repository.cache.get(target)
            except KeyError:
                pass
            else:
                loads.from_cache.append(target)
        if found is None:
            try:
                found = repository.get(target, projector_func=project_without_gaps)
            except AggregateNotFoundError as error:
                raise AggregateNotFound(missing) from error
        if not isinstance(found, cls):
            msg = f"{target} is a {type(found).__name__}, not a {cls.__name__}"
            raise TypeError(msg)
        return found

    def _require_absent(
        self, loads: _Loads, target: str, kind: str, partnership: str, ident: str
    ) -> None:
        """Raise :class:`RuleViolation` if the aggregate to be opened already exists."""
        try:
            self._load(loads, LedgerAggregate, target, "")
        except AggregateNotFound:
            return
        where = "" if kind == Partnership.KIND else f" in partnership '{partnership}'"
        raise violation(kind, f"'{ident}' already exists{where}", UNIQUE_ID)

    def _require_case(self, loads: _Loads, partnership: str, case: object) -> None:
        """Raise :class:`AggregateNotFound` if a fact names a case that does not exist."""
        if isinstance(case, str):
            target = aggregate_id(partnership, Case.KIND, case)
            self._load(loads, Case, target, _missing(Case.KIND, partnership, case, field="case"))

    def _require_explained(self, loads: _Loads, seq: int, partnership: str, case: str) -> None:
        """Raise :class:`RuleViolation` unless ``seq`` is an event in the case's chronology.

        An event that is itself a late-recording explanation (only a case records
        one) is refused too: an explanation explains a fact, not another explanation.

        The same events the chronology view lists for the case: the case's own, and
        those of a challenge or review whose opening event names the case. The error
        says the same whether the sequence is past the end of the stream or belongs
        elsewhere, and never names the other aggregate: a caller learns nothing about
        cases it is not party to, nor about other partnerships.
        """
        found = self.recorder.select_notifications(start=seq, limit=1, stop=seq)
        if found and found[0].id == seq:
            origin = str(found[0].originator_id)
            if origin == aggregate_id(partnership, Case.KIND, case):
                if found[0].topic == LateRecordingExplained.__struct_config__.tag:
                    raise violation(
                        "event_sequence",
                        f"{seq} is itself a late-recording explanation",
                        EXPLAINS_NO_EXPLANATION,
                    )
                return
            try:
                in_partnership, kind, _ = split_aggregate_id(origin)
            except ValueError:  # not a ledger aggregate id: refused below
                in_partnership, kind = "", ""
            if in_partnership == partnership and kind in (Challenge.KIND, Review.KIND):
                linked: type[Challenge] | type[Review] = (
                    Challenge if kind == Challenge.KIND else Review
                )
                if self._load(loads, linked, origin, f"{origin} does not exist").case == case:
                    return
        raise violation(
            "event_sequence",
            f"{seq} is not the sequence of an event of case '{case}' or of a challenge or "
            "review about it",
            EXPLAINS_CASE_EVENT,
        )

    def _evict(self, *targets: str) -> None:
        """Drop ``targets`` from the cache, so that the next command reloads them."""
        cache = self.repository.cache
        if cache is None:
            return
        for target in targets:
            with contextlib.suppress(KeyError):
                cache.get(target, evict=True)


def _missing(kind: str, partnership: str, ident: str = "", *, field: str = "") -> str:
    """The message for an aggregate that does not exist."""
    if kind == Partnership.KIND:
        return (
            f"partnership '{partnership}' does not exist "
            "(a partnership is established before anything is recorded in it)"
        )
    named = f"{field} " if field else ""
    return f"{named}{kind} '{ident}' does not exist in partnership '{partnership}'"
