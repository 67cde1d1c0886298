"""Accounts: sign-up, log-in/out, profile, password change and reset, API tokens."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "Sentinel-2-bands!"


def signup(client, username="dana", email="dana@example.org", p1=PASSWORD, p2=PASSWORD, **extra):
    return client.post(reverse("accounts:signup"),
                       {"username": username, "email": email, "password1": p1, "password2": p2}, **extra)


def test_sign_up_then_log_in_and_out(client):
    response = signup(client)
    assert response.status_code == 302 and response["Location"] == reverse("login")
    user = User.objects.get(username="dana")
    assert user.email == "dana@example.org" and user.check_password(PASSWORD) and not user.is_staff

    response = client.post(reverse("login"), {"username": "dana", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:profile")
    assert "dana" in client.get(reverse("accounts:profile")).content.decode()

    client.post(reverse("logout"))
    assert client.get(reverse("accounts:profile")).status_code == 302


@pytest.mark.parametrize(
    "kwargs,field,error",
    [
        ({"p2": "something-else-entirely"}, "password2", "didn’t match"),
        ({"p1": "12345678", "p2": "12345678"}, "password2", "too common"),
        ({"email": "not-mail"}, "email", "valid email"),
        ({"username": "bad name!"}, "username", "Enter a valid username"),
    ],
)
def test_sign_up_errors(client, kwargs, field, error):
    response = signup(client, **kwargs)
    assert response.status_code == 400
    assert error in " ".join(response.context["form"].errors[field])
    assert not User.objects.exists()


def as_seen(response, username: str, email: str) -> str:
    """A page with the name and address typed in, and the per-request CSRF token, blanked out."""
    text = response.content.decode().replace(username, "USER").replace(email, "MAIL")
    return re.sub(r'(content|value)="\w{64}"', r'\1=""', text)


def test_a_registered_email_is_not_revealed(client, mailoutbox):
    """Issue 11, finding 10: the answer for a registered address is the new-account answer; no second account
    is made, and the address's owner is told by e-mail."""
    fresh = signup(client, "frank", "frank@example.org", follow=True)
    User.objects.create_user("erin", "Dana@Example.org", PASSWORD)
    taken = signup(client, follow=True)
    assert taken.status_code == fresh.status_code == 200
    assert [r[1] for r in taken.redirect_chain] == [r[1] for r in fresh.redirect_chain]
    assert as_seen(taken, "dana", "dana@example.org") == as_seen(fresh, "frank", "frank@example.org")
    assert not User.objects.filter(username="dana").exists()
    assert User.objects.filter(email__iexact="dana@example.org").count() == 1
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["dana@example.org"] and "reset" in mailoutbox[0].body


def test_wrong_password_does_not_log_in(client):
    User.objects.create_user("dana", "dana@example.org", PASSWORD)
    response = client.post(reverse("login"), {"username": "dana", "password": "wrong"})
    assert response.status_code == 200 and "correct username and password" in response.content.decode()


@override_settings(SIGNUP_RATE="2/h")
def test_sign_up_is_rate_limited(client):
    assert signup(client, "u1", "u1@example.org", REMOTE_ADDR="192.0.2.1").status_code == 302
    assert signup(client, "u2", "u2@example.org", REMOTE_ADDR="192.0.2.1").status_code == 302
    assert signup(client, "u3", "u3@example.org", REMOTE_ADDR="192.0.2.1").status_code == 429
    assert User.objects.count() == 2


def test_profile_edit_never_tells_whose_an_address_is(client, mailoutbox):
    """Issue 23, finding 22: the profile said "Another account already uses this e-mail address". Now a new address
    takes effect once its owner follows a link sent to it; for an address another account has, that account's
    owner is told instead, and the page says the same either way."""
    user = User.objects.create_user("dana", "dana@example.org", PASSWORD)
    User.objects.create_user("finn", "finn@example.org", PASSWORD)
    client.force_login(user)
    url = reverse("accounts:profile")
    taken = client.post(url, {"first_name": "Dana", "last_name": "K", "email": "finn@example.org"}, follow=True)
    free = client.post(url, {"first_name": "Dana", "last_name": "K", "email": "dk@example.org"}, follow=True)
    assert taken.status_code == free.status_code == 200
    assert as_seen(taken, "dana", "finn@example.org") == as_seen(free, "dana", "dk@example.org").replace(
        "dk@example.org", "MAIL")
    assert "Another account" not in taken.content.decode()
    user.refresh_from_db()
    assert (user.first_name, user.email) == ("Dana", "dana@example.org")  # nothing changes before confirming
    assert [m.to for m in mailoutbox] == [["finn@example.org"], ["dk@example.org"]]
    assert "tried to add this e-mail address" in mailoutbox[0].body
    link = re.search(r"https?://[^/]+(/accounts/email/confirm/\S+/)", mailoutbox[1].body).group(1)
    client.get(link)
    user.refresh_from_db()
    assert user.email == "dk@example.org"
    client.force_login(User.objects.get(username="finn"))
    client.get(link)  # somebody else's link changes nothing of theirs
    assert User.objects.get(username="finn").email == "finn@example.org"


