"""Who may post, what is held, what is hidden (issue 26, item 5).

Comments are django-comments-xtd's (threads, follow-up e-mails to those who asked, on django-contrib-comments'
honeypot-guarded, signed form); this module is the site's policy over them:

- only signed-in users post (`COMMENTS_XTD_APP_MODEL_OPTIONS`), at most DISCUSSION_RATE comments per user (refused
  past it);
- the first comment of a new account (joined less than DISCUSSION_TRUSTED_AFTER_DAYS ago, with no public comment
  yet) is held for a moderator (admin → comments: "approve"), staff's never;
- a comment flagged for removal by DISCUSSION_HIDE_AFTER_FLAGS different users is hidden until a moderator looks;
- when a moderator approves a held comment, its thread's followers are e-mailed as for any public one.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_comments.models import CommentFlag
from django_comments.signals import comment_was_flagged, comment_will_be_posted
from django_comments_xtd.models import XtdComment
from django_comments_xtd.moderation import XtdCommentModerator, moderator
from django_comments_xtd.views import notify_comment_followers
from django_ratelimit.core import is_ratelimited

from .targets import target_of, targets


class DiscussionModerator(XtdCommentModerator):
    """The site's rules for every model that has threads."""

    email_notification = False
    enable_field = None

    def allow(self, comment, content_object, request) -> bool:
        """Signed-in users only, on what they may see, within the rate."""
        user = getattr(comment, "user", None)
        if user is None or not user.is_authenticated:
            return False
        target = target_of(type(content_object))
        if target is None or not target.model._default_manager.filter(target.visible(user),
                                                                        pk=content_object.pk).exists():
            return False
        if request is not None and is_ratelimited(request, group="comments", key="user",
                                                  rate=settings.DISCUSSION_RATE, increment=True):
            return False
        return super().allow(comment, content_object, request)

    def moderate(self, comment, content_object, request) -> bool:
        """Hold the first comment of a new account."""
        return is_new(comment.user)


def is_new(user) -> bool:
    """A user whose comments are held: joined recently and not yet heard in public (staff never)."""
    if user.is_staff:
        return False
    recent = user.date_joined > timezone.now() - timedelta(days=settings.DISCUSSION_TRUSTED_AFTER_DAYS)
    return recent and not XtdComment.objects.filter(user=user, is_public=True, is_removed=False).exists()


def only_on_targets(sender, comment, request, **kwargs) -> bool:
    """Refuse a comment on anything that has no threads (the signed form names any model)."""
    return target_of(type(comment.content_object)) is not None


def hide_when_flagged(sender, comment, flag, created, request, **kwargs) -> None:
    """Hide a comment once enough different users have suggested its removal."""
    if flag.flag != CommentFlag.SUGGEST_REMOVAL or not created:
        return
    flags = CommentFlag.objects.filter(comment=comment, flag=CommentFlag.SUGGEST_REMOVAL).values("user").distinct()
    if flags.count() >= settings.DISCUSSION_HIDE_AFTER_FLAGS and comment.is_public:
        type(comment).objects.filter(pk=comment.pk).update(is_public=False)


def approve(comment: XtdComment) -> bool:
    """Make a held comment public and e-mail its thread's followers; False if it was public already."""
    if not XtdComment.objects.filter(pk=comment.pk, is_public=False).update(is_public=True):
        return False
    comment.refresh_from_db()
    notify_comment_followers(comment)
    return True


for target in targets():
    if target.model not in moderator._registry:
        moderator.register(target.model, DiscussionModerator)
comment_was_flagged.connect(hide_when_flagged, dispatch_uid="discussions.hide_when_flagged")
comment_will_be_posted.connect(only_on_targets, dispatch_uid="discussions.only_on_targets")
