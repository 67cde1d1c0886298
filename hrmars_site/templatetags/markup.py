"""`{{ text|markdown }}`: users' Markdown shown as sanitised HTML (hrmars_site.markup)."""
from django import template
from django.utils.safestring import mark_safe

from .. import markup

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    """Markdown to HTML, sanitised by nh3 before it is marked safe."""
    return mark_safe(markup.render(text))  # nh3 has cleaned it: the one place that marks users' text safe
