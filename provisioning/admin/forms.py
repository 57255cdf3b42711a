"""Forms of the admin: members, connections with write-only credentials, and the input of operations."""

from __future__ import annotations

import re
from urllib.parse import unquote

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect

from ..models import COUNTRY_MESSAGE, Account, Connection, Member
from ..providers import registry
from ..states import OperationKind
from .. import services
from ..services import InvalidRequest

# --- members ----------------------------------------------------------------------------------


class MemberForm(forms.ModelForm):
    """A member: the expected formats in the help texts, and the API's message for a bad country."""

    class Meta:
        model = Member
        fields = "__all__"
        help_texts = {"phone": "E.164, e.g. +6591234567."}
        error_messages = {"country": {"invalid_choice": COUNTRY_MESSAGE}}


# --- connections ------------------------------------------------------------------------------


def credential_field_name(key: str) -> str:
    return f"credential_{key}"


def clear_field_name(key: str) -> str:
    return f"clear_credential_{key}"


class ConnectionForm(forms.ModelForm):
    """A connection with one password-style input per credential of its provider.

    Credentials are write-only: inputs are never pre-filled (not even after a validation error),
    a blank input keeps the current value, and an optional one can be removed with its box.
    Use ``connection_form_for(kind)``: it adds the inputs of that provider.
    """

    provider_kind: str = ""
    credential_keys: dict[str, bool] = {}

    class Meta:
        model = Connection
        fields = ["name", "provider", "base_url", "enabled", "max_accounts", "requests_per_minute", "max_concurrency"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "provider" in self.fields:  # the add form: the provider was chosen on the page before
            self.fields["provider"].initial = self.provider_kind
            self.fields["provider"].disabled = True
        if "base_url" in self.fields and self.provider_class.base_url_example:
            self.fields["base_url"].help_text = f"For example {self.provider_class.base_url_example}"
        current = self.instance.credentials if self.instance.pk else {}
        for key, required in self.credential_keys.items():
            field = self.fields[credential_field_name(key)]
            state = "Set; leave blank to keep it." if current.get(key) else "Not set."
            field.help_text = f"{'Required' if required else 'Optional'}. {state}"

    @property
    def provider_class(self):
        return registry.get(self.provider_kind)

    def clean(self):
        cleaned = super().clean()
        credentials = dict(self.instance.credentials) if self.instance.pk else {}
        for key in self.credential_keys:
            value = cleaned.get(credential_field_name(key))
            if value:
                credentials[key] = value
            elif cleaned.get(clear_field_name(key)):
                credentials.pop(key, None)
        for key, messages in self.provider_class.validate_credentials(credentials).items():
            if key in self.credential_keys:
                self.add_error(credential_field_name(key), messages)
            else:
                self.add_error(None, f"Stored credential '{key}': {' '.join(messages)}")
        self.credentials = credentials
        return cleaned

    def save(self, commit=True):
        instance = super().save(commit=False)
        services.connection_set_credentials(connection=instance, credentials=self.credentials)
        if commit:
            instance.save()
            self._save_m2m()
        return instance


def connection_form_for(kind: str) -> type[ConnectionForm]:
    """The ConnectionForm of provider ``kind`` (which must be registered)."""
    provider = registry.get(kind)
    attrs = {"provider_kind": kind, "credential_keys": dict(provider.credential_fields), "__module__": __name__}
    for key, required in provider.credential_fields.items():
        attrs[credential_field_name(key)] = forms.CharField(
            label=key,
            required=False,
            widget=forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
            ),
        )
        if not required:
            attrs[clear_field_name(key)] = forms.BooleanField(
                label=f"Remove {key}", required=False, help_text="Forget the current value."
            )
    return type(f"{kind.title()}ConnectionForm", (ConnectionForm,), attrs)


def credential_form_fields(kind: str) -> list[str]:
    provider = registry.get(kind)
    names = []
    for key, required in provider.credential_fields.items():
        names.append(credential_field_name(key))
        if not required:
            names.append(clear_field_name(key))
    return names


# --- accounts -----------------------------------------------------------------------------------


def provisionable_connections():
    """Enabled connections whose provider is installed and can provision."""
    kinds = [kind for kind, provider in registry.all_providers().items() if provider.supports(OperationKind.PROVISION)]
    return Connection.objects.filter(enabled=True, provider__in=kinds).order_by("name")


