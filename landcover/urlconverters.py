"""Ids in URLs: ASCII digits within the database's bigint range. Django's <int:> takes any length, and a
number past the range reached the database and overflowed it (a 500); here it is simply no page (404)."""
from __future__ import annotations

from django.urls import register_converter

MAX_ID = 2**63 - 1  # the database's bigint


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError(value)  # Django then tries the next pattern, and answers 404
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")  # <id:pk> in every URL module that imports this one
