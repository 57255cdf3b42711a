"""Forms of the admin: members, connections with write-only credentials, and the input of operations."""

from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.utils.text import capfirst

from ..models import COUNTRY_MESSAGE, Account, Connection, Member
from .. import services
from ..providers import registry
from ..providers.inputs import BOOLEAN, INTEGER, InputErrors, InputField
from ..services import InvalidRequest
from ..states import OperationKind

# --- fields from a provider's declaration ---------------------------------------------------------


class OptionalYesNo(forms.NullBooleanSelect):
    """An optional yes-or-no: left alone, the provider's default applies (not "Unknown")."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", "— (the provider's default)"), ("true", "Yes"), ("false", "No")]


def declared_form_field(declared: InputField, *, password: bool = False) -> forms.Field:
    """A form input for a declared field. It only collects what is typed: the declaration's own
    check (``inputs.clean_values``, through services) accepts or refuses it, as in the API. Its
    label starts with a capital, as a model field's does in a Django form."""
    common = {"label": capfirst(declared.verbose_name), "required": False, "help_text": declared.help_text}
    if declared.type == BOOLEAN:
        if declared.required:
            return forms.BooleanField(**common)
        return forms.NullBooleanField(**common, widget=OptionalYesNo)
    if declared.choices:  # a select, but the declaration checks the value (not the form)
        choices = [("", "—"), *((choice, choice) for choice in declared.choices)]
        return forms.CharField(**common, widget=forms.Select(choices=choices))
    attrs = {"autocomplete": "new-password" if password else "off", "spellcheck": "false"}
    if declared.max_length:
        attrs["size"] = min(max(declared.max_length, 20), 90)
    if declared.type == INTEGER:
        attrs["inputmode"] = "numeric"
    if password:
        widget = forms.PasswordInput(render_value=False, attrs=attrs)
    else:
        widget = forms.TextInput(attrs=attrs)
    return forms.CharField(**common, strip=False, widget=widget)


def add_input_errors(form: forms.Form, errors: dict, *, field_name=None) -> None:
    """Show field errors (``{name: [messages]}``, as services give them) on ``form``.

    A connection's credential and setting errors come nested (``{"credentials": {key: [...]}}``)
    and land on the inputs ``credential_field_name(key)`` and ``setting_field_name(key)``.
    """
    for name, messages in errors.items():
        if isinstance(messages, dict):
            nested = {"credentials": credential_field_name, "settings": setting_field_name}.get(name)
            add_input_errors(form, messages, field_name=nested)
            continue
        messages = [messages] if isinstance(messages, str) else list(messages)
        target = field_name(name) if field_name else name
        if target in form.fields:
            form.add_error(target, messages)
        elif name == "non_field_errors":
            form.add_error(None, messages)
        else:
            form.add_error(None, [f"{name}: {message}" for message in messages])


# --- members ----------------------------------------------------------------------------------


class MemberForm(forms.ModelForm):
    """A member: the expected formats in the help texts, and the API's message for a bad country."""

    class Meta:
        model = Member
        fields = "__all__"
        labels = {"external_ref": "Reference"}
        help_texts = {
            # "External ref" read as a code; imports and the API name it external_ref
            "external_ref": (
                "The organisation's own id for this person: the external_ref column of an import, and of the API."
            ),
            "phone": "E.164, e.g. +6591234567.",
            # the form lists countries by name; the API and imports take the code
            "country": "Where the member lives. In the API and in imports: its ISO 3166-1 alpha-2 code, upper case (SG, FR...).",
        }
        error_messages = {"country": {"invalid_choice": COUNTRY_MESSAGE}}


# --- connections ------------------------------------------------------------------------------


def credential_field_name(key: str) -> str:
    return f"credential_{key}"


def clear_field_name(key: str) -> str:
    return f"clear_credential_{key}"


def setting_field_name(key: str) -> str:
    return f"setting_{key}"


