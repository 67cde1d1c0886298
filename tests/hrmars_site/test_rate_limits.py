"""Rate limits hold under concurrency (issue 11, finding 4): 20 requests at once from one client, exactly the
configured number succeed. Here on PostGIS + Redis through a threaded live server; tests/scripts/test_run.py
does the same against the embedded site (SpatiaLite, no Redis). Also the embedded mode's counter store itself:
atomic under threads, and not evicted by anything else the cache holds."""
from __future__ import annotations

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.cache import caches

from feedback.models import Message
from hrmars_site.counters import CounterCache
from tests.concurrency import at_once, form_session, post_form

pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_concurrent_feedback_posts_exactly_the_limit_pass(live_server, settings):
    settings.FEEDBACK_RATE = "5/10m"
    url = live_server.url + "/feedback/"
    session, token = form_session(url)
    data = {"rating": "4", "body": "The forest map of my valley looks right.", "name": "", "email": ""}
    answers = at_once(lambda i: post_form(url, data, session, token))
    assert answers == {302: 5, 429: 15}
    assert Message.objects.count() == 5


def test_twenty_concurrent_sign_ups_exactly_the_limit_pass(live_server, settings):
    settings.SIGNUP_RATE = "7/h"
    url = live_server.url + "/accounts/signup/"
    session, token = form_session(url)

    def sign_up(i: int) -> int:
        data = {"username": f"user{i}", "email": f"user{i}@example.org", "password1": "Land-cover-2026!",
                "password2": "Land-cover-2026!"}
        return post_form(url, data, session, token)

    answers = at_once(sign_up)
    assert answers == {302: 7, 429: 13}
    assert get_user_model().objects.count() == 7


def test_twenty_concurrent_new_maps_exactly_the_limit_are_queued(live_server, settings, synthetic_tree, tiny_unet):
    from django.core.management import call_command

    from landcover.catalogue.registry import register_model
    from landcover.models import LandCoverMap, Patch

    call_command("ingest_sen12ms", str(synthetic_tree), "--name", "Synthetic SEN12MS", "--headers-only")
    register_model(tiny_unet, name="tiny-unet", default=True)
    settings.MAP_RATE = "6/h"
    patches = list(Patch.objects.order_by("pk").values_list("pk", flat=True)[:20])
    url = live_server.url + "/api/v1/maps/high/"
    answers = at_once(lambda i: requests.get(url, params={"patch": patches[i]}, timeout=60).status_code)
    assert answers == {202: 6, 429: 14}
    assert LandCoverMap.objects.count() == 6
    # Maps that exist are read without limit.
    done = LandCoverMap.objects.first()
    assert requests.get(url, params={"patch": done.patch_id}, timeout=30).status_code == 202


def test_the_counter_store_counts_exactly_under_threads():
    store = CounterCache("", {})
    store.clear()

    def bump(i: int) -> int:
        from django.db import connection

        try:
            if store.add("k", 1, 60):
                return 1
            return store.incr("k")
        finally:
            connection.close()

    counts = at_once(bump, 20)
    assert sorted(counts) == list(range(1, 21))  # each thread saw its own count: no lost update
    assert store.get("k") == 20


def test_filling_the_answer_cache_does_not_reset_a_limit(settings):
    """The counters live apart from the cache that unique query strings can fill."""
    store = CounterCache("", {})
    store.add("rl:feedback", 4, 600)
    answers = caches["default"]
    for i in range(3000):
        answers.set(f"api:junk-{i}", b"x", 60)
    assert store.get("rl:feedback") == 4
    with pytest.raises(ValueError):
        store.incr("missing")
    with pytest.raises(TypeError):
        store.set("k", "not a number")
