"""landcover.validation.zips and the upload's member copy: every way a zip member lies ends in the caller's
refusal (issue 23, finding 17)."""
from __future__ import annotations

import io
import struct
import zipfile

import pytest

from landcover.errors import InvalidInput
from landcover.validation.uploads import UploadError, copy_at_most
from landcover.validation.zips import member_errors
from tests.landcover.api.test_hostile_inputs import corrupt


def one_member_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("band.tif", b"II*\x00" + b"\x07" * 5000)
    return out.getvalue()


@pytest.mark.parametrize("how, words", [("crc", "Bad CRC"), ("encrypted", "encrypted"),
                                        ("method", "compression method")])
def test_a_member_that_lies_is_refused_with_a_reason(how, words):
    archive = zipfile.ZipFile(io.BytesIO(corrupt(one_member_zip(), how)))
    with pytest.raises(InvalidInput, match=words) as error:
        with member_errors(lambda reason: InvalidInput("file", reason)):
            archive.read(archive.infolist()[0])
    assert error.value.field == "file"


def test_an_honest_member_reads_as_it_is():
    archive = zipfile.ZipFile(io.BytesIO(one_member_zip()))
    with member_errors(lambda reason: InvalidInput("file", reason)):
        assert archive.read("band.tif").startswith(b"II*\x00")


def test_a_member_holding_more_than_its_header_says_is_never_copied_past_it():
    raw = bytearray(one_member_zip())
    for at in (raw.index(b"PK\x03\x04") + 22, raw.index(b"PK\x01\x02") + 24):  # uncompressed size: 100 bytes
        raw[at:at + 4] = struct.pack("<I", 100)
    archive = zipfile.ZipFile(io.BytesIO(bytes(raw)))
    out = io.BytesIO()
    with pytest.raises(UploadError, match="damaged"):  # zipfile's CRC check or our own size bound, whichever first
        with member_errors(UploadError), archive.open(archive.infolist()[0]) as src:
            copy_at_most(src, out, archive.infolist()[0].file_size)
    assert len(out.getvalue()) <= 100
