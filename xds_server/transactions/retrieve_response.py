"""The ITI-43 answer written from byte templates around the few values that change.

A RetrieveDocumentSetResponse is the same few elements each time; building them as a tree and
serialising it was a sixth of the CPU of a retrieval. The templates are serialised once by lxml
from the same tree (so the bytes are the tree's, which a test checks) and filled with the
values escaped as lxml escapes text; each document's content stays an Attachment, which the
encoder writes as an MTOM part or base64 text.
"""

from __future__ import annotations

import functools
import re

from lxml import etree

from ..ebxml.encode import error_list, serialised_cuts
from ..ebxml.namespaces import RS, XDSB
from ..model.content import Attachment
from ..model.errors import RegistryError
from ..repository.actor import RetrievedDocument
from ..soap.namespaces import qn

_VALUES = ("HomeCommunityId", "RepositoryUniqueId", "DocumentUniqueId", "mimeType")
_HOLE = "@xds-hole@"
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ESCAPED = re.compile("[&<>\r]")   # most values (OIDs, mime types) have none
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> bytes:
    """`value` as element text, escaped as lxml escapes it; refused as lxml refuses it."""
    if _NOT_XML.search(value):
        raise ValueError("All strings must be XML compatible: Unicode or ASCII, no NULL "
                         "bytes or control characters")
    if _ESCAPED.search(value):
        value = value.translate(_TEXT_ESCAPES)
    return value.encode("utf-8")


def answer_tree(status: str, errors: list[RegistryError]) -> etree._Element:
    answer = etree.Element(qn(XDSB, "RetrieveDocumentSetResponse"),
                           nsmap={"xdsb": XDSB, "rs": RS})
    registry_response = etree.SubElement(answer, qn(RS, "RegistryResponse"), status=status)
    errors_element = error_list(errors)
    if errors_element is not None:
        registry_response.append(errors_element)
    return answer


def add_document_response(answer: etree._Element, values: dict[str, str | None]
                          ) -> etree._Element:
    """One xdsb:DocumentResponse with `values` (None: left out); returns its Document."""
    item = etree.SubElement(answer, qn(XDSB, "DocumentResponse"))
    for name in _VALUES:
        if values.get(name) is not None:
            etree.SubElement(item, qn(XDSB, name)).text = values[name]
    return etree.SubElement(item, qn(XDSB, "Document"))


@functools.cache
def _document_template(with_home: bool) -> tuple[bytes, ...]:
    """A DocumentResponse's bytes, cut where its values and its content go."""
    head, tail = _cached_shell("status")
    answer = answer_tree("status", [])
    names = _VALUES if with_home else _VALUES[1:]
    add_document_response(answer, {name: _HOLE for name in names}).text = _HOLE
    whole = serialised_cuts(answer, _HOLE)
    assert whole[0].startswith(head) and whole[-1].endswith(tail)
    whole[0], whole[-1] = whole[0][len(head):], whole[-1][:-len(tail)]
    return tuple(whole)


def _shell(status: str, errors: list[RegistryError]) -> tuple[bytes, bytes]:
    return _cached_shell(status) if not errors else _split_shell(answer_tree(status, errors))


@functools.cache
def _cached_shell(status: str) -> tuple[bytes, bytes]:
    return _split_shell(answer_tree(status, []))


def _split_shell(answer: etree._Element) -> tuple[bytes, bytes]:
    answer[0].tail = _HOLE          # after rs:RegistryResponse, where the documents go
    head, tail = serialised_cuts(answer, _HOLE)
    return head, tail


def retrieve_response_pieces(found: list[RetrievedDocument], errors: list[RegistryError],
                             status: str) -> list[bytes | Attachment]:
    head, tail = _shell(status, errors)
    pieces: list[bytes | Attachment] = [head]
    for document in found:
        request = document.request
        home = request.home_community_id
        cuts = _document_template(bool(home))
        values = [request.repository_unique_id, request.document_unique_id, document.mime_type]
        if home:
            values.insert(0, home)
        for cut, value in zip(cuts, values, strict=False):
            pieces += (cut, xml_text(value))
        pieces += (cuts[-2], document.content, cuts[-1])
    pieces.append(tail)
    return pieces
