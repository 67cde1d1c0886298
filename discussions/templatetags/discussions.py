"""`{% held_comments object as held %}`: the signed-in user's own comments on `object` that wait for a moderator
(nobody else sees them), so their author knows they were received."""
from django import template
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django_comments_xtd.models import XtdComment

register = template.Library()


@register.simple_tag(takes_context=True)
def held_comments(context, obj) -> list:
    """The requester's comments on `obj` held for moderation."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return []
    return list(XtdComment.objects.filter(content_type=ContentType.objects.get_for_model(obj), object_pk=str(obj.pk),
                                          site_id=settings.SITE_ID, user=user, is_public=False, is_removed=False))
