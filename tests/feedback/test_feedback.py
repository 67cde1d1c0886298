"""Feedback and contact forms: stored when valid, field errors otherwise, spam-protected, moderated."""
import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse

from feedback.models import Message

pytestmark = pytest.mark.django_db

GOOD_CONTACT = {"name": "Ada", "email": "ada@example.org", "subject": "API access", "body": "How do I get a token for scripts?"}
GOOD_FEEDBACK = {"rating": "4", "body": "The forest map of my valley looks right.", "name": "", "email": ""}


def test_contact_message_is_stored(client):
    response = client.post(reverse("feedback:contact"), GOOD_CONTACT, REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT="pytest")
    assert response.status_code == 302 and response["Location"] == reverse("feedback:thanks")
    message = Message.objects.get()
    assert (message.kind, message.name, message.email, message.subject) == ("contact", "Ada", "ada@example.org", "API access")
    assert message.client_ip == "203.0.113.5" and message.user_agent == "pytest" and not message.is_read


def test_anonymous_feedback_with_rating_is_stored(client):
    client.post(reverse("feedback:feedback"), GOOD_FEEDBACK)
    message = Message.objects.get()
    assert message.kind == "feedback" and message.rating == 4 and message.email == ""


def test_logged_in_feedback_is_linked_to_the_user(client):
    user = get_user_model().objects.create_user("bo", "bo@example.org", "pw-Unused-123")
    client.force_login(user)
    client.post(reverse("feedback:feedback"), {**GOOD_FEEDBACK, "email": ""})
    message = Message.objects.get()
    assert message.user == user and message.email == "bo@example.org"


@pytest.mark.parametrize(
    "data,field,error",
    [
        ({**GOOD_CONTACT, "email": "not-an-address"}, "email", "Enter a valid email address."),
        ({**GOOD_CONTACT, "name": ""}, "name", "This field is required."),
        ({**GOOD_CONTACT, "body": "short"}, "body", "at least 10 characters"),
        ({**GOOD_CONTACT, "body": "x" * 5001}, "body", "at most 5000 characters"),
        ({**GOOD_CONTACT, "subject": "s" * 151}, "subject", "at most 150 characters"),
    ],
)
def test_bad_contact_input_gets_field_errors_and_stores_nothing(client, data, field, error):
    response = client.post(reverse("feedback:contact"), data)
    assert response.status_code == 400
    assert error in " ".join(response.context["form"].errors[field])
    assert f'id="id_{field}_error"' in response.content.decode()
    assert Message.objects.count() == 0


def test_bad_rating_is_rejected(client):
    response = client.post(reverse("feedback:feedback"), {**GOOD_FEEDBACK, "rating": "9"})
    assert response.status_code == 400 and "rating" in response.context["form"].errors
    assert Message.objects.count() == 0


def test_honeypot_is_thanked_but_not_stored(client):
    response = client.post(reverse("feedback:contact"), {**GOOD_CONTACT, "website": "http://spam.example"})
    assert response.status_code == 302
    assert Message.objects.count() == 0


@override_settings(FEEDBACK_RATE="3/10m")
def test_a_flood_from_one_client_is_rate_limited(client):
    codes = [client.post(reverse("feedback:feedback"), GOOD_FEEDBACK, REMOTE_ADDR="198.51.100.7").status_code
             for _ in range(5)]
    assert codes == [302, 302, 302, 429, 429]
    assert Message.objects.count() == 3
    # Another client is not affected.
    assert client.post(reverse("feedback:feedback"), GOOD_FEEDBACK, REMOTE_ADDR="198.51.100.8").status_code == 302
    page = client.post(reverse("feedback:feedback"), GOOD_FEEDBACK, REMOTE_ADDR="198.51.100.7")
    assert "Too many requests" in page.content.decode()


@override_settings(FEEDBACK_RATE="2/10m")
def test_invalid_posts_count_towards_the_limit(client):
    for _ in range(2):
        assert client.post(reverse("feedback:contact"), {}, REMOTE_ADDR="198.51.100.9").status_code == 400
    assert client.post(reverse("feedback:contact"), GOOD_CONTACT, REMOTE_ADDR="198.51.100.9").status_code == 429
    assert Message.objects.count() == 0


def test_admin_moderation(admin_client):
    a = Message.objects.create(kind="contact", name="A", email="a@example.org", subject="Hello", body="first message body")
    b = Message.objects.create(kind="feedback", body="second message about water", rating=2)
    changelist = reverse("admin:feedback_message_changelist")
    assert admin_client.get(changelist, {"is_read__exact": "0"}).context["cl"].result_count == 2
    assert admin_client.get(changelist, {"kind__exact": "feedback"}).context["cl"].result_count == 1
    assert admin_client.get(changelist, {"q": "water"}).context["cl"].result_count == 1

    admin_client.post(changelist, {"action": "mark_read", "_selected_action": [a.pk, b.pk]})
    assert Message.objects.filter(is_read=True).count() == 2
    admin_client.post(changelist, {"action": "mark_unread", "_selected_action": [b.pk]})
    assert list(Message.objects.filter(is_read=False)) == [b]

    admin_client.get(reverse("admin:feedback_message_change", args=[b.pk]))
    b.refresh_from_db()
    assert b.is_read  # opening a message marks it read


def test_admin_is_staff_only(client):
    user = get_user_model().objects.create_user("carol", "c@example.org", "pw-Unused-123")
    client.force_login(user)
    response = client.get(reverse("admin:feedback_message_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
