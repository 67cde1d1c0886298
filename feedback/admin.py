"""Feedback moderation: read/unread, filters by kind, rating and date, search."""
from django.contrib import admin

from .models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "short_subject", "name", "email", "rating", "is_read"]
    list_display_links = ["created_at", "short_subject"]
    list_filter = ["is_read", "kind", "rating", "created_at"]
    search_fields = ["name", "email", "subject", "body"]
    date_hierarchy = "created_at"
    readonly_fields = ["kind", "user", "client_ip", "user_agent", "created_at"]
    fields = ["kind", "is_read", "name", "email", "subject", "rating", "body", "user", "client_ip", "user_agent", "created_at"]
    actions = ["mark_read", "mark_unread"]
    list_per_page = 50

    @admin.display(description="subject")
    def short_subject(self, obj: Message) -> str:
        return obj.subject or (obj.body[:60] + ("…" if len(obj.body) > 60 else ""))

    @admin.action(description="Mark selected messages as read")
    def mark_read(self, request, queryset):
        updated = queryset.update(is_read=True)
        self.message_user(request, f"{updated} message(s) marked as read.")

    @admin.action(description="Mark selected messages as unread")
    def mark_unread(self, request, queryset):
        updated = queryset.update(is_read=False)
        self.message_user(request, f"{updated} message(s) marked as unread.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Opening a message marks it read, as in any mail client.
        Message.objects.filter(pk=object_id, is_read=False).update(is_read=True)
        return super().change_view(request, object_id, form_url, extra_context)
