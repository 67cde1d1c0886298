"""End to end in a real headless Chromium: landing → sign up → log in → send feedback."""
import pytest
from django.contrib.auth import get_user_model

from feedback.models import Message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_signs_up_logs_in_and_sends_feedback(page, live_server):
    page.goto("/")
    assert "10 m land-cover maps" in page.locator("h1").inner_text()

    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Username").fill("eve")
    page.get_by_label("Email").fill("eve@example.org")
    page.get_by_label("Password", exact=True).fill("Land-cover-2026!")
    page.get_by_label("Password confirmation").fill("Land-cover-2026!")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/accounts/login/")
    assert "created" in page.locator(".notice").inner_text()

    page.get_by_label("Username").fill("eve")
    page.get_by_label("Password").fill("Land-cover-2026!")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/profile/")
    assert "Signed in as eve" in page.locator("main").inner_text()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Feedback").click()
    page.get_by_label("Rating").select_option("5")
    page.get_by_label("Your feedback").fill("Short")
    page.get_by_role("button", name="Send feedback").click()
    assert "at least 10 characters" in page.locator(".field-errors").inner_text()
    assert Message.objects.count() == 0

    page.get_by_label("Your feedback").fill("The water class along the coast is spot on.")
    page.get_by_role("button", name="Send feedback").click()
    page.wait_for_url("**/feedback/thanks/")

    message = Message.objects.get()
    assert message.body == "The water class along the coast is spot on."
    assert message.rating == 5 and message.kind == "feedback"
    assert message.user == get_user_model().objects.get(username="eve")


def test_keyboard_user_can_skip_to_content(page, live_server):
    page.goto("/team/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"


def test_small_screen_menu_toggles(page, live_server):
    page.set_viewport_size({"width": 380, "height": 800})
    page.goto("/")
    nav = page.locator("#site-nav")
    assert not nav.is_visible()
    page.get_by_role("button", name="Menu").click()
    assert nav.is_visible()
    assert page.get_by_role("button", name="Menu").get_attribute("aria-expanded") == "true"
