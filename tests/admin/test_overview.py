"""The admin's home is the day's work: who needs a person (with the button that moves each on),
a card per connection, provisions per day as an SVG chart; and one rule of "needs a person"."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from provisioning import explain, selectors
from provisioning.models import Account, Connection, Member, Operation
from provisioning.states import AccountStatus, OperationKind, OperationStatus

INDEX = reverse("admin:index")


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def member(n):
    return Member.objects.create(email=f"m{n}@example.org", first_name=f"M{n}", last_name="Doe")


@pytest.fixture
def accounts(connection):
    statuses = [
        AccountStatus.AWAITING_CAPTCHA,
        AccountStatus.AWAITING_VERIFICATION,
        AccountStatus.AWAITING_VALIDATION,
        AccountStatus.FAILED,
        AccountStatus.ACTIVE,
        AccountStatus.ACTIVE,
        AccountStatus.PENDING,
        AccountStatus.DEPROVISIONED,
    ]
    made = {}
    for n, status in enumerate(statuses):
        made[f"{status}{n}"] = Account.objects.create(member=member(n), connection=connection, status=status)
    made["failed3"].last_error = {"code": "quota_exceeded", "message": "Kandy refused a new user: the domain's user quota is full (Quota exceeded).", "operation": 1}
    made["failed3"].save()
    made["active4"].attention = "Drift: Everything sandbox no longer has user u-4: it was removed outside the portal."
    made["active4"].save()
    return made


def test_the_needs_a_person_rule_takes_awaiting_failed_and_flagged_accounts(accounts):
    needing = set(selectors.accounts_needing_a_person().values_list("status", flat=True))
    assert needing == {"awaiting_captcha", "awaiting_verification", "awaiting_validation", "failed", "active"}
    assert selectors.accounts_needing_a_person().count() == 5
    assert [a.needs_person for a in Account.objects.order_by("id")] == [True] * 5 + [False] * 3


def test_the_admin_filter_returns_the_accounts_needing_a_person(admin_client, accounts):
    response = admin_client.get(reverse("admin:provisioning_account_changelist") + "?needs_person=yes")
    shown = {account.pk for account in response.context["cl"].result_list}
    assert shown == {a.pk for key, a in accounts.items() if key in (
        "awaiting_captcha0", "awaiting_verification1", "awaiting_validation2", "failed3", "active4")}
    response = admin_client.get(reverse("admin:provisioning_account_changelist") + "?needs_person=no")
    assert {a.status for a in response.context["cl"].result_list} == {"active", "pending", "deprovisioned"}


def test_the_overview_shows_the_queue_with_one_button_each(admin_client, accounts):
    response = admin_client.get(INDEX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Needs a person" in page
    for label, kind in [
        ("Answer the captcha", "answer_captcha"),
        ("Enter the SMS code", "verify"),
        ("Paste the validation link", "validate"),
        ("Retry provisioning", "provision"),
    ]:
        assert label in page
    assert reverse("admin:provisioning_account_request", args=[accounts["awaiting_verification1"].pk, "verify"]) in page
    assert "Open the account" in page  # the drift one
    assert "Everything sandbox&#x27;s quota of users is full: raise the plan" in page
    assert "?needs_person=yes" in page


@pytest.fixture
def fix_first(accounts, connection):
    """A failure of the connection's credentials, and one of a member without what the provider needs."""
    incomplete = Account.objects.create(member=member(9), connection=connection, status=AccountStatus.FAILED)
    Account.objects.filter(pk=accounts["failed3"].pk).update(last_error={"code": "configuration", "message": "Invalid key."})
    Account.objects.filter(pk=incomplete.pk).update(last_error={"code": "member_incomplete", "message": "No phone."})
    return incomplete


def test_a_failure_a_retry_cannot_fix_leads_to_what_to_fix(admin_client, fix_first, connection):
    # "Retry provisioning" for an account whose connection's credentials were refused: the retry
    # fails the same way until they are fixed, as the sentence beside the button says
    buttons = re.findall(r'provisioning-queue-button"><a [^>]*href="([^"]+)">([^<]+)</a>',
                         admin_client.get(INDEX).content.decode())
    assert (reverse("admin:provisioning_connection_change", args=[connection.pk]), "Fix the connection") in buttons
    assert (reverse("admin:provisioning_member_change", args=[fix_first.member_id]), "Complete the member") in buttons
    assert "Retry provisioning" not in [label for _, label in buttons]


