"""The write path's signature check: which ``Ledger-Signature`` an event is stored with.

:func:`signature_to_store` is asked by :class:`~ledger.application.Ledger` for every fact
before it is recorded, with the partnership as it stands before the fact (docs/proofs.md,
"Signatures"). It returns the header value to store, or ``None``, and refuses, with
nothing written:

* a malformed header or a signature that does not verify over what the event asserts
  (:class:`SignatureInvalid`);
* a signature by another agency than the recording one, by a key that is unknown or
  revoked (:class:`SignatureRefused`);
* an unsigned command once the partnership requires signatures on the recording date,
  unless the agency's key is in the service's custody.

An agency with a key in the service's custody (delegation) has every unsigned command
signed by the service with that key (:class:`ServiceKeys`): the header names the key, and
its registration says ``custody: service``. Registering such a key is itself signed by
the service with it, so a key the service does not hold cannot be registered as its.

An agency's key events need its authority (:func:`~ledger.proofs.keys.key_event_authority`,
docs/proofs.md "Who may register and revoke an agency's keys"): its first key is registered
on the operator's word, unsigned or signed by that very key (proof that it holds it, checked
against the public key being registered); once it has a live key, every later registration
and every revocation is signed by one of its live keys, else :class:`KeyEventUnauthorised`.
An agency with a live key in the service's custody has its unsigned key events signed by
the service with that key, as its other commands: delegation hands the service the
agency's authority over its keys too.

The Ed25519 arithmetic (the only costly step: ~60-70 us in libsodium, with the GIL released;
:mod:`ledger.proofs.ed25519`, the same rule as every verifier's) is done
before the command takes its aggregate's lock (:func:`verify_early`, against the cached
partnership), so that commands of one aggregate do not queue behind it and several
verify at once. :func:`signature_to_store` still makes every check under the lock; it
skips only the arithmetic already done over the same bytes with the same key. Public keys
are decoded once per key, and the payload is encoded once: the bytes checked are the bytes
stored. A key being registered is checked (:func:`ledger.domain.partnership.check_public_key`)
before anything is verified with it, so a key no verifier would accept is refused as such.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import schemas
from ledger.domain import Partnership
from ledger.domain.partnership import check_public_key
from ledger.proofs.entry import SignatureHeader, sign_assertion, unb64, verify_assertion
from ledger.proofs.errors import (
    KeyEventUnauthorised,
    KeyFileInvalid,
    SignatureInvalid,
    SignatureRefused,
)
from ledger.proofs.keys import key_event_authority
from ledger.signing import load_private_key, public_key_text
from schemas import AgencyKeyRegistered, AgencyKeyRevoked, PartnershipEstablished
from schemas import Event as Fact
from schemas.wire import HDR_SIGNATURE

__all__ = ["ServiceKeys", "Signing", "signature_to_store", "verify_early"]

_KEY_SIZE: Final = 32
#: The facts that need their agency's authority (:func:`_authorised`).
_KEY_EVENTS: Final = (AgencyKeyRegistered, AgencyKeyRevoked)
#: Raw public keys kept (a key is immutable: its text names it); agencies' keys are few.
_KEYS_CACHED: Final = 4096


class ServiceKeys:
    """The private keys the service holds for agencies (``custody: service``).

    ``<root>/<agency>/<key_id>.key``, PEM, 0600 in 0700 directories
    (:mod:`runtime.agency_keys` writes them; ``root`` is ``<data dir>/keys/agencies``).
    Loaded once each and kept.
    """

    #: The environment key (of the ledger's eventsourcing env) naming the directory.
    ENV: Final = "LEDGER_AGENCY_KEYS_DIR"

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._loaded: dict[tuple[str, str], Ed25519PrivateKey] = {}
        self._lock = threading.Lock()

    @classmethod
    def at(cls, root: str | None) -> ServiceKeys:
        """The keys under ``root``; none at all when it is not set."""
        return cls(Path(root) if root else None)

    def path(self, agency: str, key_id: str) -> Path | None:
        return None if self.root is None else self.root / agency / f"{key_id}.key"

    def load(self, agency: str, key_id: str) -> Ed25519PrivateKey:
        """The service's key ``key_id`` for ``agency``; :class:`SignatureRefused` if absent."""
        with self._lock:
            found = self._loaded.get((agency, key_id))
            if found is not None:
                return found
            path = self.path(agency, key_id)
            if path is None:
                msg = (
                    f"{HDR_SIGNATURE}: key '{key_id}' of agency '{agency}' is in the service's "
                    "custody, but this ledger has no agency key directory configured"
                )
                raise SignatureRefused(msg)
            try:
                key = load_private_key(path)
            except KeyFileInvalid as error:
                msg = (
                    f"{HDR_SIGNATURE}: the service cannot sign for agency '{agency}' with its "
                    f"key '{key_id}': {error}"
                )
                raise SignatureRefused(msg) from error
            self._loaded[(agency, key_id)] = key
            return key


