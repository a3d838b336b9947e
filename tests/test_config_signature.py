"""The signed-set settings mis-set (config_signature.py, config_values.py, dsig/trust.py;
outside test 19b, F6): what cannot work refuses to start with one `Error: configuration:` line
and status 2, naming the setting; what works but is likely a mistake is a WARNING line; no
message shows a library's internals."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from xds_server.cli import main
from xds_server.config import ConfigError, load_settings
from xds_server.config_signature import hl7_warning, refusals, warnings

LISTED = "1.2.250.1.999.3"


def serve(tmp_path, env: dict[str, str]):
    """`serve` with these settings on a cisis server that requires signed sets."""
    return CliRunner().invoke(main, ["serve", "--port", "18997"], env={
        "XDS_DATA_DIR": str(tmp_path / "var"), "XDS_PROFILE": "ihe",
        "XDS_REQUIRE_SUBMISSION_SIGNATURE": "true", **env})


def one_error(result, *words: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert line.startswith("Error: configuration:") and all(w in line for w in words), line
    return line


@pytest.mark.parametrize("value, says", [
    # an unset shell variable after '=': the repository was silently unbound (trusted from
    # any VIHF holder)
    (f"{LISTED}=", f"repository {LISTED}: '=' with no certificate subject"),
    (f"{LISTED}=this is not a DN", "'this is not a DN' is not a distinguished name"),
])
def test_a_listed_repository_with_an_empty_or_malformed_subject_is_refused(
        tmp_path, authority, value, says):
    with pytest.raises(ConfigError, match="XDS_SIGNATURE_VERIFYING_REPOSITORIES"):
        load_settings({}, environ={"XDS_SIGNATURE_VERIFYING_REPOSITORIES": value})
    one_error(serve(tmp_path, {"XDS_SIGNATURE_VERIFYING_REPOSITORIES": value,
                               "XDS_SIGNATURE_TRUSTED_CERTS": str(authority.trusted)}), says)


def test_a_bound_repository_on_a_server_asking_no_client_certificate_is_refused(tmp_path,
                                                                                authority):
    """The subject comes only from the verified handshake: without TLS client certificates
    every ITI-42 of that repository would be refused (it started, failing closed, silently)."""
    settings = load_settings({}, environ={
        "XDS_REQUIRE_SUBMISSION_SIGNATURE": "true",
        "XDS_SIGNATURE_VERIFYING_REPOSITORIES": f"{LISTED}=CN=Repository B,O=Hopital B"})
    [refusal] = refusals(settings)
    assert f"binds {LISTED} to a TLS client certificate, but this server asks for none" \
        in refusal
    one_error(serve(tmp_path, {
        "XDS_SIGNATURE_VERIFYING_REPOSITORIES": f"{LISTED}=CN=Repository B,O=Hopital B",
        "XDS_SIGNATURE_TRUSTED_CERTS": str(authority.trusted)}), "XDS_SIGNATURE_VERIFYING")
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("env, says", [
    ({"XDS_REGISTRY_CERTFILE": "/etc/ssl/repo.pem"}, "need an https XDS_REGISTRY_URL"),
    ({"XDS_REGISTRY_CERTFILE": "/etc/ssl/repo.pem", "XDS_REGISTRY_URL":
      "http://registry.example/xds/registry"}, "need an https XDS_REGISTRY_URL"),
    ({"XDS_REGISTRY_KEYFILE": "/etc/ssl/repo.key", "XDS_REGISTRY_URL":
      "https://registry.example/xds/registry"}, "without registry_certfile"),
])
def test_the_repository_client_certificate_without_an_https_registry_is_refused(env, says):
    with pytest.raises(ConfigError, match=says):
        load_settings({}, environ=env)


def test_a_number_setting_says_what_it_expects_not_the_librarys_words(tmp_path):
    with pytest.raises(ConfigError) as refused:
        load_settings({}, environ={"XDS_SIGNATURE_MAX_AGE": "abc"})
    assert str(refused.value) == "signature_max_age from XDS_SIGNATURE_MAX_AGE: expected a " \
                                 "whole number (ASCII digits), got 'abc'"


@pytest.mark.parametrize("which, says", [
    ("not-pem", "not a certificate (PEM '-----BEGIN CERTIFICATE-----' blocks"),
    ("leaf", "is not a certification authority (basicConstraints CA false or absent)"),
])
def test_trusted_certificates_that_are_not_an_authority_are_refused(tmp_path, authority,
                                                                     which, says):
    if which == "not-pem":
        path = tmp_path / "trusted.pem"
        path.write_bytes(b"not a certificate at all\n")
    else:
        path = authority.files("seal")[1]
    line = one_error(serve(tmp_path, {"XDS_SIGNATURE_TRUSTED_CERTS": str(path)}), says)
    assert "asn1" not in line and "ParseError" not in line


def test_likely_mistakes_are_said_at_start():
    def said(**environ: str) -> list[str]:
        return warnings(load_settings({}, environ={
            "XDS_REPOSITORY_UNIQUE_ID": "1.2.250.1.999.30", "XDS_PROFILE": "ihe",
            **{f"XDS_{k.upper()}": v for k, v in environ.items()}}))

    assert said() == [] and said(signature_verifying_repositories=LISTED, security="none",
                                 require_submission_signature="true") == []
    [unused] = said(signature_verifying_repositories=LISTED,
                    require_submission_signature="false")
    assert "XDS_REQUIRE_SUBMISSION_SIGNATURE is false: the list is not used" in unused
    [own] = said(signature_verifying_repositories="1.2.250.1.999.30",
                 require_submission_signature="true")
    assert "names this server's own repository" in own
    [unbound] = said(signature_verifying_repositories=LISTED, security="vihf",
                     require_submission_signature="true")
    assert f"{LISTED} not bound to a client certificate: any VIHF holder" in unbound


def test_the_hl7_front_without_a_seal_is_said_when_signatures_are_required():
    required = load_settings({}, environ={"XDS_REQUIRE_SUBMISSION_SIGNATURE": "true"})
    assert "registers unsigned submission sets" in (hl7_warning(required) or "")
    assert hl7_warning(load_settings({}, environ={"XDS_PROFILE": "ihe"})) is None


def test_the_warnings_are_in_the_start_log_lines():
    import logging

    from xds_server.server import posture

    settings = load_settings({}, environ={"XDS_PROFILE": "ihe",
                                          "XDS_SIGNATURE_VERIFYING_REPOSITORIES": LISTED})
    assert any(level == logging.WARNING and "the list is not used" in line
               for level, line in posture(settings))


def _encrypted_copy(key_path, directory, private_format: str = "PKCS8"):
    """The seal key protected by a pass phrase (PKCS8: 'ENCRYPTED PRIVATE KEY';
    TraditionalOpenSSL: a 'Proc-Type: 4,ENCRYPTED' header)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    path = directory / f"encrypted-{private_format}.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       getattr(serialization.PrivateFormat, private_format),
                                       serialization.BestAvailableEncryption(b"secret")))
    return path


