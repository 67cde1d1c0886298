"""The one table from errors to HTTP statuses: DRF's exception handler for the whole API.

Layers below the API raise `landcover.errors` exceptions, which know nothing of HTTP; this
handler answers each with its status and a JSON body ({"detail": message}, or {parameter:
message} for bad input). DRF's own exceptions keep DRF's handling.
"""
from __future__ import annotations

import logging

from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import (
    Damaged,
    Forbidden,
    InvalidInput,
    LandcoverError,
    LimitReached,
    NotFound,
    NotReady,
    NotSignedIn,
    Unavailable,
)

log = logging.getLogger(__name__)

STATUS: dict[type[LandcoverError], int] = {
    InvalidInput: status.HTTP_400_BAD_REQUEST,
    NotSignedIn: status.HTTP_401_UNAUTHORIZED,
    Forbidden: status.HTTP_403_FORBIDDEN,
    NotFound: status.HTTP_404_NOT_FOUND,
    NotReady: status.HTTP_409_CONFLICT,
    LimitReached: status.HTTP_429_TOO_MANY_REQUESTS,
    Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    Damaged: status.HTTP_500_INTERNAL_SERVER_ERROR,
}


def status_of(exc: LandcoverError) -> int:
    """The status of an error: that of its nearest class in the table."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return status.HTTP_400_BAD_REQUEST


def exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: our errors by the table, the rest as DRF does (a validation error
    that is not per field becomes {"detail": [messages]})."""
    if isinstance(exc, LandcoverError):
        if isinstance(exc, Damaged):
            log.error("damaged stored file: %s (%s)", exc, context.get("request").path if context.get("request") else "")
        body = exc.body() if isinstance(exc, InvalidInput) else {"detail": str(exc)}
        return Response(body, status=status_of(exc))
    if isinstance(exc, ValidationError) and not isinstance(exc.detail, dict):
        exc = ValidationError({"detail": exc.detail if isinstance(exc.detail, list) else [exc.detail]})
    return drf_exception_handler(exc, context)
