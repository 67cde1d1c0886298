"""The contact and feedback forms, with a honeypot field against bots."""
from django import forms

from .models import Message

HONEYPOT_FIELD = "website"


class _MessageForm(forms.ModelForm):
    """Shared by both forms: a honeypot field that people never see or fill."""

    website = forms.CharField(
        required=False,
        label="Leave this field empty",
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def is_spam(self) -> bool:
        return bool(self.data.get(HONEYPOT_FIELD, "").strip())

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].strip()
        if len(body) < 10:
            raise forms.ValidationError("Please write at least 10 characters so we can act on your message.")
        return body


class ContactForm(_MessageForm):
    class Meta:
        model = Message
        fields = ["name", "email", "subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 6})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("name", "email", "subject"):
            self.fields[name].required = True
        self.fields["email"].help_text = "We reply to this address."


class FeedbackForm(_MessageForm):
    rating = forms.TypedChoiceField(
        choices=[("", "No rating")] + [(str(i), str(i)) for i in range(1, 6)],
        coerce=int,
        empty_value=None,
        required=False,
        help_text="1 (poor) to 5 (great)",
    )

    class Meta:
        model = Message
        fields = ["rating", "body", "name", "email"]
        labels = {"body": "Your feedback"}
        help_texts = {"name": "Optional.", "email": "Optional: only if you would like an answer."}
        widgets = {"body": forms.Textarea(attrs={"rows": 6})}
