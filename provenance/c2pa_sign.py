"""C2PA content credentials: sign an mp4 with a manifest that says how it was made.

With no certificate configured, a development CA and signing certificate are created once
under the cache folder. They say "DEVELOPMENT" in their subject: such credentials prove
nothing to anyone else, and vidflow reports them as development in every manifest.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from vidflow import __version__
from vidflow.settings import Settings

logger = logging.getLogger(__name__)

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
DEV_SUBJECT = "vidflow DEVELOPMENT signer - not trusted"


class Credentials(BaseModel):
    """A certificate chain and its key. The key is never logged, dumped or stored elsewhere."""

    cert_chain_pem: bytes = Field(description="Signing certificate first, then its CA.")
    key_pem: bytes = Field(repr=False, exclude=True, description="PEM private key.")
    development: bool = Field(description="The self-made development credentials.")
    subject: str = Field(description="Subject of the signing certificate.")


class C2paStatus(BaseModel):
    """What reading a file's C2PA manifest found."""

    present: bool = Field(description="The file carries a C2PA manifest.")
    valid: bool = Field(description="Its signature and hashes validate (trusted or not).")
    trusted: bool = Field(False, description="Signer chains to a trusted root.")
    state: str | None = Field(None, description="c2pa validation state (Valid, Trusted, Invalid).")
    errors: list[str] = Field(default_factory=list)
    claims: dict[str, Any] = Field(default_factory=dict, description="What the manifest says.")


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write beside `path` and rename over it: a crash or a second run at the same moment
    leaves the old file or the new one, never a torn PEM. The key is created 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _pair_matches(chain: bytes, key_pem: bytes) -> bool:
    """True when the key belongs to the chain's first certificate (a crash between the two
    renames could otherwise leave a new key beside an old certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert_key = x509.load_pem_x509_certificate(chain).public_key()
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError:
        return False
    raw = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(key.public_key().public_bytes(*raw) == cert_key.public_bytes(*raw))


def _dev_credentials(folder: Path) -> Credentials:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    cert_path, key_path = folder / "dev-chain.pem", folder / "dev-key.pem"
    if cert_path.exists() and key_path.exists():
        chain, key_pem = cert_path.read_bytes(), key_path.read_bytes()
        if _pair_matches(chain, key_pem):
            return Credentials(
                cert_chain_pem=chain, key_pem=key_pem, development=True, subject=DEV_SUBJECT
            )
        logger.warning("development C2PA key and certificate in %s do not match; new ones", folder)
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vidflow DEVELOPMENT CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, DEV_SUBJECT),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vidflow development"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
        serialization.Encoding.PEM
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(key_path, key_pem, mode=0o600)
    _write_atomic(cert_path, chain)
    logger.warning("created a DEVELOPMENT C2PA signing certificate in %s", folder)
    return Credentials(cert_chain_pem=chain, key_pem=key_pem, development=True, subject=DEV_SUBJECT)


def load_credentials(settings: Settings) -> Credentials:
    """Configured credentials, or the development ones (created on first use)."""
    if settings.c2pa_cert is None or settings.c2pa_key is None:
        return _dev_credentials(settings.cache_dir / "c2pa")
    secret = settings.c2pa_key.get_secret_value()
    key_pem = secret.encode() if "-----BEGIN" in secret else Path(secret).read_bytes()
    chain = Path(settings.c2pa_cert).read_bytes()
    from cryptography import x509

    subject = x509.load_pem_x509_certificate(chain).subject.rfc4514_string()
    return Credentials(cert_chain_pem=chain, key_pem=key_pem, development=False, subject=subject)


def manifest_definition(title: str, model_id: str, claims: dict[str, Any]) -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": "vidflow", "version": __version__}],
        "title": title,
        "format": "video/mp4",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": {"name": "vidflow", "version": __version__},
                            "parameters": {"model": model_id},
                        }
                    ]
                },
            },
            {"label": "org.vidflow.job", "data": claims},
        ],
    }


class Mp4Signer:
    """Signs mp4 files; the c2pa signer is built once per batch."""

    def __init__(self, credentials: Credentials) -> None:
        from c2pa import C2paSignerInfo, C2paSigningAlg, Signer

        self.credentials = credentials
        info = C2paSignerInfo(
            C2paSigningAlg.ES256, credentials.cert_chain_pem, credentials.key_pem, None
        )
        self._signer = Signer.from_info(info)

    def sign(self, source: Path, dest: Path, definition: dict[str, Any]) -> None:
        from c2pa import Builder

        with (
            Builder(json.dumps(definition)) as builder,
            source.open("rb") as src,
            dest.open("w+b") as dst,
        ):
            builder.sign(self._signer, "video/mp4", src, dst)


def read_c2pa(path: Path) -> C2paStatus:
    """Whether the file carries a C2PA manifest, whether it validates, and its claims."""
    from c2pa import C2paError, Reader

    try:
        with Reader(str(path)) as reader:
            state = reader.get_validation_state()
            store = json.loads(reader.json())
    except C2paError as exc:
        text = str(exc)
        if "ManifestNotFound" in text or "JumbfNotFound" in text or "not found" in text.lower():
            return C2paStatus(present=False, valid=False)
        return C2paStatus(present=True, valid=False, state="Invalid", errors=[text])
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    statuses = store.get("validation_status", []) or []
    # An untrusted signer (any development certificate, or a CA missing from the trust list)
    # is a fact to report, not a sign of tampering.
    untrusted = [s for s in statuses if str(s.get("code", "")).endswith(".untrusted")]
    errors = [
        f"{s.get('code')}: {s.get('explanation', '')}" for s in statuses if s not in untrusted
    ]
    claims: dict[str, Any] = {"claim_generator": active.get("claim_generator_info")}
    for assertion in active.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            claims["actions"] = assertion.get("data", {}).get("actions")
        elif assertion.get("label") == "org.vidflow.job":
            claims["job"] = assertion.get("data")
    claims["signer"] = (active.get("signature_info") or {}).get("issuer")
    valid = state in ("Valid", "Trusted") and not errors
    return C2paStatus(
        present=True,
        valid=valid,
        trusted=valid and not untrusted,
        state=state,
        errors=errors,
        claims=claims,
    )
