"""Password guessing (issue 11, finding 3): after HRMARS_LOGIN_FAILURE_LIMIT wrong passwords from one
address, every door that checks a password answers 429 for the cool-off time, even to the right one;
another address is not affected, and a success before the limit resets the count."""
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-horse-2026"


@pytest.fixture
def dana():
    user = get_user_model().objects.create_user("dana", "d@example.org", PASSWORD)
    user.is_staff = True
    user.save()
    return user


def site_login(address: str, password: str) -> int:
    return Client(REMOTE_ADDR=address).post("/accounts/login/", {"username": "dana", "password": password}).status_code


def admin_login(address: str, password: str) -> int:
    return Client(REMOTE_ADDR=address).post("/admin/login/?next=/admin/",
                                            {"username": "dana", "password": password}).status_code


def token_login(address: str, password: str) -> int:
    return APIClient(REMOTE_ADDR=address).post("/api/v1/auth/token/", {"username": "dana", "password": password},
                                               format="json").status_code


DOORS = {"site": (site_login, 302), "admin": (admin_login, 302), "token": (token_login, 200)}


@pytest.mark.parametrize("door", DOORS)
def test_guessing_locks_the_address_out_of_every_door(dana, door):
    login, ok = DOORS[door]
    limit = settings.AXES_FAILURE_LIMIT
    assert login("198.51.100.20", PASSWORD) == ok  # works before any guessing
    for _ in range(limit):
        assert login("198.51.100.20", "wrong-guess") != ok
    assert login("198.51.100.20", PASSWORD) == 429   # the right password no longer gets in
    for other, (other_login, _) in DOORS.items():   # nor through another door
        assert other_login("198.51.100.20", PASSWORD) == 429, other
    assert login("203.0.113.9", PASSWORD) == ok      # another address is not locked out


def test_the_api_says_when_to_try_again(dana):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        token_login("198.51.100.21", "wrong-guess")
    response = APIClient(REMOTE_ADDR="198.51.100.21").post("/api/v1/auth/token/",
                                                           {"username": "dana", "password": PASSWORD}, format="json")
    assert response.status_code == 429 and "locked" in response.json()["detail"]
    assert int(response["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()


def test_a_success_resets_the_count(dana):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        site_login("198.51.100.22", "wrong-guess")
    assert site_login("198.51.100.22", PASSWORD) == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        site_login("198.51.100.22", "wrong-guess")
    assert site_login("198.51.100.22", PASSWORD) == 302
