"""An assembled schematron written as one XSLT 2.0 stylesheet whose output is SVRL: a mode per
pattern (so a node fires at most one rule of each pattern, the first in order), a template
per rule, `let` as variables, and for every failed assert or successful report the location of
the node as a path that lxml can follow back to a line number."""

from __future__ import annotations

import re

from lxml import etree

from .assemble import Assembled, sch

XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"
XS = "http://www.w3.org/2001/XMLSchema"
OWN = "urn:xds-server:schematron"
RESERVED = {"xsl", "svrl", "xs", "xdssch"}

# the location of a node: /local[n]/local[n]/@attribute, n counting same-named siblings
LOCATION = (
    "string-join(for $n in $node/ancestor-or-self::node()[not(self::document-node())] return "
    "if ($n instance of attribute()) then concat('/@', name($n)) "
    "else if ($n instance of element()) then concat('/', local-name($n), '[', "
    "count($n/preceding-sibling::*[local-name() = local-name($n) and "
    "namespace-uri() = namespace-uri($n)]) + 1, ']') "
    "else '/text()', '')"
)


def _xsl(parent: etree._Element, local: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{XSL}}}{local}",
                            {k.rstrip("_").replace("_", "-"): v for k, v in attributes.items()})


def _literal(value: str) -> str:
    """A value placed in a literal result attribute, where braces would start an AVT."""
    return value.replace("{", "{{").replace("}", "}}")


def _message(parent: etree._Element, check: etree._Element) -> None:
    """The assert's text with its value-of and name elements evaluated."""
    if check.text:
        _xsl(parent, "text").text = check.text
    for child in check:
        if child.tag == sch("value-of"):
            _xsl(parent, "value-of", select=child.get("select", "."))
        elif child.tag == sch("name"):
            _xsl(parent, "value-of", select=f"name({child.get('path', '.')})")
        elif isinstance(child.tag, str):
            _message(parent, child)           # emph, dir, span: their text counts
        if child.tail:
            _xsl(parent, "text").text = child.tail


def _variable(parent: etree._Element, let: etree._Element) -> None:
    if let.get("value") is not None:
        _xsl(parent, "variable", name=let.get("name"), select=let.get("value"))
    else:
        variable = _xsl(parent, "variable", name=let.get("name"))
        for child in let:
            variable.append(etree.fromstring(etree.tostring(child)))


def _check(parent: etree._Element, check: etree._Element) -> None:
    is_assert = check.tag == sch("assert")
    test = check.get("test", "true()")
    condition = _xsl(parent, "if", test=f"not({test})" if is_assert else test)
    result = etree.SubElement(condition, f"{{{SVRL}}}"
                              f"{'failed-assert' if is_assert else 'successful-report'}")
    result.set("test", _literal(test))
    for attribute in ("id", "role", "flag", "see"):
        if check.get(attribute):
            result.set(attribute, _literal(check.get(attribute)))
    location = _xsl(result, "attribute", name="location")
    _xsl(location, "value-of", select="xdssch:location(.)")
    _message(etree.SubElement(result, f"{{{SVRL}}}text"), check)


def to_xslt(schema: Assembled) -> etree._Element:
    namespaces = {p: u for p, u in schema.namespaces.items() if p not in RESERVED}
    stylesheet = etree.Element(
        f"{{{XSL}}}stylesheet",
        {"version": "2.0", "exclude-result-prefixes": "#all"},
        nsmap={"xsl": XSL, "svrl": SVRL, "xs": XS, "xdssch": OWN, **namespaces},
    )
    _xsl(stylesheet, "output", method="xml", indent="no")
    seen: set[str] = set()
    for let in schema.lets:
        if let.get("name") not in seen:     # the first declaration wins, as in the kit's tools
            seen.add(let.get("name"))
            _variable(stylesheet, let)
    function = _xsl(stylesheet, "function", name="xdssch:location", as_="xs:string")
    _xsl(function, "param", name="node", as_="node()")
    _xsl(function, "sequence", select=LOCATION)
    root = _xsl(stylesheet, "template", match="/")
    output = etree.SubElement(root, f"{{{SVRL}}}schematron-output")
    for number, pattern in enumerate(schema.patterns):
        active = etree.SubElement(output, f"{{{SVRL}}}active-pattern")
        active.set("id", _literal(pattern.id))
        _xsl(output, "apply-templates", select="/", mode=f"M{number}")
    called: set[str] = set()
    for number, pattern in enumerate(schema.patterns):
        mode = f"M{number}"
        for order, rule in enumerate(pattern.rules):
            template = _xsl(stylesheet, "template", match=rule.context,
                            priority=str(len(pattern.rules) - order + 1000), mode=mode)
            called |= _rule_body(template, rule.body)
            _xsl(template, "apply-templates", select="@*|*", mode=mode)
        _xsl(stylesheet, "template", match="text()", priority="-1", mode=mode)
        fallback = _xsl(stylesheet, "template", match="@*|node()", priority="-2", mode=mode)
        _xsl(fallback, "apply-templates", select="@*|*", mode=mode)
    written: set[str] = set()
    while called - written:            # abstract rules, as named templates on the same node
        name = sorted(called - written)[0]
        written.add(name)
        called |= _rule_body(_xsl(stylesheet, "template", name=_abstract(name)),
                             schema.abstract_rules[name])
    _hoist_documents(stylesheet)
    return stylesheet


_LITERAL_DOCUMENT = re.compile(r"\b(?:doc|document)\(\s*'([^']+)'\s*\)")
EXPRESSION_ATTRIBUTES = ("select", "test", "match")


def _hoist_documents(stylesheet: etree._Element) -> None:
    """Each `doc('literal')` becomes a global parameter whose default is that call, listed in
    an `xdssch:document` element: the runner parses those value sets once per process and
    passes them in, instead of Saxon reading them again on every transformation."""
    params: dict[str, str] = {}

    def parameter(match: re.Match[str]) -> str:
        name = params.setdefault(match.group(1), f"xdsdoc{len(params)}")
        return f"${name}"

    for element in stylesheet.iter(f"{{{XSL}}}*"):
        for attribute in EXPRESSION_ATTRIBUTES:
            value = element.get(attribute)
            if value and ("doc(" in value or "document(" in value):
                element.set(attribute, _LITERAL_DOCUMENT.sub(parameter, value))
    for position, (href, name) in enumerate(params.items()):
        param = etree.Element(f"{{{XSL}}}param", name=name, select=f"doc('{href}')")
        stylesheet.insert(1 + position, param)
        etree.SubElement(stylesheet, f"{{{OWN}}}document", param=name, href=href)


def _abstract(name: str) -> str:
    return "xdssch:abstract-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _rule_body(template: etree._Element, body: list[etree._Element]) -> set[str]:
    """Write a rule's lets and checks; `extends` becomes a call. Returns the names called."""
    called = set()
    for element in body:
        if element.tag == sch("let"):
            _variable(template, element)
        elif element.tag == sch("extends"):
            called.add(element.get("rule", ""))
            _xsl(template, "call-template", name=_abstract(element.get("rule", "")))
        else:
            _check(template, element)
    return called
