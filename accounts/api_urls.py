"""URLs of the account endpoints of the API."""
from django.urls import path

from . import api

app_name = "api-accounts"

urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
    path("auth/token/", api.TokenView.as_view(), name="token"),
]
