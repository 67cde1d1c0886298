"""Account pages: sign-up (rate-limited per client), profile with uploads and API token."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import PasswordResetView
from django.core import signing
from django.core.mail import send_mail
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST
from django.views.generic import CreateView
from django_ratelimit.decorators import ratelimit
from rest_framework.authtoken.models import Token

from .forms import ProfileForm, SignUpForm

User = get_user_model()

SIGNED_UP = ("Thank you. Unless {email} already has an account (then we have written to it), the account "
             "“{username}” is created and you can log in now.")


def _signup_rate(group, request) -> str:
    return settings.SIGNUP_RATE


def _reset_rate(group, request) -> str:
    return settings.PASSWORD_RESET_RATE


def _reset_address_rate(group, request) -> str:
    return settings.PASSWORD_RESET_ADDRESS_RATE


@method_decorator(ratelimit(key="ip", rate=_reset_rate, method="POST", block=True, group="password-reset"),
                  name="post")
@method_decorator(ratelimit(key="post:email", rate=_reset_address_rate, method="POST", block=True,
                            group="password-reset-address"), name="post")
class ThrottledPasswordResetView(PasswordResetView):
    """Django's password reset, throttled per client (HRMARS_PASSWORD_RESET_RATE) and per address
    (HRMARS_PASSWORD_RESET_ADDRESS_RATE): a dozen e-mails to one inbox in seconds is harassment. The limit holds
    for any address, registered or not, so it tells nobody whose an address is."""


@method_decorator(ratelimit(key="ip", rate=_signup_rate, method="POST", block=True, group="signup"), name="post")
class SignUpView(CreateView):
    form_class = SignUpForm
    template_name = "registration/signup.html"
    success_url = reverse_lazy("login")

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect("accounts:profile")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):  # a SignUpForm
        username, email = form.cleaned_data["username"], form.cleaned_data["email"]
        response: HttpResponse
        if form.email_taken():
            # The same answer as for a new account, so the page does not tell whose address this is;
            # the address's owner hears of it by e-mail.
            send_mail("Someone tried to sign up to HR-MARS with your address",
                      f"Somebody (perhaps you) tried to create the HR-MARS account “{username}” with this e-mail "
                      f"address, which already has an account. If it was you, log in, or reset your password at "
                      f"{self.request.build_absolute_uri(reverse('password_reset'))}. Otherwise, ignore this message.",
                      None, [email])
            response = redirect(self.success_url)
        else:
            response = super().form_valid(form)
        messages.success(self.request, SIGNED_UP.format(username=username, email=email))
        return response

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


EMAIL_CHANGE_DAYS = 2  # a confirmation link of a new address works this long
EMAIL_SALT = "hrmars.accounts.email-change"


@login_required
def profile(request):
    old_email = request.user.email
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST":
        if form.is_valid():
            new_email = form.cleaned_data["email"]
            user = form.save(commit=False)
            user.email = old_email  # a new address takes effect once its owner confirms it
            user.save()
            if new_email != old_email.lower():
                ask_to_confirm(request, new_email)
                messages.success(request, EMAIL_SENT.format(email=new_email))
            else:
                messages.success(request, "Profile saved.")
            return redirect("accounts:profile")
        status = 400
    else:
        status = 200
    token = Token.objects.filter(user=request.user).first()
    own_uploads = request.user.uploads.select_related("model_version")[:100]
    return render(request, "accounts/profile.html", {"form": form, "token": token, "nav": "profile",
                                                     "uploads": own_uploads}, status=status)


EMAIL_SENT = ("Profile saved. We have written to {email}: your address changes when you follow the link in that "
              f"message (within {EMAIL_CHANGE_DAYS} days).")


def ask_to_confirm(request, email: str) -> None:
    """Write to a new address: a link that makes it the user's, or — when another account has it — a note saying
    somebody tried. The page says the same either way, so it tells nobody whose an address is."""
    if User.objects.filter(email__iexact=email).exclude(pk=request.user.pk).exists():
        send_mail("Someone tried to use your address on HR-MARS",
                  "Somebody (perhaps you) tried to add this e-mail address to another HR-MARS account. It stays with "
                  "your account; if it was not you, nothing needs doing.", None, [email])
        return
    token = signing.dumps({"user": request.user.pk, "email": email}, salt=EMAIL_SALT)
    link = request.build_absolute_uri(reverse("accounts:email-confirm", args=[token]))
    send_mail("Confirm your new HR-MARS e-mail address",
              f"Follow this link to use this address for your HR-MARS account “{request.user.username}”: {link}\n"
              f"It works for {EMAIL_CHANGE_DAYS} days. If you did not ask for this, ignore this message.", None, [email])


@login_required
def email_confirm(request, token: str):
    """Make a confirmed new address the user's (if it is still free)."""
    try:
        data = signing.loads(token, salt=EMAIL_SALT, max_age=EMAIL_CHANGE_DAYS * 86400)
    except signing.BadSignature:
        messages.error(request, "This confirmation link is not valid, or is older than "
                                f"{EMAIL_CHANGE_DAYS} days; change the address on your profile again.")
        return redirect("accounts:profile")
    if data.get("user") != request.user.pk:
        messages.error(request, "This confirmation link is for another account; log in as that account to follow it.")
        return redirect("accounts:profile")
    if User.objects.filter(email__iexact=data["email"]).exclude(pk=request.user.pk).exists():
        messages.error(request, "This address could not be added; your address is unchanged.")
        return redirect("accounts:profile")
    request.user.email = data["email"]
    request.user.save(update_fields=["email"])
    messages.success(request, f"Your address is now {data['email']}.")
    return redirect("accounts:profile")


@login_required
@require_POST
def token_create(request):
    """Create the user's API token, or replace it (the old one stops working)."""
    Token.objects.filter(user=request.user).delete()
    Token.objects.create(user=request.user)
    messages.success(request, "New API token created. Any previous token no longer works.")
    return redirect("accounts:profile")


@login_required
@require_POST
def token_revoke(request):
    deleted, _ = Token.objects.filter(user=request.user).delete()
    messages.success(request, "API token revoked." if deleted else "You had no API token.")
    return redirect("accounts:profile")
