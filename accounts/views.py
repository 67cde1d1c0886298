"""Account pages: sign-up (rate-limited per client), profile with uploads and API token."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
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

SIGNED_UP = ("Thank you. Unless {email} already has an account (then we have written to it), the account "
             "“{username}” is created and you can log in now.")


def _signup_rate(group, request) -> str:
    return settings.SIGNUP_RATE


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


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, "Profile saved.")
            return redirect("accounts:profile")
        status = 400
    else:
        status = 200
    token = Token.objects.filter(user=request.user).first()
    own_uploads = request.user.uploads.select_related("model_version")[:100]
    return render(request, "accounts/profile.html", {"form": form, "token": token, "nav": "profile",
                                                     "uploads": own_uploads}, status=status)


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