def test_one_who_may_not_fix_it_opens_the_account(staff_client, grant, fix_first):
    grant("view_account", "provision_account")
    page = staff_client.get(INDEX).content.decode()
    assert "Fix the connection" not in page and "Complete the member" not in page and "Retry provisioning" not in page
    assert "Open the account" in page


def test_a_clerk_without_the_permission_gets_open_the_account(staff_client, grant, accounts):
    grant("view_account")
    page = staff_client.get(INDEX).content.decode()
    assert "Enter the SMS code" not in page and "Open the account" in page


def test_the_overview_has_a_card_per_connection(admin_client, connection, accounts, make_account):
    now = timezone.now()
    connection.max_accounts = 10
    connection.quarantined_since = now - timedelta(minutes=5)
    connection.quarantine_reason = "5 calls failed in a row"
    connection.next_probe_at = now + timedelta(minutes=3)
    connection.save()
    Connection.objects.create(provider="snaptrade", name="Quiet one", base_url="http://q.test", credentials={})
    account = accounts["active5"]
    Operation.objects.create(kind="sync", status=OperationStatus.HELD, account=account, connection=connection, requested_by="t")
    for code in ("quota_exceeded", "quota_exceeded", "configuration"):
        Operation.objects.create(kind="provision", status=OperationStatus.FAILED, connection=connection, requested_by="t",
                                 error_code=code, finished_at=now - timedelta(hours=1))
    Operation.objects.create(kind="provision", status=OperationStatus.FAILED, connection=connection, requested_by="t",
                             error_code="rejected", finished_at=now - timedelta(hours=30))  # too old
    page = admin_client.get(INDEX).content.decode()
    assert page.count('class="module provisioning-card"') == 2
    assert "Everything sandbox is quarantined since" in page and "5 calls failed in a row" in page
    assert "next probe at" in page
    assert "5 / 10" in page  # awaiting x3 and active x2 count against the quota; failed, pending... do not
    assert "1 held" in page
    assert "kind__exact=provision&amp;error_code=quota_exceeded" in page and "error_code=configuration" in page
    assert "error_code=rejected" not in page


def test_the_overview_draws_provisions_per_day_as_svg(admin_client, connection):
    now = timezone.now()
    for days_ago, status in [(0, "succeeded"), (0, "succeeded"), (1, "failed"), (40, "succeeded")]:
        Operation.objects.create(kind=OperationKind.PROVISION, status=status, connection=connection,
                                 requested_by="t", finished_at=now - timedelta(days=days_ago))
    days = selectors.provisions_per_day(days=30)
    assert len(days) == 30 and days[-1][1:] == (2, 0) and days[-2][1:] == (0, 1)
    page = admin_client.get(INDEX).content.decode()
    assert "<svg" in page and page.count('class="provisioning-svg-ok"') == 30
    # "Accounts provisioned" counted a Flyve provisioning that led to a captcha as an account
    assert "Provisionings per day" in page and "Accounts provisioned" not in page
    assert "2 done and 1 failed" in page and "a person then finishes the registration" in page
    assert "<script" not in page.split('id="content"')[1]
    assert ' style="' not in page.split('id="content"')[1]


def test_provisioning_models_come_first_and_system_ones_below(admin_client, db):
    page = admin_client.get(INDEX).content.decode()
    page = page[page.index('class="app-provisioning'):]
    assert page.index("Members") < page.index("Connections") < page.index("Accounts") < page.index("Operations")
    assert page.index("Secret accesses") < page.index("API tokens") < page.index("System: users, groups, sign-ins, "
                                                                                "periodic tasks") < page.index("Groups")
    # the libraries' apps under names a person reads, not their labels ("OTP_TOTP", "AXES")
    system = page[page.index("System: users"):]
    for name in ("Sign-ins and lockouts", "Second factor: authenticator apps", "Second factor: recovery codes"):
        assert f">{name}</a>" in system
    assert ">Otp_Totp</a>" not in system and ">Axes</a>" not in system


def test_view_site_leads_to_the_overview(admin_client, db):
    assert admin_client.get(INDEX).context["site_url"] == "/admin/"


