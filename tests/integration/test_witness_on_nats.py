"""An agency's witness on a real nats-server: it reads the checkpointer's checkpoints by direct
get, cosigns each that extends the last, and the service counts its cosignature; shown a
rewritten history under the same log key and origin, it refuses and keeps the evidence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import nats
import pytest
from ledger_scenario import LA, PARTNERSHIP
from log_support import CASE, KEYS, checkpoint_all, log_settings, record_case, witness_of
from nats.aio.client import Client

from consumers.witness import ProofSource, witness_latest
from ledger.proofs.errors import SplitView
from ledger.proofs.note import quorum, split_checkpoint
from runtime.service import Service, open_service


@pytest.fixture
def service(
    tmp_path: Path, nats_url: str, stream_name: str, subject_prefix: str
) -> Iterator[Service]:
    settings = log_settings(tmp_path / "data", nats_url, stream_name, subject_prefix)
    with open_service(settings, configure_logs=False) as running:
        yield running


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


def proofs_of(service: Service) -> ProofSource:
    """The service's consistency proofs, as ``GET /log/proof/consistency`` would serve them."""

    async def proofs(first: int, to: int) -> list[bytes]:
        return service.merkle_log.consistency_proof(first, to).proof

    return proofs


def more_events(service: Service, n: int) -> None:
    for _ in range(n):
        service.ledger.record_action(
            partnership=PARTNERSHIP, case=CASE, recorded_by=LA, action="home_visit"
        )


class TestWitnessOnNats:
    async def test_each_new_checkpoint_is_cosigned_and_counted_by_the_service(
        self, service: Service, nc: Client, tmp_path: Path
    ) -> None:
        record_case(service)
        first = checkpoint_all(service)
        settings = service.settings
        witness = witness_of(service, "police", tmp_path / "police")
        options = {"stream": settings.stream, "subject_prefix": settings.subject_prefix}
        assert await witness_latest(nc, witness, proofs=proofs_of(service), **options) == first
        assert await witness_latest(nc, witness, proofs=proofs_of(service), **options) is None
        more_events(service, 3)
        second = checkpoint_all(service)
        assert second == first + 3
        # The second look needs a real consistency proof from the first size.
        assert await witness_latest(nc, witness, proofs=proofs_of(service), **options) == second
        cp, lines = split_checkpoint(service.merkle_log.latest_checkpoint())
        police = {"police": KEYS["police"].public_key()}
        assert (cp.size, quorum(cp, lines, police, 1)) == (second, ["police"])

    async def test_a_rewritten_history_under_the_same_key_is_refused_with_evidence(
        self,
        service: Service,
        nc: Client,
        tmp_path: Path,
        nats_url: str,
        unique_token: str,
    ) -> None:
        record_case(service)
        checkpoint_all(service)
        settings = service.settings
        witness = witness_of(service, "health", tmp_path / "health")
        options = {"stream": settings.stream, "subject_prefix": settings.subject_prefix}
        cosigned = await witness_latest(nc, witness, proofs=proofs_of(service), **options)
        # The operator's rewrite: the same data dir (so the same log key), the same origin,
        # another stream holding another history, longer than the one cosigned.
        rewrite = msgspec.structs.replace(
            log_settings(settings.data_dir, nats_url, f"RW_{unique_token}", f"rw{unique_token}"),
            log_origin=settings.origin,
        )
        with open_service(rewrite, configure_logs=False) as rewritten:
            record_case(rewritten)
            more_events(rewritten, 2)
            checkpoint_all(rewritten)
            rewritten_options = {"stream": rewrite.stream, "subject_prefix": rewrite.subject_prefix}
            with pytest.raises(SplitView):
                await witness_latest(nc, witness, proofs=proofs_of(rewritten), **rewritten_options)
        assert witness.size == cosigned
        assert len(witness.evidence()) == 1
