"""``limits.read_zip_member`` says what went wrong: a member over the caller's limit (the
limit and the declared size, refused before inflating), a header whose size or CRC the bytes
do not match, and bytes past the declared size."""
from __future__ import annotations

import io
import struct
import zipfile

import pytest

from convert import limits
from convert.errors import ModelLoadError

BODY = bytes(range(256)) * 4  # 1024 bytes, compressible


def _zip(compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        zf.writestr("m/data.bin", BODY)
    return buf.getvalue()


def _declare(raw: bytes, size: int) -> bytes:
    """The same archive with the central directory's uncompressed size set to ``size``."""
    at = raw.rindex(b"PK\x01\x02")
    return raw[:at + 24] + struct.pack("<I", size) + raw[at + 28:]


def test_an_honest_member_is_read_whole():
    with zipfile.ZipFile(io.BytesIO(_zip())) as zf:
        assert limits.read_zip_member("a.zip", zf, "m/data.bin") == BODY
        assert limits.read_zip_member("a.zip", zf, "m/data.bin", limit=len(BODY)) == BODY


def test_a_member_over_the_callers_limit_names_the_limit_and_its_size():
    with zipfile.ZipFile(io.BytesIO(_zip())) as zf:
        with pytest.raises(ModelLoadError) as e:
            limits.read_zip_member("a.zip", zf, "m/data.bin", limit=16)
    msg = str(e.value)
    assert "declares 1024 bytes" in msg and "16-byte limit" in msg and "beyond its declared" not in msg


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_a_header_that_understates_the_member_is_named_as_such(compression):
    with zipfile.ZipFile(io.BytesIO(_declare(_zip(compression), 100))) as zf:
        assert zf.getinfo("m/data.bin").file_size == 100
        with pytest.raises(ModelLoadError) as e:
            limits.read_zip_member("a.zip", zf, "m/data.bin")
    assert "does not match its header (100 bytes declared)" in str(e.value)


class _Lying:
    """A reader that hands back more than the header declares (zipfile itself stops at the
    declared size and checks the CRC; another reader need not)."""

    def getinfo(self, name):
        return zipfile.ZipInfo(name)  # file_size 0

    def open(self, info):
        return io.BytesIO(BODY)


def test_bytes_past_the_declared_size_say_so():
    with pytest.raises(ModelLoadError) as e:
        limits.read_zip_member("a.zip", _Lying(), "m/data.bin")
    assert "inflates past the 0 bytes its header declares" in str(e.value)