def test_the_figures_are_cached_briefly(admin_client, connection, django_assert_num_queries):
    admin_client.get(INDEX)
    Account.objects.create(member=member(1), connection=connection, status=AccountStatus.FAILED)
    assert "Retry provisioning" not in admin_client.get(INDEX).content.decode()  # still the cached figures
    cache.clear()
    assert "Retry provisioning" in admin_client.get(INDEX).content.decode()


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("quota_exceeded", "Kandy's quota of users is full: raise the plan (or the connection's quota) or deprovision someone, then retry."),
        ("configuration", "Kandy refused the connection's credentials or rights: fix the connection's credentials"),
        ("already_exists", "Kandy already has this user: look at the user there"),
        ("not_found", "Kandy no longer has this user"),
        ("transient", "it is retried by itself"),
        ("rate_limited", "Kandy asked the portal to slow down"),
        ("invalid_input", "correct the member's details, then retry"),
        ("captcha_failed", "The captcha answer was wrong: read the new captcha and answer again."),
        ("internal_error", "tell the engineers"),
        ("something_new", "Something went wrong at Kandy: read the technical details."),
    ],
)
def test_error_codes_read_as_sentences_with_the_next_step(code, words):
    assert words in explain.error_sentence(code, provider="Kandy")


def test_a_provider_message_follows_the_sentence():
    sentence = explain.error_sentence("quota_exceeded", "the domain's user quota is full.", provider="Kandy")
    assert sentence.endswith("then retry. (the domain's user quota is full.)")


def test_pages_speak_in_badges_and_sentences(admin_client, make_account, connection):
    waiting = make_account(AccountStatus.AWAITING_VERIFICATION)
    operation = Operation.objects.create(kind=OperationKind.PROVISION, status=OperationStatus.SUCCEEDED, account=waiting,
                                         connection=connection, requested_by="t", finished_at=timezone.now())
    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()
    assert "Done — now waiting for the SMS code" in page
    page = admin_client.get(reverse("admin:provisioning_member_change", args=[waiting.member_id])).content.decode()
    assert "Waiting for the SMS code" in page and "enter it to finish the registration" in page
    assert "icon-no" not in page and "icon-yes" not in page  # no ✖/✔ column for attention
    failed = Operation.objects.create(kind=OperationKind.PROVISION, status=OperationStatus.FAILED, account=waiting,
                                      connection=connection, requested_by="t", error_code="quota_exceeded",
                                      error_message="The domain's user quota is full.", finished_at=timezone.now())
    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[failed.pk])).content.decode()
    assert "Everything sandbox&#x27;s quota of users is full: raise the plan" in page
    assert "<summary>Technical details</summary>" in page


def test_a_connection_whose_provider_has_no_health_check_does_not_wait_for_one(admin_client, connection):
    """Xhoppe's API has no way to check its health: beat never checks it, so "Not checked yet"
    would stay for ever."""
    Connection.objects.create(provider="xhoppe", name="Shop", base_url="http://x.test", credentials={})
    for url in (INDEX, reverse("admin:provisioning_connection_changelist")):
        page = admin_client.get(url).content.decode()
        assert page.count(">No health check</span>") == 1 and "Xhoppe offers no way to check its health" in page
        assert page.count(">Not checked yet</span>") == 1  # the SnapTrade connection, checked by the next round


def test_a_quota_counted_to_its_bound_reads_the_same_on_the_overview_and_the_list(admin_client, connection, monkeypatch):
    # counted up to COUNT_LIMIT: the overview said "999+", the connections' list "1000+"
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 3)
    for n in range(4):
        Account.objects.create(member=member(n), connection=connection, status=AccountStatus.ACTIVE)
    overview = admin_client.get(INDEX).content.decode()
    listing = admin_client.get(reverse("admin:provisioning_connection_changelist")).content.decode()
    assert "3+ / no limit" in overview and "3+ / no limit" in listing


def test_a_failure_retrying_cannot_fix_reads_as_what_can_on_the_overview(admin_client, connection, accounts):
    # grouped by error code alone, a wrong SMS code read "refused what was sent: correct the member's details"
    now = timezone.now()
    for kind in (OperationKind.VERIFY, OperationKind.PROVISION):
        Operation.objects.create(kind=kind, status=OperationStatus.FAILED, connection=connection, requested_by="t",
                                 error_code="invalid_input", finished_at=now - timedelta(hours=1))
    page = admin_client.get(INDEX).content.decode()
    assert "Xhoppe refused this SMS code" in page  # the verify
    assert "correct the member" in page  # the provision: its input was refused
    assert "kind__exact=verify&amp;error_code=invalid_input" in page


