"""Words a person reads: statuses, errors and outcomes as sentences with the next step.

One small table per thing (account statuses, operation statuses, error codes) and a few
functions the admin uses everywhere (account, operation, member and connection pages, lists, the
overview). The raw JSON stays available on the pages, folded under "Technical details".
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import capfirst

from .followups import follow_up_for
from .providers import registry
from .states import OPERATION_SPECS, AccountStatus, OperationKind, OperationStatus

# tone -> CSS class of the badge (templates/admin/provisioning/includes/style.html)
OK, WAIT, PERSON, BAD, QUIET = "ok", "wait", "person", "bad", "quiet"

ACCOUNT_STATUS_WORDS: dict[str, tuple[str, str]] = {
    AccountStatus.PENDING: ("Not provisioned yet", QUIET),
    AccountStatus.PROVISIONING: ("Provisioning", WAIT),
    AccountStatus.AWAITING_CAPTCHA: ("Needs a captcha answer", PERSON),
    AccountStatus.AWAITING_VERIFICATION: ("Waiting for the SMS code", PERSON),
    AccountStatus.AWAITING_VALIDATION: ("Waiting for the email validation", PERSON),
    AccountStatus.ACTIVE: ("Active", OK),
    AccountStatus.FAILED: ("Failed", BAD),
    AccountStatus.DEPROVISIONING: ("Deprovisioning", WAIT),
    AccountStatus.DEPROVISIONED: ("Deprovisioned", QUIET),
}

OPERATION_STATUS_WORDS: dict[str, tuple[str, str]] = {
    OperationStatus.QUEUED: ("Queued", WAIT),
    OperationStatus.RUNNING: ("Running", WAIT),
    OperationStatus.WAITING_RETRY: ("Waiting to retry", WAIT),
    OperationStatus.SUCCEEDED: ("Done", OK),
    OperationStatus.FAILED: ("Failed", BAD),
    OperationStatus.CANCELLED: ("Cancelled", QUIET),
    OperationStatus.HELD: ("Held", PERSON),
}

# what a person does next, for an account waiting for one
AWAITING_SENTENCES: dict[str, str] = {
    AccountStatus.AWAITING_CAPTCHA: "The provider asks for a captcha: read the picture and answer it.",
    AccountStatus.AWAITING_VERIFICATION: "The member received an SMS code: enter it to finish the registration.",
    AccountStatus.AWAITING_VALIDATION: "The member received a validation email: paste the link it contains.",
}

# the sentence after an operation that left the account waiting for a person
NOW_WAITING: dict[str, str] = {
    AccountStatus.AWAITING_CAPTCHA: "now waiting for a captcha answer",
    AccountStatus.AWAITING_VERIFICATION: "now waiting for the SMS code",
    AccountStatus.AWAITING_VALIDATION: "now waiting for the email validation",
}

# error code -> (what happened, what to do next); {provider} is the connection's name
ERROR_SENTENCES: dict[str, tuple[str, str]] = {
    "quota_exceeded": (
        "{provider}'s quota of users is full",
        "raise the plan (or the connection's quota) or deprovision someone, then retry",
    ),
    "configuration": (
        "{provider} refused the connection's credentials or rights",
        "fix the connection's credentials, check its health, then retry",
    ),
    "invalid_input": ("{provider} refused what was sent", "correct the member's details, then retry"),
    "member_incomplete": ("The member lacks what {provider} needs, so nothing was sent", "complete the member, then retry"),
    "already_exists": (
        "{provider} already has this user",
        "look at the user there: reconcile the connection or deprovision the duplicate, then retry",
    ),
    "account_exists": (
        "{provider} already has this user",
        "look at the user there: reconcile the connection or deprovision the duplicate, then retry",
    ),
    "not_found": ("{provider} no longer has this user", "provision the account again, or deprovision it here"),
    "rejected": ("{provider} refused the request", "read the technical details, fix the cause, then retry"),
    "needs_attention": ("{provider} is in a state the portal cannot resolve alone", "follow the message, then retry"),
    "transient": ("{provider} did not answer properly", "it is retried by itself; retry now if it has recovered"),
    "unknown_outcome": (
        "{provider} did not answer: the request may or may not have been applied",
        "it is retried by itself; check the user there if it keeps failing",
    ),
    "rate_limited": ("{provider} asked the portal to slow down", "it is retried by itself when allowed"),
    "deferred": ("The portal is waiting for its own budget at {provider}", "it is sent by itself when allowed"),
    "local_rate_limit": ("The connection's request budget is spent for now", "it is sent by itself when allowed"),
    "captcha_budget": ("The captcha budget of {provider} is spent for now", "ask for a new captcha later"),
    "captcha_rate_limited": ("{provider} refuses more captchas for now", "ask for a new captcha later"),
    "captcha_failed": ("The captcha answer was wrong", "read the new captcha and answer again"),
    "no_captcha": ("There is no captcha to answer", "ask for a new captcha"),
    "code_for_another_user": ("That SMS code belongs to another user", "ask the member for their own code"),
    "validation_expired": (
        "The validation link has expired",
        "provision again once GLPI has deleted the unvalidated registration, two days after it was made",
    ),
    "validation_invalid": ("The validation link is not valid", "paste the whole link from the latest email"),
    "account_locked": ("{provider} locked the account", "unlock it there or reset the password"),
    "connection_disabled": ("The connection is disabled", "enable it, then retry"),
    "connection_paused": ("{provider} asked the portal to pause", "it is retried by itself after the pause"),
    "connection_busy": (
        "All of {provider}'s requests at once (its max concurrency) stayed in use",
        "it is retried by itself; raise the connection's max concurrency if the provider allows more",
    ),
    "concurrency_store_unavailable": (
        "The portal could not reach Redis, which counts each connection's requests at once",
        "it is retried by itself; ask an engineer to check Redis if it keeps failing",
    ),
    "provider_unavailable": ("{provider} is unavailable", "it is retried by itself; retry now if it has recovered"),
    "provider_not_installed": ("The connection's provider is not installed", "ask an engineer to install it"),
    "not_supported": ("The provider does not offer this operation", "use another operation"),
    "database_unavailable": ("The portal's database was unavailable", "it is retried by itself"),
    "worker_lost": ("The worker running it stopped", "retry it"),
    "internal_error": ("The portal hit an unexpected error", "retry; if it fails again, tell the engineers (it is logged)"),
}


def badge(words: str, tone: str, title: str = ""):
    """A coloured badge: ``<span class="provisioning-badge provisioning-badge-ok">Active</span>``."""
    return format_html('<span class="provisioning-badge provisioning-badge-{}" title="{}">{}</span>', tone, title, words)


def account_status_words(status: str) -> str:
    return ACCOUNT_STATUS_WORDS.get(status, (str(status).replace("_", " ").capitalize(), QUIET))[0]


def account_badge(account):
    """The account's status as a badge; "Active — needs a look" when drift or a lost secret flags it."""
    words, tone = ACCOUNT_STATUS_WORDS.get(account.status, (account_status_words(account.status), QUIET))
    if account.attention and tone in (OK, QUIET):
        words, tone = f"{words} — needs a look", PERSON
    return badge(words, tone, account.attention)


