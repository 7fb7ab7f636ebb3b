"""C2PA signing: development credentials, configured credentials, and the key kept secret."""

# Fixtures are imported from provenance_fixtures and named again as test arguments.
# ruff: noqa: F811

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from provenance_fixtures import clip, make_job, settings, stamped  # noqa: F401

from provenance.c2pa_sign import DEV_SUBJECT, load_credentials, read_c2pa
from provenance.stamp import ProvenanceReport, Stamper
from provenance.verify import verify_file
from vidflow.settings import Settings


def test_development_credentials_are_made_once_and_say_so(settings: Settings) -> None:
    first = load_credentials(settings)
    assert first.development and first.subject == DEV_SUBJECT
    leaf = x509.load_pem_x509_certificate(first.cert_chain_pem)
    assert "DEVELOPMENT" in leaf.subject.rfc4514_string()
    key_file = settings.cache_dir / "c2pa" / "dev-key.pem"
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert load_credentials(settings).key_pem == first.key_pem  # reused, not remade


def test_manifest_says_how_the_video_was_made(stamped: tuple[Path, ProvenanceReport]) -> None:
    path, report = stamped
    status = read_c2pa(path)
    assert status.present and status.valid and not status.trusted
    action = status.claims["actions"][0]
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    assert action["parameters"]["model"] == make_job().model_id
    assert status.claims["job"]["job_hash"] == make_job().content_hash
    assert status.claims["job"]["development_certificate"] is True
    assert report.c2pa.signed and report.c2pa.development_certificate


def test_the_signing_key_never_reaches_logs_or_reports(
    clip: np.ndarray, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(cache_dir=tmp_path / "cache")
    report = Stamper(settings).stamp(clip[:9], 16, tmp_path / "a.mp4", make_job())
    credentials = load_credentials(settings)
    secret = credentials.key_pem.decode().splitlines()[1]
    assert secret not in caplog.text
    assert secret not in report.model_dump_json()
    assert secret not in verify_file(tmp_path / "a.mp4").model_dump_json()
    assert secret.encode() not in (tmp_path / "a.mp4").read_bytes()
    assert "key_pem" not in credentials.model_dump() and secret not in repr(credentials)


def test_a_configured_certificate_is_not_labelled_development(
    settings: Settings, tmp_path: Path
) -> None:
    dev = load_credentials(settings)
    cert, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert.write_bytes(dev.cert_chain_pem)
    key.write_bytes(dev.key_pem)
    for key_setting in (str(key), dev.key_pem.decode()):  # a path, or the PEM text
        production = Settings(cache_dir=tmp_path, c2pa_cert=cert, c2pa_key=key_setting)
        credentials = load_credentials(production)
        assert credentials.development is False and credentials.key_pem == dev.key_pem
        assert dev.key_pem.decode().splitlines()[1] not in repr(production)
