"""Markdown written by users (comments, benchmark descriptions) turned into HTML that is safe to show.

Markdown passes raw HTML through, so its output is never trusted: nh3 (the Ammonia sanitiser) keeps an allow-list
of tags and attributes, links only of http(s) and mailto (a `javascript:` link loses its href), and adds
rel="nofollow noopener" to every link; a <script> goes with its content. One function, used by every template that
shows users' text (the `markdown` filter).
"""
from __future__ import annotations

import markdown as md
import nh3

TAGS = {"p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4", "h5",
        "table", "thead", "tbody", "tr", "th", "td", "del"}
ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
SCHEMES = {"http", "https", "mailto"}
MAX_CHARS = 20000


def render(text: str) -> str:
    """`text` (Markdown) as sanitised HTML."""
    html = md.markdown((text or "")[:MAX_CHARS], extensions=["fenced_code", "tables", "sane_lists"],
                       output_format="html")
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES, link_rel="nofollow noopener",
                     clean_content_tags={"script", "style"})
