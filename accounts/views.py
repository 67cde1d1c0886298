"""Account pages: sign-up (rate-limited per client), profile with uploads and API token."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST
from django.views.generic import CreateView
from django_ratelimit.decorators import ratelimit
from rest_framework.authtoken.models import Token

from .forms import ProfileForm, SignUpForm


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

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, f"Account “{form.instance.username}” created. You can log in now.")
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