def operation_badge(operation, account_status: str | None = None):
    """The operation's status as a badge; held ones say why, done ones what they are waiting for."""
    words, tone = OPERATION_STATUS_WORDS.get(operation.status, (operation.status, QUIET))
    if operation.status == OperationStatus.HELD:
        words = "Held: awaiting a confirmation" if operation.needs_confirmation else "Held: provider quarantined"
    elif operation.status == OperationStatus.SUCCEEDED:
        waiting = NOW_WAITING.get(account_status or "")
        if waiting and operation.kind in STARTS_A_REGISTRATION:
            words, tone = f"Done — {waiting}", PERSON
    return badge(words, tone)


# operations after which an account may be left waiting for a person
STARTS_A_REGISTRATION = (OperationKind.PROVISION, OperationKind.ANSWER_CAPTCHA, OperationKind.REFRESH_CAPTCHA,
                         OperationKind.RESET_PASSWORD)


def error_sentence(code: str, message: str = "", *, provider: str = "The provider") -> str:
    """"Kandy sandbox's quota of users is full: raise the plan or deprovision someone, then retry."
    followed by the provider's own words."""
    if not code:
        return ""
    happened, next_step = ERROR_SENTENCES.get(code, ("Something went wrong at {provider}", "read the technical details"))
    sentence = f"{happened.format(provider=provider)}: {next_step}."
    return _with_message(sentence[:1].upper() + sentence[1:], message)


