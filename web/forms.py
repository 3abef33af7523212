"""Forms of the UI pages that post to Django rather than to the JSON API."""
from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm, UsernameField
from django.contrib.auth.validators import UnicodeUsernameValidator

from accounts.selectors import user_awaiting_approval


class SignUpForm(forms.Form):
    username = UsernameField(
        max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only.",
    )
    email = forms.EmailField(
        required=False, label="Email (optional)", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password1 = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Confirm password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("That username is taken.")
        return username

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            candidate = get_user_model()(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(p1, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, required=False, widget=forms.TextInput(attrs={"placeholder": "e.g. laptop script"})
    )


class SignInForm(AuthenticationForm):
    """Django's sign-in form; an account still waiting for an admin's approval is told so (with its password
    right only, so the message reveals nothing to someone guessing)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username and password did not match.",
        "pending_approval": "Your account awaits approval by an admin; you can sign in once it is approved.",
    }

    def clean(self):
        try:
            return super().clean()
        except forms.ValidationError:
            username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
            if username and password and user_awaiting_approval(username=username, password=password):
                raise forms.ValidationError(self.error_messages["pending_approval"], code="pending_approval")
            raise


class PreferencesForm(forms.Form):
    """The settings page's model and theme; the model is checked like the API checks one."""

    default_model = forms.CharField(required=False, max_length=200, label="Default model",
                                    help_text="provider/model-id: new chats start with it. Empty: the server's.")
    theme = forms.ChoiceField(choices=[("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")],
                              widget=forms.RadioSelect)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_default_model(self):
        from rest_framework.exceptions import ValidationError

        from chats.validation import validate_model_name

        value = self.cleaned_data["default_model"].strip()
        if not value:
            return ""
        try:
            return validate_model_name(value, user_id=self.user.pk if self.user else None)
        except ValidationError as exc:
            detail = exc.detail[0] if isinstance(exc.detail, list) else exc.detail
            raise forms.ValidationError(str(detail))


class ImportForm(forms.Form):
    file = forms.FileField(label="Export file", help_text="Parley's JSON export or ChatGPT's conversations.json.")
