"""The ITI-43 answer from byte templates is the answer lxml writes from the tree, byte for byte
(MTOM and base64, with and without homeCommunityId, with errors, values needing escapes)."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from xds_server.ebxml.namespaces import FAILURE, PARTIAL_SUCCESS, SUCCESS
from xds_server.model.content import Attachment
from xds_server.model.errors import ErrorCode, error
from xds_server.repository.actor import DocumentRequest, RetrievedDocument
from xds_server.soap.message import SoapResponse, encode_response
from xds_server.transactions.retrieve_response import (
    add_document_response,
    answer_tree,
    retrieve_response_pieces,
    xml_text,
)

ACTION = "urn:ihe:iti:2007:RetrieveDocumentSetResponse"


def _tree_response(found, errors, status) -> SoapResponse:
    """The reference: the answer built as a tree, binaries hung on its Document elements."""
    answer = answer_tree(status, errors)
    response = SoapResponse(answer)
    for document in found:
        request = document.request
        element = add_document_response(answer, {
            "HomeCommunityId": request.home_community_id,
            "RepositoryUniqueId": request.repository_unique_id,
            "DocumentUniqueId": request.document_unique_id,
            "mimeType": document.mime_type})
        response.set_binary(element, document.content)
    return response


def _wire(response: SoapResponse, mtom: bool) -> bytes:
    encoded = encode_response(response, ACTION, "urn:uuid:1", mtom)
    data = b"".join(encoded.chunks)
    # the random names (message id, boundary, content ids) differ from run to run
    data = re.sub(rb"urn:uuid:[0-9a-f-]{36}", b"urn:uuid:X", data)
    data = re.sub(rb"MIMEBoundary_[0-9a-f]{32}", b"MIMEBoundary_X", data)
    return re.sub(rb"[0-9a-z.]+@xds-server", b"cid@xds-server", data)


def _document(tmp_path, name, data, mime, home=None, unique_id=None):
    path = tmp_path / name
    path.write_bytes(data)
    request = DocumentRequest("1.2.3.4", unique_id or f"1.2.3.4.{name}", home)
    return RetrievedDocument(request, mime, Attachment(mime, "", path=path, size=len(data)))


CASES = {
    "one": lambda t: ([_document(t, "a", b"%PDF-1.4 bytes", "application/pdf")], [], SUCCESS),
    "home and two": lambda t: ([_document(t, "a", b"<x/>", "text/xml", "urn:oid:1.2.3"),
                                _document(t, "b", b"\x00\xff" * 50, "application/octet-stream")],
                               [], SUCCESS),
    "escapes": lambda t: ([_document(t, "c", b"x", 'text/plain; charset="a&b"', "urn:oid:<&>",
                                     unique_id="1.2&3<4>\r")], [], SUCCESS),
    "partial": lambda t: ([_document(t, "d", b"y", "text/plain")],
                          [error(ErrorCode.DOCUMENT_UNIQUE_ID_ERROR, "not held", "1.2.404")],
                          PARTIAL_SUCCESS),
    "failure": lambda t: ([], [error(ErrorCode.UNKNOWN_REPOSITORY_ID, "not ours", "1.2.9")],
                          FAILURE),
}


@pytest.mark.parametrize("mtom", [True, False], ids=["mtom", "base64"])
@pytest.mark.parametrize("case", list(CASES))
def test_template_answer_is_the_tree_answer(tmp_path, case, mtom):
    found, errors, status = CASES[case](tmp_path)
    from_templates = SoapResponse(retrieve_response_pieces(found, errors, status))
    assert _wire(from_templates, mtom) == _wire(_tree_response(found, errors, status), mtom)


def test_text_escaping_matches_lxml_and_refuses_what_lxml_refuses():
    for value in ["plain", "a&b<c>d", "cr\r lf\n tab\t", "é ü 中", "]]>", "'\""]:
        element = etree.Element("t")
        element.text = value
        assert etree.tostring(element, encoding="UTF-8", xml_declaration=False) == \
            b"<t>" + xml_text(value) + b"</t>"
    for bad in ["nul\x00", "bell\x07", "\ufffe"]:
        with pytest.raises(ValueError):
            etree.Element("t").text = bad
        with pytest.raises(ValueError):
            xml_text(bad)
