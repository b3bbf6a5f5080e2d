"""API tokens: shown once, kept as hashes in a 0600 file, bound to a role; revoked ones refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from runtime.tokens import InvalidToken, InvalidTokenRequest, Role, TokenStore


class TestTokenStore:
    def test_an_issued_token_authenticates_to_its_record(self, tmp_path: Path) -> None:
        store = TokenStore(tmp_path)
        token, record = store.issue(Role.AGENCY, "northshire", agency="la", actor="act_sw-000001")
        assert token.startswith(f"ldg_{record.id}_")
        assert len(token) > 40
        found = store.authenticate(token)
        assert found == record
        assert (found.role, found.partnership, found.agency) == (Role.AGENCY, "northshire", "la")

    def test_the_file_holds_only_the_hash_and_is_private(self, tmp_path: Path) -> None:
        store = TokenStore(tmp_path)
        token, record = store.issue(Role.BOARD, "northshire", agency="la", actor="act_sw-000001")
        text = store.path.read_text()
        assert token not in text
        assert token.rsplit("_", 1)[1] not in text
        assert record.sha256 in text
        assert stat.S_IMODE(store.path.stat().st_mode) == 0o600

    def test_a_revoked_token_is_refused_by_a_store_that_read_it_before(
        self, tmp_path: Path
    ) -> None:
        running = TokenStore(tmp_path)
        token, record = running.issue(Role.ADMIN, "northshire", agency="la", actor="act_sw-000001")
        running.authenticate(token)
        TokenStore(tmp_path).revoke(record.id)  # another process
        with pytest.raises(InvalidToken, match="revoked"):
            running.authenticate(token)
        assert running.list()[0].revoked_at is not None

    def test_a_token_issued_by_another_process_is_seen(self, tmp_path: Path) -> None:
        running = TokenStore(tmp_path)
        assert running.list() == []
        token, _ = TokenStore(tmp_path).issue(Role.INSPECTOR, "northshire")
        assert running.authenticate(token).role is Role.INSPECTOR

    @pytest.mark.parametrize(
        "token", ["", "ldg", "ldg_12345678", "ldg_1234567_x", "xyz_12345678_abc", "Bearer x"]
    )
    def test_a_malformed_token_is_refused(self, tmp_path: Path, token: str) -> None:
        with pytest.raises(InvalidToken):
            TokenStore(tmp_path).authenticate(token)

    def test_a_real_id_with_a_trailing_newline_is_malformed_not_looked_up(
        self, tmp_path: Path
    ) -> None:
        store = TokenStore(tmp_path)
        token, record = store.issue(Role.INSPECTOR, "northshire")
        secret = token.split("_", 2)[2]
        with pytest.raises(InvalidToken, match="malformed"):
            store.authenticate(f"ldg_{record.id}\n_{secret}")

    def test_a_guessed_secret_for_a_known_id_is_refused(self, tmp_path: Path) -> None:
        store = TokenStore(tmp_path)
        _, record = store.issue(Role.INSPECTOR, "northshire")
        with pytest.raises(InvalidToken, match="unknown"):
            store.authenticate(f"ldg_{record.id}_{'A' * 43}")

    @pytest.mark.parametrize(
        ("role", "kwargs", "field"),
        [
            (Role.AGENCY, {"actor": "act_sw-000001"}, "agency"),
            (Role.AGENCY, {"agency": "la"}, "actor"),
            (Role.BOARD, {"agency": "LA", "actor": "act_sw-000001"}, "agency"),
            (Role.ADMIN, {"agency": "la", "actor": "Jane Smith"}, "actor"),
            (Role.INSPECTOR, {"agency": "la"}, "agency"),
        ],
    )
    def test_a_token_that_could_not_record_is_not_issued(
        self, tmp_path: Path, role: Role, kwargs: dict[str, str], field: str
    ) -> None:
        with pytest.raises(InvalidTokenRequest) as caught:
            TokenStore(tmp_path).issue(role, "northshire", **kwargs)
        assert caught.value.field == field
        assert not (tmp_path / "tokens.json").exists()

    def test_revoking_an_unknown_or_revoked_token_is_refused(self, tmp_path: Path) -> None:
        store = TokenStore(tmp_path)
        _, record = store.issue(Role.INSPECTOR, "northshire")
        with pytest.raises(InvalidTokenRequest, match="does not exist"):
            store.revoke("00000000")
        store.revoke(record.id)
        with pytest.raises(InvalidTokenRequest, match="already revoked"):
            store.revoke(record.id)