def error_summary(code: str) -> str:
    """What an error code means, in words, at no provider in particular: "The captcha answer was
    wrong", "The provider's quota of users is full" (a list's filter of errors)."""
    return capfirst(ERROR_SENTENCES.get(code, (code.replace("_", " "),))[0].format(provider="the provider"))


def _with_message(sentence: str, message: str) -> str:
    """``sentence`` with the recorded ``message`` after it, in parentheses; a message of more
    than one sentence, or with parentheses of its own, follows as it is."""
    if not message or message in sentence:
        return sentence
    if "(" in message or ". " in message:
        return f"{sentence} {message.rstrip('.')}."
    return f"{sentence} ({message.rstrip('.')}.)"


def operation_error_sentence(operation) -> str:
    """Why ``operation`` failed and what to do next (``failure_sentence``)."""
    provider = str(operation.connection) if operation.connection_id else "The provider"
    return failure_sentence(operation.kind, operation.error_code, operation.error_message, provider=provider)


def failure_sentence(kind: str, code: str, message: str = "", *, provider: str = "The provider") -> str:
    """Why an operation of ``kind`` failed with ``code``, and what to do next. Where retrying
    cannot help (a wrong SMS code, a refused validation link: ``followups``) the next step is
    what can, not the error code's general advice."""
    found = follow_up_for(kind, code)
    if found is not None:
        return _with_message(found.sentence, message)
    return error_sentence(code, message, provider=provider)


def account_error_sentence(account) -> str:
    """The account's last error as a sentence with the next step ("" when there is none); the
    failed operation's ``kind`` (recorded with it) says what can help where retrying cannot."""
    error = account.last_error or {}
    if not isinstance(error, dict) or not error.get("code"):
        return ""
    return failure_sentence(error.get("kind", ""), error["code"], error.get("message", ""),
                            provider=str(account.connection))


def account_person_sentence(account) -> str:
    """Why a person must look at the account and what to do ("" when nothing waits for one).

    The same rule as ``selectors.NEEDS_PERSON``: an awaiting or failed state, or ``attention``.
    """
    if account.attention:
        return account.attention
    if account.status in AWAITING_SENTENCES:
        return AWAITING_SENTENCES[account.status]
    if account.status == AccountStatus.FAILED:
        return account_error_sentence(account) or "Provisioning failed: read the last operation, then retry."
    return ""


# who asked, as ``services.Requester.label`` stores it: "<via>:<username>", or one of the
# portal's own requesters
_VIA_WORDS = {"admin": "in the admin", "api": "through the API"}
_REQUESTER_WORDS = {
    "schedule": "The schedule (a periodic task)",
    "quarantine probe": "The quarantine's probe (is the provider back?)",
    "bootstrap": "The setup command (bootstrap)",
    "public:validation-page": "The member, on the validation page",
}


def requester_words(label: str) -> str:
    """Who asked for an operation or a batch, in words: "alice, in the admin" for "admin:alice"."""
    if label in _REQUESTER_WORDS:
        return _REQUESTER_WORDS[label]
    via, sep, name = label.partition(":")
    if sep and name and via in _VIA_WORDS:
        return f"{name}, {_VIA_WORDS[via]}"
    return label


# the words of a stored name that read as letters ("user_api_key": "User API key")
_ACRONYMS = {"api": "API", "url": "URL", "uri": "URI", "sip": "SIP", "sms": "SMS"}


def field_name(key: str) -> str:
    """A stored name as staff read it: "User API key" for ``user_api_key``, "Redirect URI"."""
    return capfirst(" ".join(_ACRONYMS.get(part, part) for part in key.split("_")))