def test_the_operations_in_flight_are_counted_from_their_own_index_alone(connection, accounts):
    """The overview counts each connection's unfinished operations by status. They are a few
    among millions, scattered over the table: counted there (5,000,000 operations, 50,000
    unfinished) the count read 40,766 of its pages, 440 ms; from the index of the unfinished
    alone, 9 ms."""
    from tests.conftest import plan_without_table_scans

    other = Connection.objects.create(provider="kandy", name="Other", base_url="http://k.test", credentials={})
    for status, where in [(OperationStatus.QUEUED, connection), (OperationStatus.QUEUED, connection),
                          (OperationStatus.HELD, other), (OperationStatus.SUCCEEDED, connection),
                          (OperationStatus.FAILED, other)]:
        Operation.objects.create(kind="health_check", status=status, connection=where, requested_by="t")

    rows = {(row["connection_id"], row["status"]): row["n"] for row in selectors.unfinished_operations_by_connection()}
    assert rows == {(connection.pk, OperationStatus.QUEUED): 2, (other.pk, OperationStatus.HELD): 1}
    counted = selectors.unfinished_operations_by_connection()
    plan = plan_without_table_scans(counted)
    assert "operation_unfinished_idx" in plan and "Seq Scan" not in plan
    # and it asks the index for nothing it does not hold (a count of the ids would read each
    # row's id from the table: at scale the plan is then that scan of the table's pages)
    assert "COUNT(*)" in str(counted.query)


def test_only_the_accounts_latest_operation_says_what_it_waits_for_now(admin_client, make_account, connection):
    """A provisioning that led to a captcha, then the answer that led to the email validation:
    the first is "Done", not "Done — now waiting for the email validation" (the account's state
    now), on the account's page, the operations list and its own page."""
    account = make_account(AccountStatus.AWAITING_VALIDATION)
    first, answer = (
        Operation.objects.create(kind=kind, status=OperationStatus.SUCCEEDED, account=account, connection=connection,
                                 requested_by="t", finished_at=timezone.now())
        for kind in (OperationKind.PROVISION, OperationKind.ANSWER_CAPTCHA)
    )
    waiting = "Done — now waiting for the email validation"

    def row(page, operation):
        return re.search(rf"#{operation.pk} [^<]*</a>.*?</tr>", page, re.S).group(0)

    page = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])).content.decode()
    assert waiting in row(page, answer) and waiting not in row(page, first)
    # on the account's own page, "open the account to go on" sent the reader where they were
    assert "go on with the buttons at the top of this page" in row(page, answer) and "open the account" not in page
    listing = admin_client.get(reverse("admin:provisioning_operation_changelist")).content.decode()
    rows = {op: next(r for r in re.findall(r"<tr.*?</tr>", listing, re.S) if f"/operation/{op.pk}/change/" in r)
            for op in (first, answer)}
    assert waiting in rows[answer] and waiting not in rows[first]
    assert "open the account to go on" in rows[answer]
    own = admin_client.get(reverse("admin:provisioning_operation_change", args=[first.pk])).content.decode()
    assert waiting not in own and "Done" in own
    own = admin_client.get(reverse("admin:provisioning_operation_change", args=[answer.pk])).content.decode()
    assert waiting in own


@pytest.mark.parametrize(
    "value, shown",
    [
        (False, "no"),
        # as every page writes a moment (portal/formats)
        ("2026-12-03T09:36:54.012569+00:00", "2026-12-03 09:36:54 UTC"),
        ("2026-12-03T17:36:54+08:00", "2026-12-03 09:36:54 UTC"),
        ("2026-12-03 09:36:54", "2026-12-03 09:36:54"),
        ("2026-13-45T99:00:00Z", "2026-13-45T99:00:00Z"),  # not a moment: as it came
        ("User queued for deletion", "User queued for deletion"),
    ],
)
def test_a_providers_details_read_as_words(make_account, value, shown):
    account = make_account(AccountStatus.ACTIVE, details={"registered_at": value})
    assert explain.account_details_sentence(account) == f"Everything sandbox reported registered at: {shown}."


def test_a_login_links_outcome_says_where_the_link_is_on_any_page(make_account, connection):
    """The account page's history showed "the login link is below" with no link below it."""
    account = make_account(AccountStatus.ACTIVE)
    operation = Operation.objects.create(kind=OperationKind.LOGIN_LINK, status=OperationStatus.SUCCEEDED,
                                         account=account, connection=connection, requested_by="t")
    sentence = explain.operation_outcome_sentence(operation, account.status)
    assert "below" not in sentence and "the operation's links" in sentence


