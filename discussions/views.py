"""The Discussions page (the latest threads anybody may read), a thread page for objects without a page of their
own (maps, areas, regions, composites), editing or removing one's own comment — nobody else's (404) — and xtd's
reply and flag pages behind the same rule as the threads: a comment on something hidden from you is not there."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView
from django_comments_xtd import views as xtd
from django_comments_xtd.models import XtdComment

from . import targets

LATEST = 30  # threads on the Discussions page


def latest_threads(user, limit: int = LATEST) -> list[dict]:
    """The threads with the newest public comments that `user` may see, newest first."""
    threads: dict[tuple[int, str], dict] = {}
    comments = (XtdComment.objects.filter(is_public=True, is_removed=False, site_id=settings.SITE_ID)
                .select_related("content_type").order_by("-submit_date"))
    for comment in comments[:2000]:
        key = (comment.content_type_id, comment.object_pk)
        if key in threads:
            threads[key]["count"] += 1
            continue
        if len(threads) >= limit:
            continue
        obj = targets.find(user, comment.content_type.model, int(comment.object_pk))
        if obj is None:
            threads[key] = {"hidden": True, "count": 1}
            continue
        threads[key] = {"object": obj, "noun": targets.noun_of(obj), "url": targets.page_of(obj),
                        "latest": comment, "count": 1}
    return [t for t in threads.values() if not t.get("hidden")]


class DiscussionsPage(TemplateView):
    template_name = "discussions/index.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(nav="discussions", threads=latest_threads(self.request.user))
        return context


class ThreadPage(TemplateView):
    template_name = "discussions/thread_page.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        obj = targets.find(self.request.user, kwargs["model"], kwargs["pk"])
        if obj is None:
            raise Http404("No such thing to discuss.")
        context.update(nav="discussions", object=obj, noun=targets.noun_of(obj))
        return context


def own_comment(request, pk: int) -> XtdComment:
    """The requester's comment `pk` (404 for anybody else's, or one removed)."""
    comment = XtdComment.objects.filter(pk=pk, user=request.user, is_removed=False).first()
    if comment is None:
        raise Http404("No such comment of yours.")
    return comment


@login_required
def edit(request, pk: int):
    """Edit one's own comment."""
    comment = own_comment(request, pk)
    if request.method == "POST":
        text = request.POST.get("comment", "").strip()
        if not text or len(text) > settings.COMMENT_MAX_LENGTH:
            messages.error(request, f"A comment is 1 to {settings.COMMENT_MAX_LENGTH} characters.")
        else:
            XtdComment.objects.filter(pk=comment.pk).update(comment=text)
            messages.success(request, "Comment edited.")
            return redirect(targets.page_of(comment.content_object))
    return render(request, "discussions/edit.html", {"comment": comment, "nav": "discussions"})


@login_required
@require_POST
def remove(request, pk: int):
    """Remove one's own comment (its replies stay; it shows as removed)."""
    comment = own_comment(request, pk)
    XtdComment.objects.filter(pk=comment.pk).update(is_removed=True)
    messages.success(request, "Comment removed.")
    return redirect(targets.page_of(comment.content_object))


def visible_comment(request, pk: int) -> XtdComment:
    """A public comment on something the requester may see (404 otherwise: a comment's number says nothing)."""
    comment = XtdComment.objects.filter(pk=pk, is_public=True, site_id=settings.SITE_ID).first()
    if comment is None or targets.find(request.user, comment.content_type.model, int(comment.object_pk)) is None:
        raise Http404("No such comment.")
    return comment


@login_required
def reply(request, cid: int):
    """Xtd's reply page, for a comment the requester may see."""
    visible_comment(request, cid)
    return xtd.reply(request, cid)


@login_required
def flag(request, comment_id: int):
    """Xtd's flag (confirm on GET, flag on POST), for a comment the requester may see."""
    visible_comment(request, comment_id)
    return xtd.flag(request, comment_id)
