"""When, and for whom, a verified VIHF assertion is valid: its saml:Conditions and the
SubjectConfirmationData of its Subject, read as SAML 2.0 core §2.5 and §2.4.1.2 say a relying
party must (an assertion whose conditions are not all met is Invalid; one with a condition the
relying party does not understand is Indeterminate; both are refused here).

The DMP's VIHF (reference/security/VIHF_example_automate_DMP.xml, CI-SIS notes §5) carries no
Conditions and no SubjectConfirmation: its lifetime is the IssueInstant plus the server's
maximum age (vihf.py). What a client adds is held to these rules, each with the attack it stops:

1. At most one Conditions; NotBefore / NotOnOrAfter, when present, hold now (with the clock
   skew), and NotBefore is earlier than NotOnOrAfter: an expired or not yet valid assertion
   replayed; an inverted window that a one-sided check lets through.
2. An AudienceRestriction names at least one audience of XDS_VIHF_AUDIENCE (each
   AudienceRestriction: they are and-ed); with the setting empty, any AudienceRestriction is
   refused: an assertion issued for another service (another DMP platform, a test platform,
   another relying party of the same signer) replayed here.
3. OneTimeUse is refused: this server keeps verified assertions to spare re-verifying a
   session's calls, and several workers (processes) cannot share a record of one use, so it
   cannot honour "use once"; accepting it would let an assertion meant for one use be replayed.
4. Any other condition (a `saml:Condition` with an xsi:type, an element of another namespace)
   is refused, ProxyRestriction excepted (it limits assertions this server would issue, and it
   issues none): a restriction the issuer meant and this server would silently ignore.
5. Each SubjectConfirmationData: NotBefore / NotOnOrAfter as in rule 1, and a Recipient, when
   present, one of XDS_VIHF_AUDIENCE (where this server's endpoint URLs are listed): a bearer
   assertion delivered to another service, or past its delivery window, replayed here. An
   InResponseTo is refused: this server sends no SAML request, so an assertion answering one
   was issued to another relying party's login.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

from .vihf_reading import SAML, VihfError

_CONDITIONS = f"{{{SAML}}}Conditions"
_AUDIENCE_RESTRICTION = f"{{{SAML}}}AudienceRestriction"
_AUDIENCE = f"{{{SAML}}}Audience"
_ONE_TIME_USE = f"{{{SAML}}}OneTimeUse"
_PROXY_RESTRICTION = f"{{{SAML}}}ProxyRestriction"
_CONFIRMATION_DATA = f"{{{SAML}}}SubjectConfirmationData"


def utc(text: str | None, what: str) -> dt.datetime:
    """An xs:dateTime (UTC when it names no zone), or VihfError naming `what`."""
    if not text:
        raise VihfError(f"{what} is missing")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise VihfError(f"{what} '{text[:64]}' is not an xs:dateTime") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class ConditionRules:
    """The rules above, for one server: its audiences, its clock skew."""

    audiences: frozenset[str]
    clock_skew: dt.timedelta

    def check(self, assertion: etree._Element, now: dt.datetime) -> dt.datetime | None:
        """Check every rule; the earliest NotOnOrAfter found (the assertion expires then), or
        None."""
        ends: list[dt.datetime] = []
        conditions = list(assertion.iterchildren(_CONDITIONS))
        if len(conditions) > 1:
            raise VihfError("the assertion carries more than one saml:Conditions")
        if conditions:
            ends += self._window(conditions[0], now, "Conditions")
            for condition in conditions[0]:
                self._condition(condition)
        subject = assertion.find(f"{{{SAML}}}Subject")
        for data in subject.iter(_CONFIRMATION_DATA) if subject is not None else ():
            ends += self._window(data, now, "SubjectConfirmationData")
            if data.get("InResponseTo") is not None:
                raise VihfError("SubjectConfirmationData InResponseTo: this server sent no "
                                "SAML request, the assertion answers another party's")
            recipient = data.get("Recipient")
            if recipient is not None and recipient not in self.audiences:
                raise VihfError(f"SubjectConfirmationData Recipient '{recipient[:256]}' is not "
                                "this server (XDS_VIHF_AUDIENCE)")
        return min(ends, default=None)

    def _window(self, element: etree._Element, now: dt.datetime, what: str
                ) -> list[dt.datetime]:
        start = element.get("NotBefore")
        end = element.get("NotOnOrAfter")
        begins = utc(start, f"{what} NotBefore") if start is not None else None
        ends = utc(end, f"{what} NotOnOrAfter") if end is not None else None
        if begins is not None and ends is not None and begins >= ends:
            raise VihfError(f"{what}: NotBefore {start} is not earlier than NotOnOrAfter {end}")
        if begins is not None and now + self.clock_skew < begins:
            raise VihfError(f"the assertion is not valid yet ({what} NotBefore {start})")
        if ends is not None and now - self.clock_skew >= ends:
            raise VihfError(f"the assertion expired ({what} NotOnOrAfter {end})")
        return [ends] if ends is not None else []

    def _condition(self, condition: etree._Element) -> None:
        if not isinstance(condition.tag, str):
            return                                     # a comment between conditions
        if condition.tag == _AUDIENCE_RESTRICTION:
            named = {(a.text or "").strip() for a in condition.iterchildren(_AUDIENCE)}
            if not named & self.audiences:
                listed = ", ".join(sorted(n[:256] for n in named)) or "none"
                raise VihfError(f"the assertion is for another audience ({listed}), not this "
                                "server (XDS_VIHF_AUDIENCE)")
        elif condition.tag == _ONE_TIME_USE:
            raise VihfError("OneTimeUse is refused: this server keeps verified assertions "
                            "across calls and workers and cannot guarantee a single use")
        elif condition.tag != _PROXY_RESTRICTION:
            raise VihfError(f"the condition {condition.tag[:200]} is not one this server knows "
                            "(SAML 2.0 §2.5.1: Indeterminate, refused)")
