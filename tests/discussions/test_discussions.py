"""Discussions (issue 26, item 5) through the real pages and django-comments-xtd's signed form: Markdown is
sanitised (a script and a javascript: link go), a new account's first comment waits for a moderator and its
approval e-mails the thread's followers, nobody edits, removes or even sees through a reply page a comment they may
not, the honeypot and the rate limit refuse, enough flags hide a comment, the Discussions page lists the threads."""
from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_comments_xtd.models import XtdComment

from discussions.moderation import approve
from landcover.models import AreaMap, Benchmark, ModelVersion

pytestmark = pytest.mark.django_db


class Forms(HTMLParser):
    """The fields of the comment form on a page."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, str] = {}
        self.action = ""
        self.inside = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and "comment-form" in (a.get("class") or ""):
            self.inside, self.action = True, a["action"]
        elif tag == "input" and self.inside and a.get("name") and a.get("type") != "checkbox":
            self.fields[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def user(django_user_model, name: str, new: bool = False):
    joined = timezone.now() - (timedelta(hours=1) if new else timedelta(days=30))
    return django_user_model.objects.create_user(name, f"{name}@example.org", "pw-long-enough-1", date_joined=joined)


def client_of(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


def post(client: Client, page: str, text: str, **extra):
    """Write `text` in the comment form of `page`, as a browser would."""
    html = client.get(page).content.decode()
    form = Forms()
    form.feed(html)
    assert form.action, "no comment form on the page"
    return client.post(form.action, {**form.fields, "comment": text, "followup": "1", **extra})


@pytest.fixture
def benchmark(db):
    return Benchmark.objects.create(slug="dfc", title="DFC2020 again", published=True)


PAGE = "/competitions/dfc/"


def test_markdown_is_sanitised(benchmark, django_user_model):
    ada = client_of(user(django_user_model, "ada"))
    answer = post(ada, PAGE, "**bold** <script>alert('x')</script> [click](javascript:alert(1)) "
                             "<img src=x onerror=alert(2)> [docs](https://example.org)")
    assert answer.status_code == 302
    page = client_of(user(django_user_model, "bob")).get(PAGE).content.decode()
    thread = page[page.index('id="discussion-title"'):]
    assert "<strong>bold</strong>" in thread and 'href="https://example.org"' in thread
    assert "<script>alert" not in thread and "javascript:" not in thread and "onerror" not in thread
    assert "alert(&#x27;x&#x27;)" not in thread and "alert('x')" not in thread


def test_a_new_accounts_first_comment_waits_and_its_approval_emails_followers(benchmark, django_user_model):
    ada = client_of(user(django_user_model, "ada"))
    post(ada, PAGE, "First, by an old account: public at once, and I follow the thread.")
    newcomer = client_of(user(django_user_model, "newcomer", new=True))
    assert post(newcomer, PAGE, "Buy cheap pills").status_code == 302
    held = XtdComment.objects.get(user__username="newcomer")
    assert not held.is_public and "cheap pills" in newcomer.get(PAGE).content.decode()  # its author sees it waits
    assert "cheap pills" not in client_of(user(django_user_model, "bob")).get(PAGE).content.decode()
    assert not mail.outbox  # nothing public happened: nobody is told
    assert approve(held) and not approve(held)
    assert "cheap pills" in Client().get(PAGE).content.decode()
    assert [m.to for m in mail.outbox] == [["ada@example.org"]] and "cheap pills" in mail.outbox[0].body
    # Once heard in public, the newcomer's next comment needs no moderator.
    post(newcomer, PAGE, "Sorry, I mean: nice benchmark.")
    assert XtdComment.objects.filter(user__username="newcomer", is_public=True).count() == 2


def test_nobody_edits_or_removes_anothers_comment(benchmark, django_user_model):
    ada = client_of(user(django_user_model, "ada"))
    post(ada, PAGE, "Mine.")
    comment = XtdComment.objects.get()
    bob = client_of(user(django_user_model, "bob"))
    assert bob.post(f"/discussions/comments/{comment.pk}/edit/", {"comment": "Bob's now"}).status_code == 404
    assert bob.post(f"/discussions/comments/{comment.pk}/remove/").status_code == 404
    assert Client().post(f"/discussions/comments/{comment.pk}/remove/").status_code == 302  # to the login page
    comment.refresh_from_db()
    assert comment.comment == "Mine." and not comment.is_removed
    assert ada.post(f"/discussions/comments/{comment.pk}/edit/", {"comment": "Mine, edited."}).status_code == 302
    assert ada.post(f"/discussions/comments/{comment.pk}/remove/").status_code == 302
    comment.refresh_from_db()
    assert comment.comment == "Mine, edited." and comment.is_removed
    assert "This comment was removed." in Client().get(PAGE).content.decode()


def test_the_honeypot_the_rate_and_anonymous_posts_are_refused(benchmark, django_user_model, settings):
    settings.DISCUSSION_RATE = "3/10m"
    ada = client_of(user(django_user_model, "ada"))
    assert post(ada, PAGE, "A bot fills every field", honeypot="http://spam.example").status_code == 400
    for k in range(3):
        assert post(ada, PAGE, f"comment {k}").status_code == 302
    assert post(ada, PAGE, "one too many").status_code == 400
    assert XtdComment.objects.count() == 3
    anonymous = Client()
    assert 'class="form comment-form"' not in anonymous.get(PAGE).content.decode()
    fields = Forms()
    fields.feed(ada.get(PAGE).content.decode())
    assert anonymous.post(fields.action, {**fields.fields, "comment": "anonymous", "name": "x",
                                          "email": "x@example.org"}).status_code == 400
    assert XtdComment.objects.count() == 3


def test_enough_flags_hide_a_comment(benchmark, django_user_model, settings):
    settings.DISCUSSION_HIDE_AFTER_FLAGS = 2
    post(client_of(user(django_user_model, "ada")), PAGE, "Contested.")
    comment = XtdComment.objects.get()
    for name in ("bob", "carol"):
        flagger = client_of(user(django_user_model, name))
        assert flagger.get(f"/comments/flag/{comment.pk}/").status_code == 200
        assert flagger.post(f"/comments/flag/{comment.pk}/").status_code == 302
        comment.refresh_from_db()
    assert not comment.is_public and "Contested." not in Client().get(PAGE).content.decode()


def test_a_thread_on_a_private_area_is_its_owners_alone(django_user_model):
    ada_user = user(django_user_model, "ada")
    area = AreaMap.objects.create(geometry=MultiPolygon(Polygon.from_bbox((7.0, 46.0, 7.01, 46.01))), area_km2=1.0,
                                  requested_by=ada_user, token="t" * 20,
                                  model_version=ModelVersion.objects.create(name="m", method="unet", path="m"))
    ada = client_of(ada_user)
    thread = f"/discussions/areamap/{area.pk}/"
    assert post(ada, thread, "Is this field flooded every spring?").status_code == 302
    comment = XtdComment.objects.get()
    bob = client_of(user(django_user_model, "bob"))
    assert bob.get(thread).status_code == 404 and Client().get(thread).status_code == 404
    assert bob.get(f"/comments/reply/{comment.pk}/").status_code == 404
    assert bob.get(f"/comments/flag/{comment.pk}/").status_code == 404
    assert "flooded" not in bob.get("/discussions/").content.decode()
    assert "flooded" in ada.get("/discussions/").content.decode()


def test_the_discussions_page_lists_the_latest_threads(benchmark, django_user_model):
    other = Benchmark.objects.create(slug="other", title="Another benchmark", published=True)
    ada = client_of(user(django_user_model, "ada"))
    post(ada, PAGE, "On the first.")
    post(ada, f"/competitions/{other.slug}/", "On the second.")
    post(ada, PAGE, "Again on the first.")
    page = Client().get("/discussions/").content.decode()
    titles = re.findall(r'href="/competitions/[^"]+#discussion-title">([^<]+)</a> <small>\(competition, (\d) comment',
                        page)
    assert titles == [("DFC2020 again", "2"), ("Another benchmark", "1")]
