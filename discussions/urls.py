"""The Discussions pages (namespaced) and the comment routes of django-contrib-comments and django-comments-xtd
(which reverse their own names unnamespaced): posting, replying, flagging, muting a thread's e-mails."""
from django.urls import include, path, re_path
from django_comments_xtd import views as xtd

from . import views

app_name = "discussions"

urlpatterns = [
    path("discussions/", views.DiscussionsPage.as_view(), name="index"),
    path("discussions/<slug:model>/<int:pk>/", views.ThreadPage.as_view(), name="thread"),
    path("discussions/comments/<int:pk>/edit/", views.edit, name="edit"),
    path("discussions/comments/<int:pk>/remove/", views.remove, name="remove"),
]

# xtd's routes without its REST API (its views are not ours to document) and its likes (no feedback here).
comment_urlpatterns = [
    re_path(r"^reply/(?P<cid>\d+)/$", views.reply, name="comments-xtd-reply"),
    re_path(r"^mute/(?P<key>[^/]+)/$", xtd.mute, name="comments-xtd-mute"),
    re_path(r"^sent/$", xtd.sent, name="comments-xtd-sent"),
    re_path(r"^flag/(?P<comment_id>\d+)/$", views.flag, name="comments-flag"),
    path("", include("django_comments.urls")),
]
