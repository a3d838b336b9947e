"""The DocumentEntry `size` slot (outsider 16d, findings 1 and 4): ASCII digits within a signed
64-bit integer, refused as XDSRegistryMetadataError naming the object and the slot in ITI-42 and
ITI-57 on every database, where a bigger number gave a 500 (bigint out of range, OverflowError,
int() digit limit) and Arabic-Indic digits were stored and served back as given."""

from __future__ import annotations

import pytest

from xds_server.validation.ihe import SIZE_MAX

from .registry_data import FAILURE, SUCCESS, register, single_document_submission
from .test_metadata_update import next_version, registered, update, versions_of

BAD_SIZES = [str(SIZE_MAX + 1), "9" * 20, "9" * 5000, "0" * 5000 + "1" + "0" * 19,
             "\u0661\u0662\u0663", "\uff11", "-1", "0x10", "1e3", "+1", "1_0"]


def refused_naming_size(reply, symbol: str) -> None:
    assert reply.status == FAILURE and reply.codes == ["XDSRegistryMetadataError"], reply.errors
    [error] = reply.errors
    assert error["location"] == "DocumentEntry.size" and symbol in error["context"]


@pytest.mark.parametrize("size", BAD_SIZES)
def test_iti42_refuses_a_size_outside_ascii_digits_of_64_bits(app, patient, size):
    submission = single_document_submission(patient, size=size)
    refused_naming_size(register(app, submission), "Document01")


@pytest.mark.parametrize("size", [str(SIZE_MAX), "0", "007"])
def test_iti42_takes_every_size_up_to_the_64_bit_limit(app, patient, size):
    assert register(app, single_document_submission(patient, size=size)).status == SUCCESS


@pytest.mark.parametrize("size", [str(SIZE_MAX + 1), "9" * 20, "9" * 5000, "\u0661\u0662"])
def test_iti57_refuses_a_new_version_with_such_a_size(app, patient, size):
    original, entry_uuid = registered(app, patient)
    reply = update(app, next_version(patient, original, entry_uuid, size=size))
    refused_naming_size(reply, "Document01")
    assert len(versions_of(app, original.unique_id)) == 1
