"""Sign-up and profile forms, with messages that say what to fix."""
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

User = get_user_model()


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=True, help_text="Used to reset your password.")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_email(self) -> str:
        # Whether an address is registered is not said here (that would tell anybody whose it is):
        # the view answers alike and writes to the address instead (SignUpView.form_valid).
        email: str = self.cleaned_data["email"].strip().lower()
        return email

    def email_taken(self) -> bool:
        """Whether an account already uses this e-mail address."""
        return User.objects.filter(email__iexact=self.cleaned_data["email"]).exists()


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("first_name", "last_name", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if not email:
            raise forms.ValidationError("An e-mail address is required to reset your password.")
        # Whether another account uses it is not said (that would tell anybody whose it is): the view writes to
        # the new address instead, and the change takes effect once its owner confirms it.
        return email
