"""Metrics and log outcome labels from a registry response status."""

from __future__ import annotations

from ..ebxml.namespaces import FAILURE, PARTIAL_SUCCESS, SUCCESS

_LABELS = {SUCCESS: "success", FAILURE: "failure", PARTIAL_SUCCESS: "partial_success"}


def outcome_label(status: str) -> str:
    return _LABELS.get(status, "unknown")