class ConnectionForm(forms.ModelForm):
    """A connection with the inputs its provider declares: credentials and settings.

    Credentials are write-only: inputs are never pre-filled (not even after a validation error),
    a blank input keeps the current value, and an optional one can be removed with its box.
    Use ``connection_form_for(kind)``: it adds the inputs of that provider. ``clean`` asks
    services to merge and check them (the rule the API follows too); the admin saves through
    ``services.connection_create`` / ``connection_update`` with ``connection_changes()``.
    """

    provider_kind: str = ""

    class Meta:
        model = Connection
        fields = [
            "name",
            "provider",
            "base_url",
            "enabled",
            "max_accounts",
            "requests_per_minute",
            "max_concurrency",
            "retry_horizon_hours",
        ]
        labels = {"base_url": "Base URL"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "provider" in self.fields:  # the add form: the provider was chosen on the page before
            self.fields["provider"] = forms.ChoiceField(choices=registry.choices(), initial=self.provider_kind)
            self.fields["provider"].disabled = True
        if "retry_horizon_hours" in self.fields:  # blank: keep it (or the default of new connections)
            self.fields["retry_horizon_hours"].required = False
        if "base_url" in self.fields and self.provider_class.base_url_example:
            self.fields["base_url"].help_text = f"For example {self.provider_class.base_url_example}"
        current = self.instance.credentials if self.instance.pk else {}
        for declared in self.provider_class.credential_fields:
            field = self.fields[credential_field_name(declared.name)]
            state = ("Set; leave blank to keep it. " if current.get(declared.name) else "Not set. ") if self.instance.pk else ""
            field.help_text = f"{'Required' if declared.required else 'Optional'}. {state}{declared.help_text}".strip()
        for declared in self.provider_class.setting_fields:
            self.initial.setdefault(setting_field_name(declared.name), (self.instance.settings or {}).get(declared.name))

    @property
    def provider_class(self):
        return registry.get(self.provider_kind)

    def credential_changes(self) -> dict:
        """Typed credentials (blank: keep), and ``None`` for those ticked for removal."""
        changes = {}
        for declared in self.provider_class.credential_fields:
            value = self.cleaned_data.get(credential_field_name(declared.name))
            if value:
                changes[declared.name] = value
            elif self.cleaned_data.get(clear_field_name(declared.name)):
                changes[declared.name] = None
        return changes

    def setting_changes(self) -> dict:
        return {
            declared.name: self.cleaned_data.get(setting_field_name(declared.name))
            for declared in self.provider_class.setting_fields
        }

    def clean(self):
        cleaned = super().clean()
        try:
            services.connection_changes_check(
                provider=self.provider_kind,
                connection=self.instance if self.instance.pk else None,
                credentials=self.credential_changes(),
                settings=self.setting_changes(),
                from_form=True,
            )
        except InvalidRequest as exc:
            add_input_errors(self, exc.field_errors)
        return cleaned

    def connection_changes(self) -> dict:
        """Keyword arguments of ``services.connection_create`` / ``connection_update``."""
        fields = {name: self.cleaned_data[name] for name in services.CONNECTION_FIELDS if name in self.cleaned_data}
        if fields.get("retry_horizon_hours") is None:
            fields.pop("retry_horizon_hours", None)
        fields["provider"] = self.provider_kind
        return {**fields, "credentials": self.credential_changes(), "settings": self.setting_changes()}


def connection_form_for(kind: str) -> type[ConnectionForm]:
    """The ConnectionForm of provider ``kind`` (which must be registered)."""
    provider = registry.get(kind)
    attrs = {"provider_kind": kind, "__module__": __name__}
    for declared in provider.credential_fields:
        attrs[credential_field_name(declared.name)] = declared_form_field(declared, password=True)
        if not declared.required:
            attrs[clear_field_name(declared.name)] = forms.BooleanField(
                label=f"Remove {declared.verbose_name}", required=False, help_text="Forget the current value."
            )
    for declared in provider.setting_fields:
        attrs[setting_field_name(declared.name)] = declared_form_field(declared)
    return type(f"{kind.title()}ConnectionForm", (ConnectionForm,), attrs)


def credential_form_fields(kind: str, current: dict | None = None) -> list[str]:
    """The inputs of ``kind``'s credentials, with a "Remove" box under each optional one that
    ``current`` (the connection's credentials; none on the add form) holds."""
    names = []
    for declared in registry.get(kind).credential_fields:
        names.append(credential_field_name(declared.name))
        if not declared.required and (current or {}).get(declared.name):
            names.append(clear_field_name(declared.name))
    return names


def setting_form_fields(kind: str) -> list[str]:
    return [setting_field_name(declared.name) for declared in registry.get(kind).setting_fields]


# --- accounts -----------------------------------------------------------------------------------


def provisionable_connections():
    """Enabled connections whose provider is installed and can provision."""
    kinds = [kind for kind, provider in registry.all_providers().items() if provider.supports(OperationKind.PROVISION)]
    return Connection.objects.filter(enabled=True, provider__in=kinds).order_by("name")


class ProvisionAtConnectionForm(forms.Form):
    # no connection is chosen for staff: an empty first choice, and one must be picked
    connection = forms.ModelChoiceField(
        queryset=Connection.objects.none(), required=True, empty_label="— choose a connection —"
    )

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
    """The input of one operation kind at one provider, built from its declaration.

    An operation without input gets a form without fields: a confirmation. ``clean`` checks
    what was typed with the provider's own rules (``Provider.clean_input``), which services
    apply again when the operation is requested.
    """

    provider_class = None
    kind: str = ""

    def clean(self):
        cleaned = super().clean()
        raw = {name: value for name, value in cleaned.items() if value not in (None, "")}
        try:
            plain, secret = self.provider_class.clean_input(self.kind, raw, from_form=True)
        except InputErrors as exc:
            add_input_errors(self, exc.errors)
        else:
            self.input = {**plain, **secret}
        return cleaned

    def operation_input(self) -> dict:
        """The input for ``services.operation_request`` (secret values are kept encrypted there)."""
        return getattr(self, "input", {})

    def add_service_errors(self, exc: InvalidRequest) -> None:
        if not exc.field_errors:
            self.add_error(None, exc.message)
        add_input_errors(self, exc.field_errors)


def operation_form_for(provider_class, kind: str) -> type[OperationForm]:
    """The form of ``kind`` at ``provider_class`` (or a bare confirmation without a provider)."""
    fields = provider_class.input_fields.get(kind, ()) if provider_class is not None else ()
    attrs = {"provider_class": provider_class, "kind": kind, "__module__": __name__}
    for number, declared in enumerate(fields):
        field = declared_form_field(declared)
        if number == 0:
            field.widget.attrs["autofocus"] = True
        attrs[declared.name] = field
    return type(f"{kind.title().replace('_', '')}Form", (OperationForm,), attrs)
