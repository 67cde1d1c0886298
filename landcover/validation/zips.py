"""Reading members of a user's zip file: every way a member can lie ends in one clear refusal.

Why: zipfile raises a different exception for each lie — a bad CRC (BadZipFile, at the end of the read), the
encryption flag (RuntimeError), an unknown compression method (NotImplementedError), a false size (EOFError or
BadZipFile), a damaged deflate stream (zlib.error) — and each reached the user as a 500. Uploads and area
Shapefiles read their members through `member_errors`, which turns all of them into the caller's 400.
"""
from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ZIP_LIES = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error,
            ValueError, OverflowError)


@contextmanager
def member_errors(refusal: Callable[[str], Exception]) -> Iterator[None]:
    """Reading zip members inside this block: a member that lies raises `refusal(reason)` instead."""
    try:
        yield
    except ZIP_LIES as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if isinstance(exc, RuntimeError) and "encrypted" in reason:
            reason = "a member is encrypted; send the files unencrypted"
        elif isinstance(exc, NotImplementedError):
            reason = "a member uses a compression method we do not read; use deflate or none"
        raise refusal(f"The zip file is damaged or cannot be read ({reason}).") from None