def secret_names(keys) -> str:
    """An account's secrets as staff read them: "User API key, User password" for
    ``["user_api_key", "user_password"]`` (the API keeps the stored names); "—" for none."""
    return ", ".join(field_name(key) for key in keys) or "—"


def result_expired_at(result):
    """When the links of an operation's ``result`` expired (its ``expires_at``, a login link's),
    if that is past; ``None`` while they hold, or when they do not say."""
    raw = result.get("expires_at") if isinstance(result, dict) else None
    try:
        moment = parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment <= timezone.now() else None


def via_words(via: str) -> str:
    """Where a person did something, in words: "in the admin" for "admin", "through the API"."""
    return _VIA_WORDS.get(via, via)


def via_choices() -> list[tuple[str, str]]:
    """``[(via, "In the admin"), ...]``: a filter's choices."""
    return [(via, capfirst(words)) for via, words in _VIA_WORDS.items()]


def operation_outcome_sentence(operation, account_status: str | None = None, *,
                               go_on: str = "open the account to go on") -> str:
    """What became of an operation, in a sentence. ``go_on``: where the reader finds the next step
    of a registration it left waiting for a person (the account page: "the buttons at the top of this page")."""
    status = operation.status
    if status == OperationStatus.FAILED:
        return operation_error_sentence(operation)
    if status == OperationStatus.SUCCEEDED:
        waiting = NOW_WAITING.get(account_status or "") if operation.kind in STARTS_A_REGISTRATION else None
        if waiting:
            return f"Done — {waiting}: {go_on}."
        if operation.kind == OperationKind.LOGIN_LINK:
            return "Done: the login link is among the operation's links; send it to the member quickly, it expires."
        if operation.kind == OperationKind.RECONCILE:
            return "Done: the accounts that differ are flagged in the \"needs a person\" queue."
        if operation.kind == OperationKind.RECORD_CLOSED:
            return "Done: recorded as closed at the provider (nothing was sent to it); the account is deprovisioned."
        return "Done."
    if status == OperationStatus.CANCELLED:
        return "Cancelled: nothing more happens."
    return ""


HEALTH_WORDS: dict[str, tuple[str, str]] = {
    "ok": ("Healthy", OK),
    "degraded": ("Degraded", WAIT),
    "error": ("Failing", BAD),
    "unknown": ("Not checked yet", QUIET),
}

CONNECTION_STATE_WORDS: dict[str, tuple[str, str]] = {
    "active": ("Active", OK),
    "quarantined": ("Quarantined", BAD),
    "disabled": ("Disabled", QUIET),
}


def health_badge(connection):
    if _never_checked(connection):  # "Not checked yet" would have staff wait for it
        return badge("No health check", QUIET, health_detail(connection))
    words, tone = HEALTH_WORDS.get(connection.health_status, (connection.health_status, QUIET))
    return badge(words, tone, health_detail(connection))


def health_detail(connection) -> str:
    """What the last health check found, or why there is none to find (the admin's badge and the
    API's ``health.detail``)."""
    if _never_checked(connection):
        return f"{connection.provider_label} offers no way to check its health: its operations' outcomes show whether it works."
    return connection.health_detail


def _never_checked(connection) -> bool:
    """Not checked, and never to be: its provider has no health check."""
    if connection.health_status != "unknown":
        return False
    provider = registry.all_providers().get(connection.provider)
    return provider is not None and not provider.supports(OperationKind.HEALTH_CHECK)


def connection_state_badge(connection):
    words, tone = CONNECTION_STATE_WORDS.get(connection.state, (connection.state, QUIET))
    return badge(words, tone, connection.quarantine_reason if connection.quarantined_since else "")


def technical_details(value):
    """The raw JSON, folded: ``<details><summary>Technical details</summary><pre>…</pre></details>``."""
    import json

    if value in (None, {}, [], ""):
        return ""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html(
        '<details class="provisioning-technical"><summary>Technical details</summary>'
        '<pre class="provisioning-json">{}</pre></details>',
        text,
    )