@pytest.mark.parametrize("private_format", ["PKCS8", "TraditionalOpenSSL"])
def test_an_encrypted_front_seal_key_is_refused_without_asking_a_pass_phrase(
        tmp_path, authority, private_format):
    """OpenSSL, given no pass phrase, asked for one on the terminal (twice: an interactive
    start waited), then said 'not a PEM private key' (outside test 19c, N7)."""
    key, certificate = authority.files("seal")
    encrypted = _encrypted_copy(key, tmp_path, private_format)
    one_error(serve(tmp_path, {"XDS_FRONT_SEAL_KEY": str(encrypted),
                               "XDS_FRONT_SEAL_CERT": str(certificate),
                               "XDS_SIGNATURE_TRUSTED_CERTS": str(authority.trusted)}),
              "XDS_FRONT_SEAL_KEY", "the private key is encrypted",
              "a seal key must be unencrypted")


def test_a_seal_key_of_another_type_than_its_certificate_is_said_in_our_words(tmp_path,
                                                                              authority):
    """An EC key with an RSA seal certificate said xmlsec's "(-1, 'inappropriate key
    type.')"."""
    key, _ = authority.files("ec-seal")
    _, certificate = authority.files("seal")
    line = one_error(serve(tmp_path, {"XDS_FRONT_SEAL_KEY": str(key),
                                      "XDS_FRONT_SEAL_CERT": str(certificate),
                                      "XDS_SIGNATURE_TRUSTED_CERTS": str(authority.trusted)}),
                     "the key does not match the certificate's public key")
    assert "(-1," not in line and "inappropriate" not in line
    # `mllp` said it as a traceback from each listener process
    mllp = CliRunner().invoke(main, ["mllp", "--port", "18994"], env={
        "XDS_DATA_DIR": str(tmp_path / "var"), "XDS_PROFILE": "ihe",
        "XDS_FRONT_SEAL_KEY": str(key), "XDS_FRONT_SEAL_CERT": str(certificate)})
    one_error(mllp, "the key does not match the certificate's public key")


@pytest.mark.parametrize("name", ["impostor", "ec-seal"])
def test_the_client_sign_options_say_the_same(tmp_path, authority, name):
    """`submit --sign-key` reads the seal the same way (an RSA key of another certificate, an
    EC key with an RSA certificate)."""
    from xds_server.dsig.seal import Seal, SealError

    key, _ = authority.files(name)
    _, certificate = authority.files("seal")
    with pytest.raises(SealError, match=r"^the key does not match the certificate's public "
                                        r"key$"):
        Seal.from_files(key, certificate)
    encrypted = _encrypted_copy(authority.files("seal")[0], tmp_path)
    with pytest.raises(SealError, match="the private key is encrypted"):
        Seal.from_files(encrypted, certificate)
