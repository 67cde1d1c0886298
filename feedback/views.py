"""Contact and feedback forms: validated, honeypot-protected and rate-limited per client."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.generic import FormView, TemplateView
from django_ratelimit.decorators import ratelimit

from .forms import ContactForm, FeedbackForm
from .models import Message


def _client_ip(request) -> str | None:
    key = settings.RATELIMIT_IP_META_KEY or "REMOTE_ADDR"
    value = request.META.get(key, "") or ""
    return value.split(",")[0].strip() or None


def _rate(group, request) -> str:
    return settings.FEEDBACK_RATE


@method_decorator(ratelimit(key="ip", rate=_rate, method="POST", block=True, group="feedback"), name="post")
class MessageFormView(FormView):
    """Stores a Message of `kind`; a filled honeypot is thanked but not stored."""

    template_name = "feedback/feedback.html"
    kind: str = ""
    nav: str = ""
    heading = intro = submit_label = ""

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "nav": self.nav, "heading": self.heading, "intro": self.intro, "submit_label": self.submit_label,
        }

    def form_valid(self, form):
        if form.is_spam():
            return redirect(self.get_success_url())
        message: Message = form.save(commit=False)
        message.kind = self.kind
        if self.request.user.is_authenticated:
            message.user = self.request.user
            message.email = message.email or self.request.user.email
        message.client_ip = _client_ip(self.request)
        message.user_agent = self.request.META.get("HTTP_USER_AGENT", "")[:300]
        message.save()
        messages.success(self.request, "Thank you, your message has been received.")
        return redirect(self.get_success_url())

    def form_invalid(self, form):
        return render(self.request, self.template_name, self.get_context_data(form=form), status=400)

    def get_success_url(self) -> str:
        return reverse("feedback:thanks")


class ContactView(MessageFormView):
    form_class = ContactForm
    kind = Message.Kind.CONTACT
    nav = "contact"
    heading = "Contact"
    intro = "Questions about the data, the API, a partnership or a problem with the site? Write to us; we answer by e-mail."
    submit_label = "Send message"


class FeedbackView(MessageFormView):
    form_class = FeedbackForm
    kind = Message.Kind.FEEDBACK
    nav = "feedback"
    heading = "Feedback"
    intro = "Tell us what works, what does not, or which land-cover map was wrong where. Every message is read."
    submit_label = "Send feedback"

    def get_initial(self):
        user = self.request.user
        if user.is_authenticated:
            return {"name": user.get_full_name() or user.username, "email": user.email}
        return {}


class ThanksView(TemplateView):
    template_name = "feedback/thanks.html"
