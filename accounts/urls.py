"""URLs of the account pages."""
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.SignUpView.as_view(), name="signup"),
    path("profile/", views.profile, name="profile"),
    path("token/create/", views.token_create, name="token-create"),
    path("token/revoke/", views.token_revoke, name="token-revoke"),
]