def card_row(page: str, title: str) -> str:
    """The contents of the first connection card's row ``title`` ("" when the card has none)."""
    found = re.search(rf"<dt>{re.escape(title)}</dt><dd>(.*?)</dd>", page, re.S)
    return found.group(1) if found else ""


def test_a_refused_answer_is_counted_apart_from_the_providers_failures(admin_client, connection, accounts):
    # a wrong captcha answer leaves its account waiting for a new one: it is not the provider
    # failing, and it read "Failed, last 24 h: 1" beside a healthy connection
    now = timezone.now()
    for kind, code in ((OperationKind.ANSWER_CAPTCHA, "captcha_failed"), (OperationKind.PROVISION, "configuration")):
        Operation.objects.create(kind=kind, status=OperationStatus.FAILED, connection=connection, requested_by="t",
                                 error_code=code, finished_at=now - timedelta(hours=1))
    page = admin_client.get(INDEX).content.decode()
    failed, refused = card_row(page, "Failed, last 24 h"), card_row(page, "Answers refused, last 24 h")
    assert "error_code=configuration" in failed and "captcha_failed" not in failed
    assert "kind__exact=answer_captcha&amp;error_code=captcha_failed" in refused
    assert "That answer was wrong" in refused and "wait for a new answer" in refused
    # the count leads to those operations, the list's error filter showing which
    link = re.search(r'href="([^"]*captcha_failed)"', refused).group(1).replace("&amp;", "&")
    listing = admin_client.get(link).content.decode()
    assert len(re.findall(r'<td class="action-checkbox">', listing)) == 1
    assert re.search(r'<li class="selected">\s*<a href="[^"]*">The captcha answer was wrong</a>', listing)


def test_a_card_without_refused_answers_has_no_such_row(admin_client, connection, accounts):
    Operation.objects.create(kind=OperationKind.PROVISION, status=OperationStatus.FAILED, connection=connection,
                             requested_by="t", error_code="configuration", finished_at=timezone.now())
    page = admin_client.get(INDEX).content.decode()
    assert "Answers refused" not in page and "error_code=configuration" in card_row(page, "Failed, last 24 h")


def test_a_cards_header_names_the_provider_once(admin_client, connection):
    # "Flyve MDM demo (GLPI) sandbox Flyve MDM demo (GLPI)": make run names its connections after
    # their provider, and the card added the provider's name again
    label = connection.provider_label
    Connection.objects.create(provider=connection.provider, name="Day shift", base_url="http://s.test", credentials={})
    page = admin_client.get(INDEX).content.decode()
    headers = [" ".join(re.sub(r"<[^>]+>", "", h).split())
               for h in re.findall(r'class="module provisioning-card">\s*<h2>(.*?)</h2>', page, re.S)]
    assert sorted(headers) == sorted([f"Day shift {label}", connection.name])
    assert label.casefold() in connection.name.casefold()  # "Everything sandbox": the name says it


def test_a_connection_is_named_with_its_provider_once_wherever_a_list_names_both(admin_client, connection, make_account):
    # the accounts list said "Flyve MDM demo (GLPI) sandbox (Flyve MDM demo (GLPI))" (and the
    # request pages and the quarantine emails did too)
    label = connection.provider_label
    day = Connection.objects.create(provider=connection.provider, name="Day shift", base_url="http://s.test", credentials={})
    assert (connection.name_with_provider, day.name_with_provider) == (connection.name, f"Day shift ({label})")
    make_account(AccountStatus.ACTIVE)
    page = admin_client.get(reverse("admin:provisioning_account_changelist")).content.decode()
    assert f"{connection.name} (" not in page and connection.name in page


@pytest.mark.parametrize(("seconds", "words"), [(10, "checked just now"), (300, "checked 5\xa0minutes ago")])
def test_a_cards_health_says_when_it_was_checked(admin_client, connection, seconds, words):
    # a check of a few seconds ago read "checked 0 minutes ago"
    Connection.objects.filter(pk=connection.pk).update(health_status="ok",
                                                       health_checked_at=timezone.now() - timedelta(seconds=seconds))
    cache.clear()
    assert words in card_row(admin_client.get(INDEX).content.decode(), "Health")
