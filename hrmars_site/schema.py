"""The OpenAPI schema tells the truth about errors too: every operation documents the error answers it can
give, with their bodies, so clients (and schemathesis, in the test command) can rely on the schema.

Bodies: {"detail": message} for 401, 403, 404, 405, 409, 429 and 503 (landcover.api.errors' table and DRF's
own), and {parameter: message or [messages]} for 400."""
from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework.permissions import AllowAny

DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
INVALID = {"type": "object", "description": "Each wrong parameter or field, with what to send instead.",
           "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}
DESCRIPTIONS = {
    "400": "A parameter or the body is wrong; the answer names it and says what to send.",
    "401": "Authentication is needed: a token (Authorization: Token …) or a session.",
    "403": "Not allowed for this user.",
    "404": "No such thing (or not yours).",
    "405": "This method is not allowed here.",
    "409": "Not possible in the job's present state (not done yet, not failed, already over).",
    "429": "A limit was reached (rate of requests, new computations, uploads, or log-in failures); wait.",
    "503": "Not available yet (for example: no model registered).",
}


def error_response(code: str) -> dict[str, Any]:
    """The documented answer for an error status."""
    return {"description": DESCRIPTIONS[code],
            "content": {"application/json": {"schema": INVALID if code == "400" else DETAIL}}}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the error answers each operation can give."""

    # Statuses an operation documents in its own extend_schema are kept as they are.
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        codes = ["400"]  # any query parameter or body may be wrong
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            codes += ["401", "403"]
        if "{" in self.path or (self.method == "GET" and self._get_paginator() is not None):
            codes.append("404")  # no such thing, or no such page
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.append("429")  # uploads and token log-ins are rate-limited; so may any write be
        for code in codes:
            responses.setdefault(code, error_response(code))
        for code, response in responses.items():
            if code in DESCRIPTIONS and not response.get("content"):
                responses[code] = {**error_response(code), "description": response.get("description")
                                   or DESCRIPTIONS[code]}
        return responses
