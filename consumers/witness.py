"""An agency's witness on NATS: read each new checkpoint of the ledger's Merkle log by direct
get, check it extends the last one cosigned, and publish the cosignature.

The checkpoint is the last message on ``<prefix>-log.checkpoint`` of ``<stream>_LOG``
(a direct get by subject, which the agency's NATS user may make); the cosigned note goes to
``<prefix>-log.cosignature.<agency>`` (the one subject of that stream it may publish to),
where the service counts it once it verifies (:class:`runtime.log.MerkleLog`). The check and
the state are :class:`ledger.proofs.witness.Witness`'s. The consistency proof comes from the
service's HTTP API (``GET /log/proof/consistency``, :func:`http_consistency_proofs`): the
proofs are computed from the tree file where the checkpointer runs, and NATS carries no
request subject for them; any other source fits the ``proofs`` callable.

A sibling of :mod:`consumers.client`, not part of it: the agency client imports nothing of the
ledger, the witness needs its proofs (``ledger.proofs``, pure). Usage::

    async with connected(url, agency="police", ...) as nc:
        await watch_checkpoints(nc, witness, stream="LEDGER", subject_prefix="ledger",
                                proofs=http_consistency_proofs(service_url, token), stop=stop)
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Final

import httpx
import structlog
from nats.aio.client import Client

from ledger.errors import LedgerUnavailable
from ledger.nats import direct_get
from ledger.proofs.note import cosigned_note, split_checkpoint
from ledger.proofs.witness import Witness
from schemas.wire import checkpoint_stream, checkpoint_subject, cosignature_subject

__all__ = ["ProofSource", "http_consistency_proofs", "watch_checkpoints", "witness_latest"]

log = structlog.get_logger()

#: ``await proofs(from_size, to_size)``: the RFC 9162 consistency proof between two sizes.
ProofSource = Callable[[int, int], Awaitable[list[bytes]]]
_TIMEOUT: Final = 10.0


def http_consistency_proofs(url: str, token: str, *, timeout: float = _TIMEOUT) -> ProofSource:
    """Consistency proofs from the ledger service's ``GET /log/proof/consistency``."""

    async def proofs(first: int, to: int) -> list[bytes]:
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        ) as client:
            answer = await client.get("/log/proof/consistency", params={"from": first, "to": to})
            answer.raise_for_status()
            return [base64.b64decode(p, validate=True) for p in answer.json()["proof"]]

    return proofs


async def witness_latest(
    nc: Client,
    witness: Witness,
    *,
    stream: str,
    subject_prefix: str,
    proofs: ProofSource,
    timeout: float = _TIMEOUT,
) -> int | None:
    """Cosign the log's latest checkpoint if it is new, and publish the cosignature; the
    size cosigned (None when there was nothing new). A split view raises
    :class:`~ledger.proofs.errors.SplitView` (evidence kept) and nothing is published."""
    log_stream = checkpoint_stream(stream)
    found = await direct_get(
        nc, log_stream, {"last_by_subj": checkpoint_subject(subject_prefix)}, timeout
    )
    if found is None:
        return None
    note = found.data.decode("utf-8", errors="replace")
    cp, _ = split_checkpoint(note)
    last = witness.last
    if last is not None and cp.size == last.size and cp.root == last.root:
        return None
    proof = await proofs(witness.size, cp.size) if last is not None and cp.size > last.size else []
    line = witness.consider(note, proof)
    subject = cosignature_subject(subject_prefix, witness.agency)
    js = nc.jetstream(timeout=timeout)
    await js.publish(subject, cosigned_note(cp, [line]).encode(), stream=log_stream)
    return cp.size


async def watch_checkpoints(
    nc: Client,
    witness: Witness,
    *,
    stream: str,
    subject_prefix: str,
    proofs: ProofSource,
    stop: asyncio.Event,
    every: float = 5.0,
    timeout: float = _TIMEOUT,
) -> None:
    """:func:`witness_latest` every ``every`` seconds until ``stop`` is set. A split view
    ends the watch (:class:`~ledger.proofs.errors.SplitView` raised: the agency must look at
    the evidence); a failed look (the service or the proof source unreachable) is logged and
    tried again."""
    while not stop.is_set():
        try:
            await witness_latest(
                nc,
                witness,
                stream=stream,
                subject_prefix=subject_prefix,
                proofs=proofs,
                timeout=timeout,
            )
        except (LedgerUnavailable, httpx.HTTPError, OSError, TimeoutError) as error:
            log.warning(
                "witness_look_failed", agency=witness.agency, error_type=type(error).__name__
            )
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            continue
