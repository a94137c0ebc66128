"""Certificates and group domains through the official Python SDK's calls, unchanged
(SPEC §8): the ten certificate calls and the six domain calls, with certificates made by
Python's `cryptography` (RSA, a CA and the server certificate it issued). The SDK parses
every answer into its own classes; the private key never comes back."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from huaweicloudsdkapig.v2 import (
    ApiGroupCreate, AssociateCertificateV2Request, AssociateDomainV2Request,
    AttachOrDetachCertsReqBody, AttachOrDetachDomainInfo, AttachOrDetachDomainsReqBody,
    BatchAssociateCertsV2Request, BatchAssociateDomainsV2Request, BatchDisassociateCertsV2Request,
    BatchDisassociateDomainsV2Request, CertForm, CertificateForm, CreateApiGroupV2Request,
    CreateCertificateV2Request, DeleteApiGroupV2Request, DeleteCertificateV2Request,
    DisassociateCertificateV2Request, DisassociateDomainV2Request, ListAttachedDomainsV2Request,
    ListCertificatesV2Request, ShowDetailsOfApiGroupV2Request,
    ShowDetailsOfCertificateV2Request, ShowDetailsOfDomainNameCertificateV2Request,
    UpdateCertificateV2Request, UpdateDomainV2Request, UrlDomainCreate, UrlDomainModify)
from huaweicloudsdkcore.exceptions import exceptions

from conftest import INSTANCE


def _name(cn, org):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")])


def _pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class Pki:
    """A CA and the server certificates it issues."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.now(timezone.utc)
        self.name = _name("sdk test CA", "SDK Test CA Inc")
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - timedelta(days=1))
                     .not_valid_after(now + timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def leaf(self, names, days=(-1, 10), key=None):
        """(certificate PEM, key PEM, serial) for `names`, valid from days[0] to days[1]."""
        key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.now(timezone.utc)
        serial = x509.random_serial_number()
        cert = (x509.CertificateBuilder().subject_name(_name(names[0], "SDK Shop"))
                .issuer_name(self.name).public_key(key.public_key()).serial_number(serial)
                .not_valid_before(now + timedelta(days=days[0]))
                .not_valid_after(now + timedelta(days=days[1]))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName(n) for n in names]), False)
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode(), _pem(key), serial


@pytest.fixture(scope="module")
def pki():
    return Pki()


def _error(call):
    with pytest.raises(exceptions.ClientRequestException) as e:
        call()
    return e.value.status_code, e.value.error_code, e.value.error_msg


def _no_secret(resp):
    text = str(resp.to_dict())
    for s in ("BEGIN", "PRIVATE KEY", "private_key", "cert_content"):
        assert s not in text, text


def _group(client):
    g = client.create_api_group_v2(CreateApiGroupV2Request(
        instance_id=INSTANCE, body=ApiGroupCreate(name=f"certs_{uuid.uuid4().hex[:8]}")))
    return g.id


def _create(client, pki, names, **extra):
    cert, key, serial = pki.leaf(names)
    resp = client.create_certificate_v2(CreateCertificateV2Request(body=CertificateForm(
        name=f"c_{uuid.uuid4().hex[:8]}", cert_content=cert, private_key=key, **extra)))
    _no_secret(resp)
    return resp, cert, key, serial