class Signing:
    """A command's signature and the subject it covers; once made, the payload it is over
    (encoded once: the same bytes are checked and stored), the header parsed, and the
    public key it was found to verify with."""

    __slots__ = ("header", "payload", "signature", "subject", "verified")

    def __init__(self, subject: str, signature: str | None) -> None:
        self.subject = subject
        self.signature = signature
        self.payload: bytes | None = None
        self.header: SignatureHeader | None = None
        #: The registered public key (its text) the signature verified with, if it did.
        self.verified: str | None = None

    def needs_partnership(self, fact: Fact) -> bool:
        """Whether the check needs the partnership: not for the one establishing it."""
        return not isinstance(fact, PartnershipEstablished)

    def encoded(self, fact: Fact) -> bytes:
        """``fact``'s payload as stored (the mapper stores these very bytes)."""
        if self.payload is None:
            self.payload = schemas.encode_event(fact)
        return self.payload

    def parsed(self, signature: str) -> SignatureHeader:
        """The header ``signature`` (the command's), parsed once."""
        if self.header is None:
            self.header = SignatureHeader.parse(signature)
        return self.header


def verify_early(party: Partnership | None, fact: Fact, signing: Signing) -> None:
    """Verify the signature's Ed25519 bytes before the command takes its aggregate's lock.

    ``party`` is the partnership as cached (copied on write, so read without a lock). On
    success ``signing.verified`` holds the key it verified with, so that
    :func:`signature_to_store`, which makes every check again under the lock against the
    partnership the command is decided on, skips only the arithmetic, and only for that
    very key. Anything else (no key, another agency, a signature that does not verify)
    is left to :func:`signature_to_store` to refuse: this function never refuses.
    """
    signature = signing.signature
    if signature is None:
        return
    try:
        header = signing.parsed(signature)
        if header.agency != fact.recorded_by.agency:
            return
        text = _registered_key(party, fact, header)
        verify_assertion(_decoded(text), header, signing.subject, signing.encoded(fact))
    except (SignatureInvalid, SignatureRefused):
        return
    signing.verified = text


def signature_to_store(
    party: Partnership | None, fact: Fact, signing: Signing, keys: ServiceKeys
) -> str | None:
    """The ``Ledger-Signature`` value to store with ``fact``, checked against ``party``
    (the partnership as it stands before ``fact``; ``None`` for the one establishing it)."""
    signature = signing.signature
    if (
        signature is None
        and (party is None or (not party.keys and party.signatures_from is None))
        and not isinstance(fact, _KEY_EVENTS)
    ):
        return None  # the common case before any key: nothing to sign with, nothing required
    if isinstance(fact, AgencyKeyRegistered):
        check_public_key(fact)
    subject, payload = signing.subject, signing.encoded(fact)
    agency = fact.recorded_by.agency
    if party is not None and isinstance(fact, _KEY_EVENTS):
        signature = _authorised(party, fact, signing, keys)
        if signature is None or signature != signing.signature:
            return signature  # unsigned (a first key), or signed here by the service
    if signature is not None:
        header = signing.parsed(signature)
        if header.agency != agency:
            msg = (
                f"{HDR_SIGNATURE}: is by agency '{header.agency}', but the command is recorded "
                f"by '{agency}' (rule: an agency signs only what it records itself)"
            )
            raise SignatureRefused(msg)
        text = _registered_key(party, fact, header)
        if signing.verified != text:  # not verified before the lock with this very key
            verify_assertion(_decoded(text), header, subject, payload)
        if isinstance(fact, AgencyKeyRegistered) and fact.custody == "service":
            _check_held(fact, keys)
        return signature
    if isinstance(fact, AgencyKeyRegistered) and fact.custody == "service":
        return _sign_own_registration(fact, subject, payload, keys)
    if party is None:
        return None
    service_key = party.service_key(agency)
    if service_key is not None:
        signed = sign_assertion(
            keys.load(agency, service_key), agency, service_key, subject, payload
        )
        return signed.format()
    if party.signatures_required(fact.recorded_at.date()):
        msg = (
            f"{HDR_SIGNATURE}: is missing; partnership '{party.ident}' requires signatures on "
            f"events recorded from {party.signatures_from} and agency '{agency}' has no key "
            "in the service's custody (rule: sign the command with a registered key)"
        )
        raise SignatureRefused(msg)
    return None