class ProvisionAtConnectionForm(forms.Form):
    connection = forms.ModelChoiceField(queryset=Connection.objects.none(), empty_label=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connection"].queryset = provisionable_connections()


class AccountCreateForm(ProvisionAtConnectionForm):
    """Create a member's account at a connection: its provisioning starts at once."""

    member = forms.ModelChoiceField(queryset=Member.objects.all())
    field_order = ["member", "connection"]

    def __init__(self, *args, admin_site=None, **kwargs):
        super().__init__(*args, **kwargs)
        if admin_site is not None:  # search members as you type
            widget = AutocompleteSelect(Account._meta.get_field("member"), admin_site)
            self.fields["member"] = forms.ModelChoiceField(queryset=Member.objects.all(), widget=widget)
            self.order_fields(self.field_order)


# --- operation input ----------------------------------------------------------------------------


class OperationForm(forms.Form):
    """The input of one operation kind. The base form asks for nothing: it is a confirmation."""

    def operation_input(self) -> tuple[dict, dict]:
        """``(input, secret_input)`` for ``services.operation_request``; codes and tokens are secret."""
        return {}, {}

    def add_service_errors(self, exc: InvalidRequest) -> None:
        if not exc.field_errors:
            self.add_error(None, exc.message)
        for field, messages in exc.field_errors.items():
            messages = [messages] if isinstance(messages, str) else list(messages)
            if field in self.fields:
                self.add_error(field, messages)
            else:
                self.add_error(None, [f"{field}: {message}" for message in messages])


class VerifyForm(OperationForm):
    code = forms.CharField(
        label="SMS code",
        max_length=20,
        help_text="The code the member received by SMS.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )

    def clean_code(self):
        return "".join(self.cleaned_data["code"].split())

    def operation_input(self):
        return {}, {"code": self.cleaned_data["code"]}


class AnswerCaptchaForm(OperationForm):
    answer = forms.CharField(
        label="Captcha answer",
        max_length=32,
        help_text="The characters in the picture above.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True, "spellcheck": "false"}),
    )

    def operation_input(self):
        return {}, {"answer": self.cleaned_data["answer"]}


VALIDATION_LINK = re.compile(r"#!/account/(?P<validation_id>\d+)/validation/(?P<token>[0-9A-Fa-f]{64})/?$")
VALIDATION_TOKEN = re.compile(r"^[0-9A-Fa-f]{64}$")


class ValidateForm(OperationForm):
    """The validation email's link, or its two parts typed separately."""

    link = forms.CharField(
        label="Validation link",
        required=False,
        max_length=2000,
        help_text="Paste the whole link from the email: …#!/account/<id>/validation/<token>",
        widget=forms.TextInput(attrs={"size": 90, "autocomplete": "off", "autofocus": True}),
    )
    validation_id = forms.IntegerField(label="Validation id", required=False, min_value=1)
    token = forms.CharField(
        label="Token",
        required=False,
        max_length=64,
        help_text="64 hexadecimal characters.",
        widget=forms.TextInput(attrs={"size": 70, "autocomplete": "off", "spellcheck": "false"}),
    )

    def clean(self):
        cleaned = super().clean()
        link = unquote(cleaned.get("link") or "").strip()
        validation_id, token = cleaned.get("validation_id"), (cleaned.get("token") or "").strip()
        if link:
            match = VALIDATION_LINK.search(link)
            if not match:
                self.add_error(
                    "link",
                    "This is not a validation link: it should end in "
                    "#!/account/<id>/validation/<64 hexadecimal characters>.",
                )
                return cleaned
            if (validation_id and validation_id != int(match["validation_id"])) or (
                token and token.lower() != match["token"].lower()
            ):
                self.add_error(None, "The link and the id or token typed below disagree: give one or the other.")
                return cleaned
            validation_id, token = int(match["validation_id"]), match["token"]
        elif not (validation_id and token):
            self.add_error(None, "Paste the validation link, or give both the validation id and the token.")
            return cleaned
        elif not VALIDATION_TOKEN.match(token):
            self.add_error("token", "The token is 64 hexadecimal characters (0-9, a-f).")
            return cleaned
        cleaned["validation_id"], cleaned["token"] = validation_id, token.lower()
        return cleaned

    def operation_input(self):
        return {"validation_id": self.cleaned_data["validation_id"]}, {"token": self.cleaned_data["token"]}


# operation kinds that need input from staff; every other kind is a plain confirmation
OPERATION_FORMS: dict[str, type[OperationForm]] = {
    OperationKind.VERIFY: VerifyForm,
    OperationKind.ANSWER_CAPTCHA: AnswerCaptchaForm,
    OperationKind.VALIDATE: ValidateForm,
}


def operation_form_for(kind: str) -> type[OperationForm]:
    return OPERATION_FORMS.get(kind, OperationForm)