def test_certificate_calls_through_the_sdk(client, pki):
    resp, cert, key, serial = _create(client, pki, ["sdk.example.com", "*.sdk.example.com"],
                                      trusted_root_ca=pki.ca_pem)
    assert resp.status_code == 200
    assert len(resp.id) == 32
    assert resp.common_name == "sdk.example.com"
    assert resp.san == ["sdk.example.com", "*.sdk.example.com"]
    assert resp.issuer == ["SDK Test CA Inc"]
    assert resp.organization == ["SDK Shop"]
    assert resp.country == ["DE"]
    assert resp.serial_number == str(serial)
    assert resp.signature_algorithm == "SHA256-RSA"
    assert resp.algorithm_type == "RSA"
    assert resp.version == 3
    assert resp.type == "global" and resp.instance_id == "common"
    assert resp.is_has_trusted_root_ca is True
    # RFC 3339 in UTC with Z, which the SDK's datetime fields need.
    for t in (resp.not_before, resp.not_after, resp.create_time, resp.update_time):
        assert isinstance(t, datetime) or str(t).endswith("Z"), t

    shown = client.show_details_of_certificate_v2(
        ShowDetailsOfCertificateV2Request(certificate_id=resp.id))
    _no_secret(shown)
    assert shown.serial_number == str(serial) and shown.name == resp.name

    listed = client.list_certificates_v2(ListCertificatesV2Request(
        instance_id=INSTANCE, name=resp.name))
    _no_secret(listed)
    assert listed.total == 1 and listed.certs[0].id == resp.id
    assert listed.certs[0].is_has_trusted_root_ca is True
    status, code, _ = _error(lambda: client.list_certificates_v2(ListCertificatesV2Request()))
    assert (status, code) == (400, "APIG.2012")

    # Update replaces everything: an ECDSA key now, and no trusted root CA.
    ec_cert, ec_key, _ = pki.leaf(["ec.sdk.example.com"], key=ec.generate_private_key(ec.SECP256R1()))
    updated = client.update_certificate_v2(UpdateCertificateV2Request(
        certificate_id=resp.id, body=CertificateForm(
            name="renamed_cert", cert_content=ec_cert, private_key=ec_key, type="instance",
            instance_id=INSTANCE)))
    _no_secret(updated)
    assert updated.name == "renamed_cert" and updated.common_name == "ec.sdk.example.com"
    assert updated.type == "instance" and updated.instance_id == INSTANCE
    assert updated.algorithm_type == "ECC" and updated.is_has_trusted_root_ca is False

    # Refusals name the field.
    other_cert, other_key, _ = pki.leaf(["sdk.example.com"])
    expired, expired_key, _ = pki.leaf(["sdk.example.com"], days=(-10, -1))
    for form, field in [
        (CertificateForm(name="bad_cert", cert_content="nope", private_key=key), "cert_content"),
        (CertificateForm(name="bad_cert", cert_content=cert, private_key=other_key), "private_key"),
        (CertificateForm(name="bad_cert", cert_content=expired, private_key=expired_key),
         "cert_content"),
        (CertificateForm(name="bad_cert", cert_content=cert + pki.ca_pem + other_cert,
                         private_key=key), "cert_content"),
        (CertificateForm(name="bad_cert", cert_content=cert, private_key=key,
                         trusted_root_ca="nope"), "trusted_root_ca"),
        (CertificateForm(name="no", cert_content=cert, private_key=key), "name"),
        (CertificateForm(name="bad_cert", cert_content=cert, private_key=key, type="instance"),
         "instance_id"),
    ]:
        status, code, msg = _error(lambda: client.create_certificate_v2(
            CreateCertificateV2Request(body=form)))
        assert (status, code) == (400, "APIG.2012"), msg
        assert f"parameterName:{field}" in msg, msg
        assert "BEGIN" not in msg

    client.delete_certificate_v2(DeleteCertificateV2Request(certificate_id=resp.id))
    status, code, _ = _error(lambda: client.show_details_of_certificate_v2(
        ShowDetailsOfCertificateV2Request(certificate_id=resp.id)))
    assert (status, code) == (404, "APIG.3021")


