"""Signed champions (docs/security.md): promotion signs the champion's model file with model-signing; export and
`verify-champion` (the deploy's check) refuse an unsigned, tampered or other-signer model; a repo without signing
set up keeps working and says so once per job summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from test_champion import commit_all, registered

from {{ cookiecutter.package_name }} import champion, signing
{%- if cookiecutter.mlops_level == '2' %}
from {{ cookiecutter.package_name }}.ci import promote, rollback
{%- else %}
from {{ cookiecutter.package_name }}.ci import promote
{%- endif %}
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.serving import export


def key_pair() -> tuple[str, bytes]:
    """(private key PEM, as the secret holds it; public key PEM, as the repo commits it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def test_champions_are_signed_and_verified_before_use(params, project, monkeypatch, tmp_path):
    registered(params)  # one pipeline run for the whole story: it takes seconds

    # No signing set up: everything works, and each job's summary says so once.
    record = promote.promote(params)["record"]
    assert record["signed_by"] is None and not (project / "champion/model.joblib.sig").exists()
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path))
    monkeypatch.setenv("GITHUB_JOB", "build")
    for command in (["export", "--out", "build/model"], ["verify-champion"]):  # two steps of one job
        result = run_cli(*command)
        assert result.returncode == 0, result.stderr
        assert f"::notice::{signing.UNSIGNED}" in result.stderr
    assert "not signed (no signing set up; docs/security.md)" in result.stdout
    assert summary.read_text().count("no model signing set up") == 1
    assert json.loads(Path("build/model/metadata.json").read_text())["signed_by"] is None
    shutil.rmtree(project / "build")
    shutil.rmtree(project / "champion")
    (project / "champion.json").unlink()

    private, public = key_pair()
    (project / "signing").mkdir()
    (project / "signing/champion.pub").write_bytes(public)

    # The public key is committed, but the private key is not set: nothing is written.
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    with pytest.raises(PipelineError, match=r"signing/champion.pub is committed, so the champion must be signed, "
                                            r"but MODEL_SIGNING_KEY .* is not set"):
        promote.promote(params)
    assert not (project / "champion.json").exists() and not (project / "champion").exists()

    monkeypatch.setenv(signing.KEY_ENV, private)
    record = promote.promote(params)["record"]
    fingerprint = signing.key_fingerprint(project / "signing/champion.pub")
    assert record["signed_by"] == f"the key signing/champion.pub (sha256 {fingerprint[:16]})"
    assert json.loads((project / "champion/model.joblib.sig").read_text())["verificationMaterial"]
    commit_all(project, "champion v1, signed")
    assert export.load(params, "champion")[1]["signed_by"] == record["signed_by"]
    checked = run_cli("verify-champion")
    assert checked.returncode == 0 and f"signed by {record['signed_by']}" in checked.stdout

    model, signature = project / "champion/model.joblib", project / "champion/model.joblib.sig"
    good_model, good_signature = model.read_bytes(), signature.read_bytes()

    def refused(match: str) -> None:
        with pytest.raises(PipelineError, match=match):
            export.run(params, "champion", project / "build/refused")
        result = run_cli("verify-champion")
        assert result.returncode == 2 and "refusing to use it" in result.stderr, result.stderr
        assert not (project / "build/refused").exists()

    # Tampered: other bytes, with champion.json edited to match them, as anyone who can push could.
    model.write_bytes(good_model + b"\0")
    champion.write({**record, "model_sha256": champion.sha256_file(model)})
    refused(r"signature check failed: its bytes are not the ones that were signed")
    model.write_bytes(good_model)
    champion.write(record)

    # Signed by someone else: a valid signature, by another key.
    other, _ = key_pair()
    monkeypatch.setenv(signing.KEY_ENV, other)
    with pytest.raises(PipelineError, match="signed by someone else"):  # sign() checks what it wrote
        signing.sign({**params}, model, tmp_path / "other.sig")
    (tmp_path / "other.pem").write_text(other)
    import model_signing

    model_signing.signing.Config().use_elliptic_key_signer(private_key=tmp_path / "other.pem").sign(model, signature)
    refused(r"signature check failed: it was signed by someone else, not the key signing/champion.pub")

    # Unsigned: the signature deleted.
    signature.unlink()
    refused(r"champion/model.joblib: unsigned \(champion/model.joblib.sig is missing\), but the repo requires")
    signature.write_bytes(good_signature)
    assert run_cli("verify-champion").returncode == 0

    # A rollback brings back the signature made for the restored bytes.
    champion.write({**record, "version": 2, "highest_version": 2, "model_sha256": "f" * 64})
    signature.write_bytes(b"{}")
    commit_all(project, "champion v2")
    # A rollback deploy checks the earlier version as the commit that made it recorded it.
    checked = run_cli("verify-champion", "--version", "1")
    assert checked.returncode == 0 and "champion v1: sha256 matches" in checked.stdout, checked.stderr
{%- if cookiecutter.mlops_level == '2' %}
    rollback.rollback(1)  # rollback ships with level 2
    assert signature.read_bytes() == good_signature and run_cli("verify-champion").returncode == 0
{%- endif %}
