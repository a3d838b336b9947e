"""Canonical XML 1.0 of a sub-element, for the signatures this package produces.

lxml canonicalises a sub-element of a tree that uses a default namespace with a spurious
`xmlns=""` on its grandchildren (measured with lxml 6.1.3 and 5.3; see xmlcore.py), so a
signature produced from that form would not verify anywhere else. Canonicalising instead a
tree whose root is a copy of the element, declaring every namespace in scope at the element,
gives what the recommendation gives: the namespace axis of the apex is its in-scope namespaces,
the descendants' declarations are emitted where they change. The one thing a copy loses, the
`xml:*` attributes inherited from ancestors (C14N 1.0 §2.4), never occurs in what
`produce.py` builds (its signature is the document's root); `tests/test_dsig_c14n.py` holds
the result to xmlsec's own canonicalisation in both prefix styles.
"""

from __future__ import annotations

import copy

from lxml import etree


def canonical_subtree(element: etree._Element, with_comments: bool = False) -> bytes:
    """Inclusive C14N 1.0 octets of `element` and its descendants, as a signer digests them."""
    apex = etree.Element(element.tag, nsmap=element.nsmap)
    for name, value in element.attrib.items():
        apex.set(name, value)
    apex.text = element.text
    for child in element:
        apex.append(copy.deepcopy(child))
    return etree.tostring(etree.ElementTree(apex), method="c14n", with_comments=with_comments)