def test_password_resets_are_throttled_per_address_and_client(client, mailoutbox, settings):
    """Issue 23, finding 22: twelve reset e-mails to one address in seconds. Now at most
    HRMARS_PASSWORD_RESET_ADDRESS_RATE per address (registered or not: the limit says nothing of whose it is)."""
    User.objects.create_user("dana", "dana@example.org", PASSWORD)
    answers = [client.post(reverse("password_reset"), {"email": "dana@example.org"}).status_code for _ in range(5)]
    assert answers == [302, 302, 302, 429, 429] and len(mailoutbox) == 3
    unknown = [client.post(reverse("password_reset"), {"email": "nobody@example.org"}).status_code for _ in range(4)]
    assert unknown == [302, 302, 302, 429]  # the same for an address nobody has


def test_password_change(client):
    user = User.objects.create_user("dana", "dana@example.org", PASSWORD)
    client.force_login(user)
    response = client.post(reverse("password_change"),
                           {"old_password": PASSWORD, "new_password1": "New-pass-for-10m!", "new_password2": "New-pass-for-10m!"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("New-pass-for-10m!")


def test_password_reset_by_email(client, mailoutbox):
    user = User.objects.create_user("dana", "dana@example.org", PASSWORD)
    client.post(reverse("password_reset"), {"email": "dana@example.org"})
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["dana@example.org"]
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mailoutbox[0].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "Reset-pass-2026!", "new_password2": "Reset-pass-2026!"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("Reset-pass-2026!")


def test_password_reset_for_unknown_address_sends_nothing(client, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"})
    assert response.status_code == 302 and mailoutbox == []


def test_api_token_lifecycle(client):
    user = User.objects.create_user("dana", "dana@example.org", PASSWORD)
    client.force_login(user)
    client.post(reverse("accounts:token-create"))
    first = Token.objects.get(user=user).key
    assert first in client.get(reverse("accounts:profile")).content.decode()

    client.post(reverse("accounts:token-create"))
    second = Token.objects.get(user=user).key
    assert second != first

    api = client_class_without_session()
    assert api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {second}").json()["username"] == "dana"
    assert api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {first}").status_code == 401

    client.post(reverse("accounts:token-revoke"))
    assert not Token.objects.filter(user=user).exists()
    assert api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {second}").status_code == 401


def client_class_without_session():
    from django.test import Client

    return Client()


def test_token_endpoints_need_post_and_login(client):
    assert client.post(reverse("accounts:token-create")).status_code == 302  # to the login page
    user = User.objects.create_user("dana", "dana@example.org", PASSWORD)
    client.force_login(user)
    assert client.get(reverse("accounts:token-create")).status_code == 405


def test_obtain_token_with_password():
    from django.test import Client

    User.objects.create_user("dana", "dana@example.org", PASSWORD)
    api = Client()
    response = api.post("/api/v1/auth/token/", {"username": "dana", "password": PASSWORD})
    assert response.status_code == 200 and len(response.json()["token"]) == 40
    bad = api.post("/api/v1/auth/token/", {"username": "dana", "password": "nope"})
    assert bad.status_code == 400 and "Unable to log in" in str(bad.json())


def test_me_requires_authentication(client):
    response = client.get("/api/v1/me/")
    assert response.status_code in (401, 403)
    assert "credentials were not provided" in response.json()["detail"]


def test_ensure_admin_creates_one_superuser(tmp_path):
    password_file = tmp_path / "admin.txt"
    call_command("ensure_admin", password_file=str(password_file))
    username, password = password_file.read_text().split()
    admin = User.objects.get(username=username)
    assert admin.is_superuser and admin.check_password(password)
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"
    call_command("ensure_admin", password_file=str(tmp_path / "again.txt"))
    assert User.objects.filter(is_superuser=True).count() == 1 and not (tmp_path / "again.txt").exists()
