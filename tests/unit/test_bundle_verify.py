"""The inspector's bundle, checked offline: an honest one verifies; every forgery, tampering,
removal or wrong proof is refused, naming the first failing sequence and the rule."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from proofs_support import PARTNERSHIP, T0, MemoryLog, cosigned, sample_log, subject

from ledger.proofs.bundle import (
    Bundle,
    decode_bundle,
    encode_bundle,
    read_bundle,
    select_checkpoint,
    write_bundle,
)
from ledger.proofs.errors import CheckpointInvalid, VerificationFailed
from ledger.proofs.keys import parse_agency_pins
from ledger.proofs.note import SIG_COSIGNATURE_V1, cosign, format_verifier_key
from ledger.signing import public_key_text
from ledger.verify import main, verify_bundle

WITNESSES = ("health", "la", "police")


def witnessed(log: MemoryLog, agencies: tuple[str, ...] = WITNESSES) -> str:
    cp = log.checkpoint()
    return cosigned(log, [cosign(cp, a, log.agency_keys[a], 1_700) for a in agencies])


def honest() -> tuple[MemoryLog, Bundle]:
    log = sample_log()
    return log, log.bundle("c1", witnessed(log))


def replace_event(bundle: Bundle, index: int, **changes: object) -> Bundle:
    events = list(bundle.events)
    events[index] = msgspec.structs.replace(events[index], **changes)
    return msgspec.structs.replace(bundle, events=events)


def failure(bundle: Bundle, **options: object) -> VerificationFailed:
    with pytest.raises(VerificationFailed) as caught:
        verify_bundle(bundle, **options)  # type: ignore[arg-type]
    return caught.value


class TestAnHonestBundle:
    def test_it_verifies_and_says_against_what_and_witnessed_by_whom(self) -> None:
        log, bundle = honest()
        report = verify_bundle(bundle, witnesses=3)
        assert (report.events, report.checkpoint, report.signed) == (4, log.size, 4)
        assert report.witnessed_by == ["health", "la", "police"]
        assert report.summary() == (
            f"4 events of case c1 verified against checkpoint {log.size}, "
            "witnessed by health, la, police"
        )

    def test_it_survives_a_round_trip_through_its_file_kept_private(self, tmp_path: Path) -> None:
        _, bundle = honest()
        path = tmp_path / "out" / "c1.bundle.json"
        write_bundle(path, bundle)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert read_bundle(path) == bundle
        assert verify_bundle(read_bundle(path)).events == 4

    def test_another_version_of_the_format_is_refused(self) -> None:
        _, bundle = honest()
        with pytest.raises(CheckpointInvalid, match="version 2"):
            decode_bundle(encode_bundle(msgspec.structs.replace(bundle, version=2)))


class TestAdversarialProofs:
    def test_a_wrong_sibling_is_refused_at_its_sequence(self) -> None:
        _, bundle = honest()
        event = bundle.events[1]
        proof = [bytes([event.proof[0][0] ^ 1]) + event.proof[0][1:], *event.proof[1:]]
        assert failure(replace_event(bundle, 1, proof=proof)).seq == event.seq

    def test_a_proof_for_another_tree_size_is_refused(self) -> None:
        log, _ = honest()
        # Proofs made for the tree one leaf smaller, shown against the checkpoint of the whole.
        small = log.bundle("c1", witnessed(log), size=log.size - 1)
        found = failure(small)
        assert found.seq == small.keys[0].seq  # the first proof checked
        assert "not proven" in found.reason

    def test_a_proof_for_another_leaf_is_refused(self) -> None:
        _, bundle = honest()
        other = bundle.events[2].proof
        assert failure(replace_event(bundle, 1, proof=other)).seq == bundle.events[1].seq

    def test_a_checkpoint_with_a_bad_log_signature_is_refused(self) -> None:
        _, bundle = honest()
        body, _, lines = bundle.checkpoint.partition("\n\n")
        log_line, _, rest = lines.partition("\n")
        name, sig = log_line.rsplit(" ", 1)
        bad = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
        note = f"{body}\n\n{name} {bad}\n{rest}"
        found = failure(msgspec.structs.replace(bundle, checkpoint=note))
        assert found.seq is None
        assert "not the log's" in found.reason

    def test_a_checkpoint_without_the_log_signature_is_refused(self) -> None:
        _, bundle = honest()
        body, _, lines = bundle.checkpoint.partition("\n\n")
        without = body + "\n\n" + "\n".join(lines.split("\n")[1:])
        found = failure(msgspec.structs.replace(bundle, checkpoint=without))
        assert "no signature by key" in found.reason

    def test_a_checkpoint_from_another_origin_is_refused(self) -> None:
        log, bundle = honest()
        other = MemoryLog(log_key=log.log_key, origin="elsewhere.test/LEDGER")
        for m in log.messages:
            other.store(m)
        found = failure(msgspec.structs.replace(bundle, checkpoint=other.note()))
        assert "origin" in found.reason

    def test_a_log_key_other_than_the_pinned_one_is_refused(self) -> None:
        log, bundle = honest()
        impostor = format_verifier_key(log.origin, Ed25519PrivateKey.generate().public_key())
        assert "not the log's" in failure(bundle, log_key=impostor).reason
        assert verify_bundle(bundle, log_key=log.verifier_key()).events == 4


class TestTheCase:
    def test_a_tampered_payload_is_refused_at_its_sequence(self) -> None:
        _, bundle = honest()
        event = bundle.events[2]
        payload = event.payload.replace(b'"act_000001"', b'"act_000002"')
        assert payload != event.payload
        assert failure(replace_event(bundle, 2, payload=payload)).seq == event.seq

    def test_a_removed_middle_event_is_refused_at_the_next_one(self) -> None:
        _, bundle = honest()
        events = [bundle.events[0], bundle.events[1], bundle.events[3]]
        found = failure(msgspec.structs.replace(bundle, events=events))
        assert found.seq == bundle.events[3].seq
        assert "versions run on by one from 1" in found.reason

    def test_a_removed_first_event_is_refused(self) -> None:
        _, bundle = honest()
        found = failure(msgspec.structs.replace(bundle, events=bundle.events[1:]))
        assert found.seq == bundle.events[1].seq

    def test_an_event_re_numbered_to_hide_a_removal_breaks_the_hash_chain(self) -> None:
        # The operator logs the case again without its third event, renumbering versions:
        # every leaf is in the tree, but the fourth event still links to the third.
        log = sample_log()
        case = subject("case", "c1")
        kept = [
            m
            for m in log.messages
            if not (m.subject == case and m.headers["Ledger-Version"] == "3")
        ]
        forged = MemoryLog(log_key=log.log_key, agency_keys=dict(log.agency_keys))
        for m in kept:
            headers = dict(m.headers)
            if m.subject == case and int(headers["Ledger-Version"]) > 3:
                headers["Ledger-Version"] = str(int(headers["Ledger-Version"]) - 1)
            forged.store(type(m)(forged.size + 1, m.subject, headers, m.payload))
        bundle = forged.bundle("c1", witnessed(forged))
        found = failure(bundle)
        assert found.seq == bundle.events[2].seq
        assert "Ledger-Prev-Hash" in found.reason

    def test_a_forged_agency_signature_is_refused(self) -> None:
        log = sample_log()
        # The operator records an event "as" police, signed with a key it made up.
        log.append(
            subject("case", "c1"), "ActionRecorded", "police", key=Ed25519PrivateKey.generate()
        )
        bundle = log.bundle("c1", witnessed(log))
        found = failure(bundle)
        assert found.seq == log.size
        assert "does not verify" in found.reason

    def test_another_agencys_signature_on_an_event_it_did_not_record_is_refused(self) -> None:
        log = sample_log()
        case = subject("case", "c1")
        log.append(
            case, "ActionRecorded", "police", key=log.agency_keys["health"], signed_as="health"
        )
        found = failure(log.bundle("c1", witnessed(log)))
        assert found.seq == log.size
        assert "an agency signs only what it records" in found.reason

    def test_a_signature_naming_another_agencys_key_as_ones_own_is_refused(self) -> None:
        log = sample_log()
        case = subject("case", "c1")
        log.append(
            case, "ActionRecorded", "police", key=log.agency_keys["health"], key_id="health-1"
        )
        found = failure(log.bundle("c1", witnessed(log)))
        assert found.seq == log.size
        assert "not registered" in found.reason

    def test_a_signature_by_a_revoked_key_is_refused(self) -> None:
        log = sample_log()
        log.append(
            subject("partnership", PARTNERSHIP),
            "AgencyKeyRevoked",
            "police",  # signed by police-1, its live key
            {"agency": "police", "key_id": "police-1", "reason": "compromised"},
        )
        log.append(subject("case", "c1"), "ActionRecorded", "police")
        found = failure(log.bundle("c1", witnessed(log)))
        assert found.seq == log.size
        assert "revoked" in found.reason

    def test_an_unsigned_event_once_signatures_are_required_is_refused(self) -> None:
        log = sample_log()
        log.append(
            subject("partnership", PARTNERSHIP),
            "SignaturesRequired",
            "admin",
            {"required_from": T0.date().isoformat()},
        )
        log.append(subject("case", "c1"), "ActionRecorded", "police", sign=False)
        found = failure(log.bundle("c1", witnessed(log)))
        assert (found.seq, "required" in found.reason) == (log.size, True)

    def test_an_unsigned_event_before_signatures_are_required_verifies(self) -> None:
        log = sample_log()
        log.append(subject("case", "c1"), "ActionRecorded", "police", sign=False)
        report = verify_bundle(log.bundle("c1", witnessed(log)))
        assert (report.events, report.signed) == (5, 4)

    def test_an_event_recorded_after_the_as_of_is_refused(self) -> None:
        _, bundle = honest()
        as_of = T0 + dt.timedelta(minutes=6)  # before the case's last two events
        found = failure(msgspec.structs.replace(bundle, as_of=as_of))
        assert found.seq == bundle.events[2].seq


class TestWitnesses:
    def test_a_quorum_larger_than_the_cosignatures_is_refused(self) -> None:
        log = sample_log()
        bundle = log.bundle("c1", witnessed(log, ("police", "health")))
        assert verify_bundle(bundle, witnesses=2).witnessed_by == ["health", "police"]
        assert "where 3 are required" in failure(bundle, witnesses=3).reason

    def test_a_witness_key_the_log_never_registered_counts_for_no_one(self) -> None:
        log = sample_log()
        stranger = Ed25519PrivateKey.generate()
        cp = log.checkpoint()
        note = cosigned(log, [cosign(cp, "police", stranger, 1)])
        bundle = msgspec.structs.replace(
            log.bundle("c1", note),
            witnesses=[format_verifier_key("police", stranger.public_key(), SIG_COSIGNATURE_V1)],
        )
        assert failure(bundle, witnesses=1).seq is None
        assert verify_bundle(bundle).witnessed_by == []

    def test_a_witness_whose_key_the_tree_holds_revoked_counts_for_no_one(self) -> None:
        log = sample_log()
        log.append(
            subject("partnership", PARTNERSHIP),
            "AgencyKeyRevoked",
            "police",  # signed by police-1, its live key
            {"agency": "police", "key_id": "police-1", "reason": "rotated"},
        )
        report = verify_bundle(log.bundle("c1", witnessed(log)))  # cosigned at time 1,700
        assert report.witnessed_by == ["health", "la"]

    def test_pinned_witness_keys_are_the_only_ones_that_count(self) -> None:
        log, bundle = honest()
        pinned = format_verifier_key(
            "police", log.agency_keys["police"].public_key(), SIG_COSIGNATURE_V1
        )
        assert verify_bundle(bundle, witnesses=1, witness_keys=[pinned]).witnessed_by == ["police"]
        assert "where 2 are required" in failure(bundle, witnesses=2, witness_keys=[pinned]).reason

    def test_a_bundle_from_one_side_of_a_split_view_lacks_the_other_sides_witnesses(self) -> None:
        police_view = sample_log()
        health_view = police_view.fork()
        police_view.append(subject("case", "c1"), "ActionRecorded", "la")
        health_view.append(subject("case", "c1"), "CaseClosed", "la")
        bundle = police_view.bundle("c1", witnessed(police_view, ("police",)))
        assert verify_bundle(bundle, witnesses=1).witnessed_by == ["police"]
        assert failure(bundle, witnesses=2).seq is None


class TestPinnedAgencyKeys:
    def test_the_agencys_own_key_verifies_and_another_fails_at_its_registration(self) -> None:
        log, bundle = honest()
        police = public_key_text(log.agency_keys["police"])
        assert verify_bundle(bundle, pins=parse_agency_pins([f"police:{police}"])).events == 4
        other = public_key_text(Ed25519PrivateKey.generate())
        found = failure(bundle, pins=parse_agency_pins([f"police:{other}"]))
        registered = next(
            e.seq for e in bundle.keys if b'"police"' in e.payload and b"public_key" in e.payload
        )
        assert found.seq == registered
        assert "pinned_agency_keys" in found.reason

    def test_a_pin_for_an_agency_with_no_key_in_the_bundle_is_reported_unused(self) -> None:
        log, bundle = honest()
        police = public_key_text(log.agency_keys["police"])
        pins = parse_agency_pins([f"police:{police}", f"polce:{police}"])
        assert verify_bundle(bundle, pins=pins).pins_unused == ["polce"]

    def test_the_command_takes_pins_and_refuses_a_malformed_one_with_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        _, bundle = honest()
        write_bundle(tmp_path / "b.json", bundle)
        other = public_key_text(Ed25519PrivateKey.generate())
        assert main([str(tmp_path / "b.json"), "--agency-key", f"police:{other}"]) == 1
        assert "pinned_agency_keys" in capsys.readouterr().err
        assert main([str(tmp_path / "b.json"), "--agency-key", "police"]) == 2
        assert "AGENCY:PUBLIC_KEY" in capsys.readouterr().err


class TestSelectingTheCheckpoint:
    def test_the_smallest_witnessed_checkpoint_that_covers_the_case_is_chosen(self) -> None:
        candidates = [(5, True), (8, False), (9, True), (12, True)]
        assert select_checkpoint(candidates, 7) == 9
        assert select_checkpoint(candidates, 10) == 12
        assert select_checkpoint([(8, False), (10, False)], 7) == 8
        assert select_checkpoint(candidates, 13) is None


class TestTheCommand:
    def test_it_prints_the_summary_and_exits_0(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        _, bundle = honest()
        write_bundle(tmp_path / "b.json", bundle)
        assert main([str(tmp_path / "b.json"), "--witnesses", "3"]) == 0
        assert "4 events of case c1 verified against checkpoint" in capsys.readouterr().out

    def test_it_names_the_failing_sequence_and_exits_1(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        _, bundle = honest()
        seq = bundle.events[1].seq
        bad = replace_event(bundle, 1, payload=bundle.events[1].payload + b" ")
        write_bundle(tmp_path / "b.json", bad)
        assert main([str(tmp_path / "b.json")]) == 1
        assert f"event at sequence {seq}" in capsys.readouterr().err
