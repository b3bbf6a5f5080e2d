"""An agency's witness: cosign each new checkpoint of the log only if it follows the last one.

C2SP ``tlog-witness`` in its smallest form (docs/proofs.md, "Witnesses"). The witness keeps
the last checkpoint it cosigned in a state file; shown a new one with a consistency proof from
it, it checks the log's signature and origin, then the proof, then cosigns the new one (C2SP
``tlog-cosignature``, key name: the agency id) and keeps it as the last. A checkpoint that is
not proven to extend the last one (a smaller tree, another root at the same size, a proof
that fails) is refused with :class:`~ledger.proofs.errors.SplitView`, logged as critical, and
both checkpoints and the proof are written to an evidence file: that is what the agency shows
the partnership, an inspector or a court.

Pure apart from the state directory (0700; files 0600, replaced atomically). One witness per
state directory. The first checkpoint a witness sees is trusted as it comes (trust on first
use): start a witness before the log has a history it could lie about, or give it a
checkpoint obtained another way first.

Transports (how the note and the proof reach :meth:`Witness.consider`, and where the
cosignature goes) are elsewhere: ``ledger witness`` over HTTP, :mod:`consumers.witness` over
NATS.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import msgspec
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.private_files import private_dir, write_private
from ledger.proofs.errors import CheckpointInvalid, ProofInvalid, SplitView
from ledger.proofs.merkle import verify_consistency
from ledger.proofs.note import Checkpoint, cosign, open_checkpoint

__all__ = ["STATE_FILE", "Evidence", "Witness", "WitnessState"]

log = structlog.get_logger()

#: The state file's name in the witness's directory.
STATE_FILE: Final = "witness.json"
_EVIDENCE_PREFIX: Final = "evidence-"


class WitnessState(msgspec.Struct, frozen=True, kw_only=True):
    """What a witness remembers: the last checkpoint it cosigned, and its cosignature."""

    format: str = "ledger-witness-state/v1"
    agency: str
    origin: str
    #: The checkpoint note as the log signed it (other witnesses' lines left as they came).
    note: str
    size: int
    root: bytes
    cosignature: str
    cosigned_at: int


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    """Two checkpoints of one log that the log could not prove to be one history."""

    format: str = "ledger-witness-evidence/v1"
    agency: str
    origin: str
    detected_at: int
    reason: str
    #: The checkpoint the witness had cosigned, with the witness's own cosignature line.
    cosigned: str
    cosignature: str
    #: The checkpoint the log then showed, and the consistency proof it gave with it.
    presented: str
    proof: list[bytes]


_state_decoder: Final = msgspec.json.Decoder(WitnessState)
_encoder: Final = msgspec.json.Encoder()


def _now() -> int:
    return int(time.time())


class Witness:
    """One agency's witness of one log (``log_origin``, signed by ``log_key``)."""

    def __init__(
        self,
        agency: str,
        key: Ed25519PrivateKey,
        log_origin: str,
        log_key: Ed25519PublicKey,
        state_dir: Path,
        *,
        clock: Callable[[], int] = _now,
    ) -> None:
        self.agency = agency
        self.origin = log_origin
        self._key = key
        self._log_key = log_key
        self.state_dir = private_dir(state_dir)
        self._clock = clock
        self._state = self._load()

    # -- what it remembers ----------------------------------------------------------

    @property
    def last(self) -> WitnessState | None:
        """The last checkpoint this witness cosigned, if any."""
        return self._state

    @property
    def size(self) -> int:
        """The tree size of the last checkpoint cosigned (0 before the first)."""
        return self._state.size if self._state is not None else 0

    def evidence(self) -> list[Path]:
        """The evidence files this witness has written, oldest first."""
        return sorted(self.state_dir.glob(f"{_EVIDENCE_PREFIX}*.json"))

    def _load(self) -> WitnessState | None:
        path = self.state_dir / STATE_FILE
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            state = _state_decoder.decode(raw)
        except msgspec.DecodeError as e:
            msg = f"witness state {path}: is not a witness state file ({e})"
            raise CheckpointInvalid(msg) from e
        if state.origin != self.origin or state.agency != self.agency:
            msg = (
                f"witness state {path}: belongs to agency '{state.agency}' witnessing "
                f"'{state.origin}', not '{self.agency}' witnessing '{self.origin}'"
                " (rule: one state directory per agency and log)"
            )
            raise CheckpointInvalid(msg)
        return state

    # -- what it does ---------------------------------------------------------------

    def consider(self, note: str, proof: Sequence[bytes]) -> str:
        """Cosign ``note`` if it extends the last checkpoint cosigned, proven by ``proof``.

        Returns the cosignature line (``— <agency> <base64>``). Raises
        :class:`CheckpointInvalid` for a note that is not a checkpoint of this log signed by
        its key (nothing kept), and :class:`SplitView` for one that is, but is not proven
        to extend the last one (evidence kept).
        """
        checkpoint = open_checkpoint(note, self.origin, self._log_key)
        last = self._state
        if last is not None:
            self._check_follows(last, checkpoint, note, proof)
        timestamp = self._clock()
        line = cosign(checkpoint, self.agency, self._key, timestamp)
        self._state = WitnessState(
            agency=self.agency,
            origin=self.origin,
            note=note,
            size=checkpoint.size,
            root=checkpoint.root,
            cosignature=line,
            cosigned_at=timestamp,
        )
        write_private(self.state_dir / STATE_FILE, _encoder.encode(self._state))
        log.info(
            "checkpoint_cosigned",
            agency=self.agency,
            origin=self.origin,
            size=checkpoint.size,
            previous_size=last.size if last is not None else None,
        )
        return line

    def _check_follows(
        self, last: WitnessState, checkpoint: Checkpoint, note: str, proof: Sequence[bytes]
    ) -> None:
        if checkpoint.size < last.size:
            reason = (
                f"tree size {checkpoint.size} is smaller than size {last.size} already "
                "cosigned (rule: a log only grows)"
            )
            self._refuse(last, checkpoint, note, proof, reason)
        if checkpoint.size == last.size and checkpoint.root != last.root:
            reason = (
                f"tree size {checkpoint.size} has another root than the one cosigned at that "
                "size (rule: one size, one root)"
            )
            self._refuse(last, checkpoint, note, proof, reason)
        try:
            verify_consistency(last.size, checkpoint.size, last.root, checkpoint.root, proof)
        except ProofInvalid as e:
            reason = (
                f"tree size {checkpoint.size} is not proven to extend size {last.size} "
                f"already cosigned: {e}"
            )
            self._refuse(last, checkpoint, note, proof, reason, cause=e)

    def _refuse(
        self,
        last: WitnessState,
        checkpoint: Checkpoint,
        note: str,
        proof: Sequence[bytes],
        reason: str,
        *,
        cause: Exception | None = None,
    ) -> None:
        detected_at = self._clock()
        evidence = Evidence(
            agency=self.agency,
            origin=self.origin,
            detected_at=detected_at,
            reason=reason,
            cosigned=last.note,
            cosignature=last.cosignature,
            presented=note,
            proof=list(proof),
        )
        name = (
            f"{_EVIDENCE_PREFIX}{detected_at}-{last.size}-{checkpoint.size}-"
            f"{secrets.token_hex(3)}.json"
        )
        path = self.state_dir / name
        write_private(path, _encoder.encode(evidence))
        log.critical(
            "checkpoint_refused_split_view",
            agency=self.agency,
            origin=self.origin,
            cosigned_size=last.size,
            presented_size=checkpoint.size,
            evidence=name,
        )
        msg = f"checkpoint of '{self.origin}' refused by witness '{self.agency}': {reason}"
        raise SplitView(msg, evidence=str(path)) from cause