def _authorised(
    party: Partnership,
    fact: AgencyKeyRegistered | AgencyKeyRevoked,
    signing: Signing,
    keys: ServiceKeys,
) -> str | None:
    """The signature of an agency's key event, refused unless the agency's authority allows
    it (:func:`~ledger.proofs.keys.key_event_authority`): with a live key, the event is
    signed by one of them. The command's own signature is returned for the caller to check;
    an unsigned one of an agency with a live key in the service's custody is signed here by
    the service with it (delegation: the service holds the agency's authority), and an
    unsigned first key is returned ``None`` (or refused where signatures are required)."""
    live = party.live_keys(fact.agency)
    signed_by = None
    if signing.signature is not None:
        header = signing.parsed(signing.signature)
        signed_by = (header.agency, header.key_id)
    elif live and (held := party.service_key(fact.agency)) is not None:
        if isinstance(fact, AgencyKeyRegistered) and fact.custody == "service":
            _check_held(fact, keys)
        payload = signing.encoded(fact)
        key = keys.load(fact.agency, held)
        return sign_assertion(key, fact.agency, held, signing.subject, payload).format()
    problem = key_event_authority(fact, live, signed_by)
    if problem is not None:
        raise KeyEventUnauthorised(problem)
    if signing.signature is not None:
        return signing.signature
    if isinstance(fact, AgencyKeyRegistered) and fact.custody == "service":
        return _sign_own_registration(fact, signing.subject, signing.encoded(fact), keys)
    if isinstance(fact, AgencyKeyRevoked):
        return None  # no live key to revoke: the partnership's own rules refuse it
    if party.signatures_required(fact.recorded_at.date()):
        msg = (
            f"{HDR_SIGNATURE}: is missing; partnership '{party.ident}' requires signatures on "
            f"events recorded from {party.signatures_from}: agency '{fact.agency}' registers "
            "its first key signed by that key (rule: sign the command with a registered key)"
        )
        raise SignatureRefused(msg)
    return None


def _check_held(fact: AgencyKeyRegistered, keys: ServiceKeys) -> Ed25519PrivateKey:
    """The service's private key ``fact`` registers into its custody; refused unless the
    service really holds it."""
    key = keys.load(fact.agency, fact.key_id)
    if public_key_text(key) != fact.public_key:
        msg = (
            f"public_key: is not the public key of the service's key '{fact.key_id}' for agency "
            f"'{fact.agency}' (rule: a key in the service's custody is one the service holds)"
        )
        raise SignatureRefused(msg)
    return key


def _sign_own_registration(
    fact: AgencyKeyRegistered, subject: str, payload: bytes, keys: ServiceKeys
) -> str:
    """An agency's first key registered into the service's custody is signed by itself, by
    the service: the registration is refused unless the service really holds it."""
    key = _check_held(fact, keys)
    return sign_assertion(key, fact.agency, fact.key_id, subject, payload).format()


def _registered_key(party: Partnership | None, fact: Fact, header: SignatureHeader) -> str:
    """The registered, unrevoked public key ``header`` names (or the one ``fact``
    registers), as registered (base64); :class:`SignatureRefused` if there is none."""
    if (
        isinstance(fact, AgencyKeyRegistered)
        and fact.agency == header.agency
        and fact.key_id == header.key_id
        and (party is None or not party.live_keys(fact.agency))  # a first key signs itself
    ):
        return fact.public_key
    key = party.key(header.agency, header.key_id) if party is not None else None
    if key is None:
        where = (
            f"partnership '{party.ident}'"
            if party is not None
            else "a partnership not yet established"
        )
        msg = (
            f"{HDR_SIGNATURE}: key '{header.key_id}' of agency '{header.agency}' is not "
            f"registered in {where} (rule: a signature is by a registered key)"
        )
        raise SignatureRefused(msg)
    if key.revoked:
        msg = (
            f"{HDR_SIGNATURE}: key '{header.key_id}' of agency '{header.agency}' is revoked "
            "(rule: nothing is recorded under a revoked key)"
        )
        raise SignatureRefused(msg)
    return key.public_key


@functools.lru_cache(maxsize=_KEYS_CACHED)
def _decoded(text: str) -> bytes:
    """The raw public key of a registered key's text, decoded once per key (a malformed
    text raises :class:`SignatureInvalid` every time: exceptions are not cached)."""
    return unb64(text, field="public_key", size=_KEY_SIZE)
