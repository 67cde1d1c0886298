"""The API's JSON parser: DRF's, except that a body nested deeper than Python can decode is a 400, not a 500.

Why: json.loads raises RecursionError (not ValueError) on a body like "[" * 100_000, which DRF's parser does not
catch; the fault probe sent such bodies to the areas, STAC search and change endpoints and each answered 500.
"""
from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONBodyParser(JSONParser):
    """application/json bodies, too-deep nesting included, refused as a ParseError (400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        """The decoded body."""
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("The JSON body is nested too deeply to be a request of this API.") from None
