"""URLs of the account pages."""
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.SignUpView.as_view(), name="signup"),
    path("profile/", views.profile, name="profile"),
    path("email/confirm/<str:token>/", views.email_confirm, name="email-confirm"),
    path("password_reset/", views.ThrottledPasswordResetView.as_view(), name="password_reset"),
    path("token/create/", views.token_create, name="token-create"),
    path("token/revoke/", views.token_revoke, name="token-revoke"),
]
