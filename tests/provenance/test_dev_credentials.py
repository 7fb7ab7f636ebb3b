"""The development signing key and certificate: written by rename, always a matching pair."""

from __future__ import annotations

import stat
from pathlib import Path

from provenance.c2pa_sign import _dev_credentials, _pair_matches


def test_dev_credentials_are_written_whole_and_the_key_private(tmp_path: Path) -> None:
    made = _dev_credentials(tmp_path / "c2pa")
    files = sorted(p.name for p in (tmp_path / "c2pa").iterdir())
    assert files == ["dev-chain.pem", "dev-key.pem"]  # no temporary file left
    assert stat.S_IMODE((tmp_path / "c2pa" / "dev-key.pem").stat().st_mode) == 0o600
    assert _pair_matches(made.cert_chain_pem, made.key_pem)
    assert _dev_credentials(tmp_path / "c2pa") == made  # reused, not remade


def test_a_key_that_does_not_match_its_certificate_is_replaced(tmp_path: Path) -> None:
    first = _dev_credentials(tmp_path / "a")
    other = _dev_credentials(tmp_path / "b")
    # As a crash between the two renames of a second writer could leave them.
    (tmp_path / "a" / "dev-key.pem").write_bytes(other.key_pem)
    again = _dev_credentials(tmp_path / "a")
    assert again.cert_chain_pem != first.cert_chain_pem
    assert _pair_matches(again.cert_chain_pem, again.key_pem)