def sentence_with_details(sentence: str, value, *, bad: bool = False):
    """A sentence a person reads, with the JSON it comes from folded below it ("—" when neither)."""
    folded = technical_details(value)
    if not sentence and not folded:
        return "—"
    return format_html(
        '<p class="provisioning-sentence{}">{}</p>{}', " provisioning-sentence-bad" if bad and sentence else "",
        sentence or "", folded,
    )


def account_details_sentence(account) -> str:
    """What the provider reported of the account, in a line ("" when nothing)."""
    details = account.details or {}
    if not isinstance(details, dict) or not details:
        return ""
    plain = [
        f"{key.replace('_', ' ')}: {_plain(value)}"
        for key, value in sorted(details.items())
        if isinstance(value, (str, int, float, bool)) and value != ""
    ]
    shown = "; ".join(plain[:4]) + (f"; and {len(plain) - 4} more" if len(plain) > 4 else "")
    if not shown:
        return f"{account.connection} reported {len(details)} detail{'s' if len(details) != 1 else ''}."
    return f"{account.connection} reported {shown}."


def result_sentence(result) -> str:
    """An operation's result in a line: its plain values, links left to the "links" row; the
    fields a provider refused (``field_errors``, written with a refusal) with their messages."""
    if not isinstance(result, dict) or not result:
        return ""
    refused = result.get("field_errors")
    if isinstance(refused, dict) and refused:
        rest = values_sentence({key: value for key, value in result.items() if key != "field_errors"})
        return refused_sentence(refused) + (f" {rest}" if rest else "")
    return values_sentence(result) or "The result holds links only (see below)."


def refused_sentence(field_errors: dict) -> str:
    """"What the provider refused: email: is invalid; phone number: is too short." — the fields
    a provider refused, with its messages."""
    fields = "; ".join(
        f"{field.replace('_', ' ')}: {', '.join(map(str, messages)) if isinstance(messages, list) else messages}"
        for field, messages in field_errors.items()
    )
    return f"What the provider refused: {fields.rstrip('.')}."


def is_link(value) -> bool:
    """A value pages show as a link to open, not as a word: an http(s) URL."""
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def result_links(result) -> list[tuple[str, str]]:
    """The links in an operation's result, by key: ``[("redirect_uri", "https://…")]`` (what
    ``values_sentence`` leaves out)."""
    return [(key, value) for key, value in sorted((result or {}).items()) if is_link(value)]


def values_sentence(values) -> str:
    """"validation id: 9; newsletter: yes." — the plain values of an operation's input or result
    (lists and objects by their size: "users: 3 items", links left out), "" when there are none."""
    if not isinstance(values, dict):
        return ""
    plain = [
        f"{key.replace('_', ' ')}: {_plain(value)}"
        for key, value in sorted(values.items())
        if isinstance(value, (str, int, float, bool)) and not is_link(value)
    ]
    lists = [  # "6 entries", where a bare "6" read as a value ("glpi password policy: 6")
        f"{key.replace('_', ' ')}: {_how_many(value)}" for key, value in sorted(values.items())
        if isinstance(value, (list, dict))
    ]
    parts = plain[:4] + lists[:4]
    return ("; ".join(parts) + ".") if parts else ""


def _how_many(value: list | dict) -> str:
    n = len(value)
    if isinstance(value, dict):
        return f"{n} entr{'y' if n == 1 else 'ies'}"
    return f"{n} item{'' if n == 1 else 's'}"


