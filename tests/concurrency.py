"""Many clients at once: run a request function from N threads released together, and count the answers."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests


def at_once(send: Callable[[int], int], n: int = 20) -> Counter:
    """Call send(i) for i < n from n threads that start together; how often each status came back."""
    barrier = threading.Barrier(n)

    def one(i: int) -> int:
        barrier.wait(timeout=30)
        return send(i)

    with ThreadPoolExecutor(n) as pool:
        return Counter(pool.map(one, range(n)))


def form_session(url: str) -> tuple[requests.Session, str]:
    """A session that has fetched a form page, and the CSRF token to post with it."""
    session = requests.Session()
    session.get(url, timeout=30).raise_for_status()
    return session, session.cookies["csrftoken"]


def post_form(url: str, data: dict, session: requests.Session, token: str) -> int:
    """Post a form as a browser would (its own connection, the session's cookie); the status, redirects not followed."""
    response = requests.post(url, data={**data, "csrfmiddlewaretoken": token}, cookies=session.cookies,
                             headers={"Referer": url}, allow_redirects=False, timeout=60)
    return response.status_code
