"""Moderation in the admin: xtd's comment admin (filters by public/removed, flags) with an approve action that also
e-mails the thread's followers, as a comment that needed no moderation would have."""
from django.contrib import admin
from django_comments_xtd.admin import XtdCommentsAdmin
from django_comments_xtd.models import XtdComment

from .moderation import approve

admin.site.unregister(XtdComment)


@admin.register(XtdComment)
class ModeratedCommentsAdmin(XtdCommentsAdmin):
    list_filter = ["is_public", "is_removed", "submit_date", "content_type"]
    actions = ["approve_and_notify", *[a for a in (XtdCommentsAdmin.actions or []) if a != "approve_comments"]]

    @admin.action(description="Approve the selected comments (their threads' followers are e-mailed)")
    def approve_and_notify(self, request, queryset):
        count = sum(approve(comment) for comment in queryset)
        self.message_user(request, f"{count} comment(s) approved.")
