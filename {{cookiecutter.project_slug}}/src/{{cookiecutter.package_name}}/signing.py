"""Signed champions: promotion signs the champion's model file, and everything that uses it verifies first.

With the OpenSSF `model-signing` library (Sigstore bundle format). What the repo's settings say, never what a
champion record claims, decides whether a signature is required, so deleting a signature cannot switch it off:

- `signing/champion.pub` committed: signed with its private key (the `MODEL_SIGNING_KEY` secret of the
  `promotion` environment, PEM), verified with the committed public key. Offline and in tests.
- `signing.identity` in params.yaml: keyless, with Sigstore, from the promotion job's GitHub OIDC identity
  (the workflow file and branch); verified against that identity and `signing.oidc_issuer`.
- neither: no signing set up. Everything keeps working, and each job's summary says so once.

The signature sits beside the model: champion/model.joblib.sig, committed with champion.json (docs/security.md).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from .errors import PipelineError
from .paths import SIGNATURE_SUFFIX
from .paths import SIGNING_KEY as PUBLIC_KEY

KEY_ENV = "MODEL_SIGNING_KEY"  # the private key, PEM: a secret of the `promotion` environment
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
UNSIGNED = ("no model signing set up: the champion's origin is not verified (only its sha256). "
            "docs/security.md says how to set it up")


def signature_path(model: Path) -> Path:
    return model.with_name(model.name + SIGNATURE_SUFFIX)


def policy(params: dict) -> dict:
    """{"method": "key" | "sigstore" | "none", ...} from the repo's settings."""
    settings = params.get("signing") or {}
    key = Path(settings.get("public_key") or PUBLIC_KEY)
    if key.is_file():
        return {"method": "key", "public_key": key}
    if settings.get("identity"):
        return {"method": "sigstore", "identity": str(settings["identity"]),
                "issuer": str(settings.get("oidc_issuer") or GITHUB_ISSUER)}
    return {"method": "none"}


def key_fingerprint(public_key: Path) -> str:
    """sha256 of the public key's DER bytes, as `openssl pkey -pubin -outform DER | sha256sum` prints it."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(public_key.read_bytes())
    except ValueError as exc:
        raise PipelineError(f"{public_key}: not a PEM public key ({exc})") from None
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def signer(params: dict) -> str:
    """Who signs and who must have signed, in words."""
    rule = policy(params)
    if rule["method"] == "key":
        return f"the key {rule['public_key']} (sha256 {key_fingerprint(rule['public_key'])[:16]})"
    if rule["method"] == "sigstore":
        return f"{rule['identity']} (issuer {rule['issuer']}, Sigstore)"
    return "nobody"


def sign(params: dict, model: Path, target: Path | None = None) -> str | None:
    """Sign `model` as the settings say, writing `target` (default <model>.sig); who signed, or None (and no
    file) when signing is not set up."""
    rule = policy(params)
    target = target or signature_path(model)
    target.unlink(missing_ok=True)  # a stale signature must never sit beside new bytes
    if rule["method"] == "none":
        return None
    import model_signing  # half a second: only when something is signed
    if rule["method"] == "key":
        pem = os.environ.get(KEY_ENV, "")
        if not pem.strip():
            raise PipelineError(f"{rule['public_key']} is committed, so the champion must be signed, but {KEY_ENV} "
                                "(the private key, PEM; a secret of the `promotion` environment) is not set")
        with tempfile.TemporaryDirectory() as folder:
            key = Path(folder, "key.pem")
            key.touch(mode=0o600)
            key.write_text(pem.strip() + "\n")
            try:
                model_signing.signing.Config().use_elliptic_key_signer(private_key=key).sign(model, target)
            except ValueError as exc:
                raise PipelineError(f"{KEY_ENV}: cannot sign with it: {exc}") from None
    else:
        try:
            model_signing.signing.Config().use_sigstore_signer(use_ambient_credentials=True).sign(model, target)
        except Exception as exc:  # noqa: BLE001 (sigstore raises many kinds; all mean: not signed)
            raise PipelineError(f"keyless signing with Sigstore failed ({type(exc).__name__}: {exc}); on GitHub the "
                                "job needs `id-token: write`; signing.identity in params.yaml asks for it") from None
    try:
        verify(params, model, target)  # what was just written must pass the check every consumer makes
    except PipelineError:
        target.unlink(missing_ok=True)
        raise
    return signer(params)


def verify(params: dict, model: Path, signature: Path | None = None) -> str | None:
    """Check the signature (default <model>.sig) against the model's bytes and the expected signer; who signed, or
    None when signing is not set up (the caller says so). PipelineError for an unsigned, tampered or other-signer
    model."""
    rule = policy(params)
    if rule["method"] == "none":
        return None
    import model_signing

    signature = signature or signature_path(model)
    expected = signer(params)
    if not signature.is_file():
        raise PipelineError(f"{model}: unsigned ({signature} is missing), but the repo requires a signature by "
                            f"{expected}: refusing to use it")
    config = model_signing.verifying.Config()
    if rule["method"] == "key":
        config.use_elliptic_key_verifier(public_key=rule["public_key"])
    else:
        config.use_sigstore_verifier(identity=rule["identity"], oidc_issuer=rule["issuer"])
    try:
        config.verify(model, signature)
    except Exception as exc:  # noqa: BLE001 (the library raises ValueError, KeyError, sigstore's errors...)
        text = str(exc)
        if "Signature mismatch" in text or "Hash mismatch" in text:
            why = "its bytes are not the ones that were signed (tampered with, or replaced)"
        elif "Key mismatch" in text or "identity" in text.lower() or "certificate" in text.lower():
            why = f"it was signed by someone else, not {expected}"
        else:
            why = f"the signature is not valid ({type(exc).__name__}: {text[:300]})"
        raise PipelineError(f"{model}: signature check failed: {why}: refusing to use it") from None
    return expected


def check(params: dict, model: Path) -> str | None:
    """verify(), for a consumer about to use the model: when no signing is set up, say so on stderr and once in
    the job summary, and go on."""
    signed_by = verify(params, model)
    if signed_by is None:
        print(f"::notice::{UNSIGNED}", file=sys.stderr)
        note_unsigned()
    return signed_by


def note_unsigned(summary_marker: str = "model-signing-notice") -> bool:
    """Say once per job (in its summary) that signing is not set up; True when it was written now."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    marker_dir = os.environ.get("RUNNER_TEMP")
    if summary and marker_dir:
        marker = Path(marker_dir, f"{summary_marker}-{os.environ.get('GITHUB_JOB', 'job')}")
        if marker.exists():
            return False
        marker.touch()
        with open(summary, "a", encoding="utf-8") as out:
            out.write(f"**Model signing:** {UNSIGNED}.\n\n")
        return True
    return False