def _plain(value) -> str:
    """A value as a person reads it: yes or no, a provider's ISO moment as every page writes one."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and value[10:11] in ("T", " "):
        try:
            moment = parse_datetime(value)
        except ValueError:
            moment = None
        if moment is not None:
            if timezone.is_aware(moment):
                return full_time(moment)
            return f"{moment:%Y-%m-%d %H:%M:%S}"  # no zone given: none said
    return str(value)


def full_time(moment) -> str:
    """"2026-11-30 10:42:07 UTC": a moment as every page writes it (``DATETIME_FORMAT``)."""
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def short_time(moment):
    """"30 Nov 10:42" for a list (UTC), the full time in the title; "—" for none."""
    if moment is None:
        return "—"
    return format_html('<time datetime="{}" title="{}">{}</time>', moment.isoformat(), full_time(moment),
                       f"{moment:%d %b %H:%M}")


def cut(text, size: str = "", *, title=None):
    """Text cut with an ellipsis to fit a list column, whole in its title (or ``title``)."""
    return format_html('<span class="provisioning-cut{}" title="{}">{}</span>', f" provisioning-cut-{size}" if size else "",
                       text if title is None else title, text)


def call_error_summary(error: str) -> str:
    """What an HTTP exchange's recorded error means, in words: "The captcha answer was wrong" for
    "captcha_failed: The captcha answer was wrong; GLPI said: Turing test failed.", "The provider
    did not answer: …" for "unknown_outcome: ReadTimeout"; "" for none. One that names no code
    the portal explains reads as recorded."""
    code, said, _ = error.partition(": ")
    return error_summary(code) if said and code in ERROR_SENTENCES else error


def batch_left_out_sentence(preview) -> str:
    """Which of the members given to a batch it did not send, and why, as a sentence with the next
    step ("" when it sent them all). ``preview``: the batch's ``selectors.BatchPreview``."""
    parts = []  # (how many, why)
    if preview.over_quota_count:
        connection = preview.connection
        parts.append((
            preview.over_quota_count,
            f"because the quota of {connection} ({connection.max_accounts} accounts) allows no more (raise the quota "
            "or deprovision accounts there, then send them again)",
        ))
    if preview.existing_count:
        statuses = status_counts_in_sentence(preview.existing)
        busy = f", {preview.busy} of them with an operation under way" if preview.busy else ""
        parts.append((preview.existing_count,
                      f"because they already have an account there ({statuses}{busy}), left as it is"))
    if preview.incomplete_count:
        parts.append((preview.incomplete_count, f"because {preview.connection} cannot register them as they are"))
    if not parts:
        return ""
    if preview.selected == 1:  # not "1 of the 1 members given were not sent: 1 because ..."
        sentence = f"The member given was not sent, {parts[0][1]}."
    else:
        left_out = preview.left_out_count
        sentence = (f"{left_out} of the {preview.selected} members given {'was' if left_out == 1 else 'were'} not sent: "
                    f"{'; '.join(f'{n} {why}' for n, why in parts)}.")
    # what the first of those lacks, and the next step (at Xhoppe, a phone: the same for all)
    return f"{sentence} {preview.incomplete_reason}" if preview.incomplete_count else sentence


def account_status_in_sentence(status: str) -> str:
    """The status's words inside a sentence: "waiting for the SMS code"."""
    words = account_status_words(status)
    return words[:1].lower() + words[1:]


def status_counts_in_sentence(counts: dict[str, int]) -> str:
    """``{status: n}`` of accounts inside a sentence: "active: 1, needs a captcha answer: 3"."""
    return ", ".join(f"{account_status_in_sentence(status)}: {n}" for status, n in sorted(counts.items()))


def batch_awaiting_sentence(awaiting: dict[str, int]) -> str:
    """What a batch's accounts now wait for (``selectors.batch_accounts_awaiting_a_person``): "3 of
    these accounts now wait for a person (waiting for the SMS code: 3)." ("" when none does)."""
    total = sum(awaiting.values())
    if not total:
        return ""
    head = "One of these accounts now waits" if total == 1 else f"{total} of these accounts now wait"
    return f"{head} for a person ({status_counts_in_sentence(awaiting)})."