def test_domain_calls_through_the_sdk(client, pki):
    group = _group(client)
    host = f"{uuid.uuid4().hex[:8]}.shop.example.com"
    d = client.associate_domain_v2(AssociateDomainV2Request(
        instance_id=INSTANCE, group_id=group, body=UrlDomainCreate(url_domain=host)))
    assert d.status_code == 201 and d.url_domain == host and d.min_ssl_version == "TLSv1.1"
    assert d.is_http_redirect_to_https is False
    status, code, _ = _error(lambda: client.associate_domain_v2(AssociateDomainV2Request(
        instance_id=INSTANCE, group_id=group, body=UrlDomainCreate(url_domain=host))))
    assert (status, code) == (400, "APIG.3305")
    status, code, _ = _error(lambda: client.associate_domain_v2(AssociateDomainV2Request(
        instance_id=INSTANCE, group_id=group, body=UrlDomainCreate(url_domain="not a name"))))
    assert (status, code) == (400, "APIG.2024")
    for i in range(4):
        client.associate_domain_v2(AssociateDomainV2Request(
            instance_id=INSTANCE, group_id=group,
            body=UrlDomainCreate(url_domain=f"n{i}.{host}", min_ssl_version="TLSv1.2")))
    status, code, _ = _error(lambda: client.associate_domain_v2(AssociateDomainV2Request(
        instance_id=INSTANCE, group_id=group, body=UrlDomainCreate(url_domain=f"n9.{host}"))))
    assert (status, code) == (403, "APIG.3108")

    u = client.update_domain_v2(UpdateDomainV2Request(
        instance_id=INSTANCE, group_id=group, domain_id=d.id,
        body=UrlDomainModify(min_ssl_version="TLSv1.2", is_http_redirect_to_https=True)))
    assert u.status_code == 201 and u.min_ssl_version == "TLSv1.2"
    assert u.is_http_redirect_to_https is True

    # C9 binds a certificate with a CA (client verification on by default); the group shows it.
    resp, _, _, _ = _create(client, pki, [host], trusted_root_ca=pki.ca_pem)
    r = client.batch_associate_certs_v2(BatchAssociateCertsV2Request(
        instance_id=INSTANCE, group_id=group, domain_id=d.id,
        body=AttachOrDetachCertsReqBody(certificate_ids=[resp.id])))
    assert r.status_code == 204
    g = client.show_details_of_api_group_v2(ShowDetailsOfApiGroupV2Request(
        instance_id=INSTANCE, group_id=group))
    ud = [x for x in g.url_domains if x.id == d.id][0]
    assert (ud.domain, ud.ssl_id, ud.ssl_name) == (host, resp.id, resp.name)
    assert ud.verified_client_certificate_enabled is True and ud.is_has_trusted_root_ca is True
    assert len(g.url_domains) == 5

    attached = client.list_attached_domains_v2(ListAttachedDomainsV2Request(
        certificate_id=resp.id))
    assert attached.total == 1
    assert attached.bound_domains[0].url_domain == host
    assert attached.bound_domains[0].api_group_id == group

    shown = client.show_details_of_domain_name_certificate_v2(
        ShowDetailsOfDomainNameCertificateV2Request(
            instance_id=INSTANCE, group_id=group, domain_id=d.id, certificate_id=resp.id))
    _no_secret(shown)
    assert shown.common_name == host and shown.signature_algorithm == "SHA256-RSA"

    status, code, msg = _error(lambda: client.delete_certificate_v2(
        DeleteCertificateV2Request(certificate_id=resp.id)))
    assert (status, code) == (400, "APIG.2012") and "certificate_id" in msg

    r = client.batch_disassociate_certs_v2(BatchDisassociateCertsV2Request(
        instance_id=INSTANCE, group_id=group, domain_id=d.id,
        body=AttachOrDetachCertsReqBody(certificate_ids=[resp.id])))
    assert r.status_code == 204

    # C6/C7 bind and unbind by name.
    client.batch_associate_domains_v2(BatchAssociateDomainsV2Request(
        certificate_id=resp.id, body=AttachOrDetachDomainsReqBody(domains=[
            AttachOrDetachDomainInfo(domain=host, instance_ids=[INSTANCE],
                                     verified_client_certificate_enabled=False)])))
    attached = client.list_attached_domains_v2(ListAttachedDomainsV2Request(
        certificate_id=resp.id, url_domain=host))
    assert attached.total == 1
    assert attached.bound_domains[0].verified_client_certificate_enabled is False
    client.batch_disassociate_domains_v2(BatchDisassociateDomainsV2Request(
        certificate_id=resp.id, body=AttachOrDetachDomainsReqBody(domains=[
            AttachOrDetachDomainInfo(domain=host)])))

    # D4 uploads a certificate onto the domain; D6 unbinds it.
    cert, key, _ = pki.leaf([host])
    a = client.associate_certificate_v2(AssociateCertificateV2Request(
        instance_id=INSTANCE, group_id=group, domain_id=d.id,
        body=CertForm(name="uploaded_cert", cert_content=cert, private_key=key)))
    _no_secret(a)
    assert a.status_code == 201 and a.ssl_name == "uploaded_cert" and a.url_domain == host
    status, code, _ = _error(lambda: client.batch_associate_certs_v2(
        BatchAssociateCertsV2Request(instance_id=INSTANCE, group_id=group, domain_id=d.id,
                                     body=AttachOrDetachCertsReqBody(certificate_ids=[resp.id]))))
    assert (status, code) == (400, "APIG.2051")
    client.disassociate_certificate_v2(DisassociateCertificateV2Request(
        instance_id=INSTANCE, group_id=group, domain_id=d.id, certificate_id=a.ssl_id))
    status, code, _ = _error(lambda: client.disassociate_certificate_v2(
        DisassociateCertificateV2Request(instance_id=INSTANCE, group_id=group, domain_id=d.id,
                                         certificate_id=a.ssl_id)))
    assert (status, code) == (404, "APIG.3097")

    client.disassociate_domain_v2(DisassociateDomainV2Request(
        instance_id=INSTANCE, group_id=group, domain_id=d.id))
    status, code, _ = _error(lambda: client.disassociate_domain_v2(DisassociateDomainV2Request(
        instance_id=INSTANCE, group_id=group, domain_id=d.id)))
    assert (status, code) == (404, "APIG.3020")

    # Deleting the group takes its remaining domains.
    client.delete_api_group_v2(DeleteApiGroupV2Request(instance_id=INSTANCE, group_id=group))
    other = _group(client)
    again = client.associate_domain_v2(AssociateDomainV2Request(
        instance_id=INSTANCE, group_id=other, body=UrlDomainCreate(url_domain=f"n0.{host}")))
    assert again.status_code == 201
    for cid in (resp.id, a.ssl_id):
        client.delete_certificate_v2(DeleteCertificateV2Request(certificate_id=cid))