def member_kept_sentence(accounts) -> str:
    """Why a member cannot be deleted: its ``accounts`` that may exist at their providers
    (``selectors.member_accounts_kept``), and what to do."""
    listed = "; ".join(f"{account.connection} ({account_status_in_sentence(account.status)})" for account in accounts)
    sentence = f"This member still has accounts that may exist at their providers: {listed}."
    allowed_from = OPERATION_SPECS[OperationKind.DEPROVISION].allowed_from
    closable = [a for a in accounts if _provider_of(a.connection).supports(OperationKind.DEPROVISION)]
    now = [a for a in closable if a.status in allowed_from]
    again = [a for a in closable if a.status not in allowed_from]  # pending, a request sent
    if len(now) == len(accounts):
        return f"{sentence} Deprovision them first."
    if now:
        sentence += f" Deprovision those at {', '.join(str(a.connection) for a in now)} first."
    if again:
        sentence += (f" A provisioning at {', '.join(str(a.connection) for a in again)} stopped after a request went "
                     "out: provision again, then deprovision.")
    cannot = {_provider_of(a.connection).label for a in accounts if a not in closable}
    if cannot:
        sentence += _cannot_close(cannot, f"{ONCE_CLOSED}; then the member can be deleted.")
    return sentence


def connection_kept_sentence(connection, counts: dict[str, int], more: bool = False) -> str:
    """Why ``connection`` cannot be deleted: ``counts`` (``{status: n}``) of its accounts that may
    exist at the provider (``selectors.connection_accounts_kept_counts``; ``more``: there are more
    than those counted), and what to do."""
    total = sum(counts.values())
    if more:
        sentence = f"This connection still holds more than {total:,} accounts that may exist at the provider."
    else:
        listed = status_counts_in_sentence(counts)
        sentence = (f"This connection still holds {total} account{'s' if total != 1 else ''} that may exist at "
                    f"the provider ({listed}).")
    provider = _provider_of(connection)
    if not provider.supports(OperationKind.DEPROVISION):
        return sentence + _cannot_close(
            {provider.label}, "while the connection holds one, it stays; disable it instead. Once its accounts are "
            "closed there by other means (its support, by hand), select them in the list of accounts (filtered by "
            f"this connection) and record them with its action \u201c{OperationKind.RECORD_CLOSED.label}\u201d.")
    return f"{sentence} Deprovision them first, or disable the connection instead."


def accounts_gone_sentence(count: int, more: bool = False) -> str:
    """Why ``count`` pending or failed accounts may be deleted with their member or connection
    (``selectors.accounts_kept`` let them go); "" for none."""
    if not count:
        return ""
    many = more or count != 1
    return (f"Of its accounts, {'more than ' if more else ''}{count:,} {'are' if many else 'is'} pending or failed: "
            f"{'they exist' if many else 'it exists'} nowhere at the provider, since no request for "
            f"{'them' if many else 'it'} went out, or the provider refused each one as coming from a caller it "
            "does not know.")


def connection_too_big_sentence(limit: int) -> str:
    """Why a connection with more than ``limit`` operations, more than one request deletes, cannot
    be deleted (``selectors.connection_too_big_to_delete``), and what to do instead."""
    return (f"This connection has more than {limit:,} operations on record: deleting them with it "
            "would take longer than a request may last. Disable the connection instead: it then sends nothing to its "
            "provider, and its history stays readable.")


def _provider_of(connection):
    from .providers import registry  # here: a provider's own page (flyve_page) imports this module

    return registry.get(connection.provider)


def record_closed_intro(account, *, many: bool = False) -> str:
    """What recording ``account`` (``many``: several of its provider's) as closed at its provider
    does, before staff confirm it."""
    if many:
        return (f"Record them only once the accounts are closed at {account.provider_label}: the portal sends "
                "nothing there. Each becomes deprovisioned, its operation keeps who recorded it, when and how, and "
                "their members may then be deleted.")
    return (f"Record this only once the account is closed at {account.provider_label}: the portal sends nothing "
            "there. The account becomes deprovisioned, this operation keeps who recorded it, when and how, and the "
            "member may then be deleted.")


# how staff tell the portal that an account its provider cannot close through its API was closed
# there all the same (``OperationKind.RECORD_CLOSED``)
ONCE_CLOSED = ("once an account is closed there by other means (its support, by hand), record it with "
               f"\u201c{OperationKind.RECORD_CLOSED.label}\u201d on the account's page")


def _cannot_close(labels: set[str], consequence: str) -> str:
    whose = "its" if len(labels) == 1 else "their"
    return f" {' and '.join(sorted(labels))} cannot close an account through {whose} API: {consequence}"
