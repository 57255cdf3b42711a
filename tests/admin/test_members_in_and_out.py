"""Members in and out: a CSV or XLSX import previewed with each row's errors before anything is
saved; exports of members, accounts and operations without a secret; their permissions."""

import csv
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from provisioning.models import Account, Member, Operation

IMPORT = reverse("admin:provisioning_member_import")
PROCESS = reverse("admin:provisioning_member_process_import")

GOOD_AND_BAD = (
    "external_ref,email,first_name,last_name,phone,country\n"
    "CRM-1,ada@example.org,Ada,Lovelace,+447700900123,GB\n"
    "CRM-2,not-an-email,Bad,Row,0612345678,XX\n"
    "CRM-3,grace@example.org,Grace,Hopper,,US\n"
)
GOOD = "\n".join(line for line in GOOD_AND_BAD.splitlines() if "CRM-2" not in line) + "\n"


def upload(client, text, name="members.csv", fmt="0"):
    return client.post(IMPORT, {"resource": "0", "format": fmt, "import_file": SimpleUploadedFile(name, text.encode())})


def confirm(client, preview):
    form = preview.context["confirm_form"]
    return client.post(PROCESS, {**form.initial})


def test_a_bad_row_is_shown_with_its_errors_and_nothing_is_saved(admin_client, db):
    preview = upload(admin_client, GOOD_AND_BAD)
    assert preview.status_code == 200
    html = preview.content.decode()
    result = preview.context["result"]
    assert result.has_validation_errors()
    invalid = result.invalid_rows
    # numbered as in the file, whose first line names the columns: CRM-2 is on its third
    assert len(invalid) == 1 and invalid[0].number == 3
    assert set(invalid[0].error_dict) == {"email", "phone", "country"}
    assert "Enter a valid email address." in html
    assert "E.164" in html and "ISO 3166-1 alpha-2" in html
    assert preview.context.get("confirm_form") is None  # a file with errors cannot be confirmed
    assert not Member.objects.exists()


def test_a_good_file_is_previewed_then_saved_once_confirmed_and_a_second_import_updates(admin_client, db):
    preview = upload(admin_client, GOOD)
    assert not preview.context["result"].has_errors() and not preview.context["result"].has_validation_errors()
    assert not Member.objects.exists()  # the preview saved nothing
    done = confirm(admin_client, preview)
    assert done.status_code == 302
    assert sorted(Member.objects.values_list("external_ref", "email", "phone", "country")) == [
        ("CRM-1", "ada@example.org", "+447700900123", "GB"),
        ("CRM-3", "grace@example.org", "", "US"),
    ]
    again = upload(admin_client, GOOD.replace("Grace,Hopper", "Grace,Brewster Hopper"))
    confirm(admin_client, again)
    assert Member.objects.count() == 2  # external_ref is the import id: updated, not duplicated
    assert Member.objects.get(external_ref="CRM-3").last_name == "Brewster Hopper"


def test_a_row_without_external_ref_or_with_a_lower_case_country_is_an_error(admin_client, db):
    text = "external_ref,email,first_name,last_name,phone,country\n,a@example.org,A,B,,SG\nR-9,b@example.org,B,C,,sg\n"
    preview = upload(admin_client, text)
    invalid = {row.number: set(row.error_dict) for row in preview.context["result"].invalid_rows}
    assert invalid == {2: {"external_ref"}, 3: {"country"}}
    assert not Member.objects.exists()


def test_two_rows_of_one_external_ref_are_both_errors(admin_client, db):
    # the second row of a reference was previewed as an "Update" of the first, which it overwrote
    text = GOOD + "crm-1 ,ada.l@example.org,Ada,King,,GB\n"  # CRM-1 is not crm-1; a space is stripped
    assert not upload(admin_client, text).context["result"].has_validation_errors()
    text = GOOD + " CRM-1,ada.l@example.org,Ada,King,,GB\n"
    preview = upload(admin_client, text)
    invalid = {row.number: row.error_dict["external_ref"] for row in preview.context["result"].invalid_rows}
    assert invalid == {
        2: ["CRM-1 is also on row 4: one row per member, or the last one would overwrite the others. "
            "Keep the right row, then import the file again."],
        4: ["CRM-1 is also on row 2: one row per member, or the last one would overwrite the others. "
            "Keep the right row, then import the file again."],
    }
    assert preview.context.get("confirm_form") is None and not Member.objects.exists()


def test_the_members_a_file_names_are_read_at_once_and_found_despite_spaces(admin_client, db):
    # a query a row to find each member, and another to check its reference unique: 10,000 rows
    # took 26 s to preview (with the country's check, which walked its 250 choices for each)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Member.objects.bulk_create(Member(external_ref=f"R-{i}", email=f"m{i}@example.org") for i in range(20))
    rows = "".join(f"{' ' if i % 2 else ''}R-{i} ,m{i}@example.org,New,Name{i},,SG\n" for i in range(30))
    with CaptureQueriesContext(connection) as queries:
        preview = upload(admin_client, "external_ref,email,first_name,last_name,phone,country\n" + rows)
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert result.totals["update"] == 20 and result.totals["new"] == 10  # " R-1 " is R-1
    reads = [q["sql"] for q in queries.captured_queries
             if q["sql"].startswith("SELECT") and 'FROM "provisioning_member"' in q["sql"]]
    assert len(reads) == 1, reads


def test_the_preview_says_what_the_file_does_and_shows_its_first_rows(admin_client, db, monkeypatch):
    # 10,000 rows made a page of 5 MB, with no sentence of what confirming would do
    from provisioning.admin.members import MemberAdmin

    Member.objects.create(external_ref="CRM-3", email="grace@example.org", first_name="Grace", last_name="Hopper",
                          country="US")
    monkeypatch.setattr(MemberAdmin, "import_preview_rows", 1)
    html = " ".join(upload(admin_client, GOOD + "CRM-4,alan@example.org,Alan,Turing,,GB\n").content.decode().split())
    assert "Confirming adds 2 members and changes 0. 1 is already as the file says." in html
    assert "The first 1 of the 2 rows that change are shown." in html
    table = html.split('<table class="import-preview">', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr class=") == 1 and "ada@example.org" in table and "alan@example.org" not in table


def test_the_preview_shows_the_rows_that_change_before_those_that_do_not(admin_client, db, monkeypatch):
    # the first 200 rows of a file of unchanged members hid the changes further down
    from provisioning.admin.members import MemberAdmin

    Member.objects.bulk_create(Member(external_ref=f"R-{i}", email=f"m{i}@example.org") for i in range(4))
    monkeypatch.setattr(MemberAdmin, "import_preview_rows", 3)
    rows = "".join(f"R-{i},m{i}@example.org,,,,\n" for i in range(4)) + "R-9,new@example.org,,,,\n"
    html = " ".join(upload(admin_client, "external_ref,email,first_name,last_name,phone,country\n" + rows)
                    .content.decode().split())
    assert "The row that changes is shown first, then 2 of the 4 unchanged." in html
    table = html.split('<table class="import-preview">', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr class=") == 3 and table.index("new@example.org") < table.index("m0@example.org")
    assert "m2@example.org" not in table


def test_a_file_without_the_external_ref_column_is_refused_in_a_sentence(admin_client, db):
    preview = upload(admin_client, "email,first_name,last_name\na@example.org,A,B\n")
    html = preview.content.decode()
    assert "The file has no external_ref column." in html and "Add the column, then import the file again." in html
    # not the library's words for it, nor a Python traceback under them, nor each row's failure after it
    assert "import_id_fields" not in html and "Traceback" not in html and "Line number" not in html
    assert preview.context.get("confirm_form") is None and not Member.objects.exists()


def test_a_file_bigger_than_an_import_takes_is_refused_in_a_sentence(admin_client, db, monkeypatch):
    """Every row is checked and saved inside the request: a file of 20,000 members ran past the web
    server's timeout and failed as a server error, nothing saved and nothing said."""
    from provisioning.admin import resources

    assert "At most 5,000 rows a file: split a bigger one." in admin_client.get(IMPORT).content.decode()
    monkeypatch.setattr(resources, "IMPORT_MAX_ROWS", 1)
    preview = upload(admin_client, GOOD)
    html = preview.content.decode()
    assert "The file has 2 rows, more than the 1 one import takes" in html
    assert "Split it into files of at most 1 rows" in html and "Traceback" not in html
    assert "Line number" not in html  # the sentence alone: no row imported, and failing, after it
    assert preview.context.get("confirm_form") is None and not Member.objects.exists()

    monkeypatch.setattr(resources, "IMPORT_MAX_ROWS", 2)  # at the bound: previewed, then saved
    confirm(admin_client, upload(admin_client, GOOD))
    assert Member.objects.count() == 2


def test_the_preview_marks_changes_without_inline_styles(admin_client, db):
    """The Content-Security-Policy refuses inline styles: the library's ``<ins style=...>`` showed
    every value underlined, like a link, and filled the console with violations."""
    preview = upload(admin_client, GOOD)
    table = preview.content.decode().split('<table class="import-preview">', 1)[1].split("</table>", 1)[0]
    assert "<ins>ada@example.org</ins>" in table and "style=" not in table


def test_xlsx_is_imported_too(admin_client, db):
    book = openpyxl.Workbook()
    sheet = book.active
    for row in csv.reader(io.StringIO(GOOD_AND_BAD)):
        sheet.append(row)
    data = io.BytesIO()
    book.save(data)
    preview = admin_client.post(
        IMPORT,
        {"resource": "0", "format": "1", "import_file": SimpleUploadedFile("members.xlsx", data.getvalue())},
    )
    assert [row.number for row in preview.context["result"].invalid_rows] == [3]  # the sheet's row 3
    assert not Member.objects.exists()


def export(client, model, fmt="0"):
    url = reverse(f"admin:provisioning_{model}_export")
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["form"]
    chosen = {name: "on" for name in form.fields if name not in ("resource", "format", "export_items")}
    return page, client.post(url, {"resource": "0", "format": fmt, **chosen})


SECRETS = ("CONSUMER-KEY-VALUE-42", "s3cret-password", "123456", "https://login.example/secret-link")


@pytest.fixture
def with_secrets(member, connection):
    account = Account.objects.create(
        member=member, connection=connection, status="active", secrets={"password": "s3cret-password"},
        challenge_image=b"\xff\xd8captcha",
    )
    Operation.objects.create(
        kind="verify", account=account, connection=connection, requested_by="admin:test",
        secret_input={"code": "123456"}, result={"redirectURI": "https://login.example/secret-link"},
    )
    return account


@pytest.mark.parametrize("model", ["member", "account", "operation"])
def test_exports_never_hold_a_secret(admin_client, with_secrets, model):
    page, response = export(admin_client, model)
    offered = " ".join(page.context["form"].fields)
    for name in ("secrets", "secret_input", "challenge_image", "credentials", "result", "input"):
        assert f"_{name}" not in offered
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = response.content.decode()
    assert "jane@example.org" in body
    for secret in SECRETS:
        assert secret not in body
    assert "captcha" not in body


def test_accounts_export_as_xlsx(admin_client, with_secrets):
    _, response = export(admin_client, "account", fmt="1")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.values)
    assert rows[0][:3] == ("id", "member_email", "member_external_ref")
    assert "s3cret-password" not in repr(rows)


def test_import_needs_add_and_change_export_needs_view(staff_client, grant, db):
    grant("view_member")
    assert staff_client.get(IMPORT).status_code == 403
    assert staff_client.get(reverse("admin:provisioning_member_export")).status_code == 200
    grant("add_member")
    assert staff_client.get(IMPORT).status_code == 403  # an import also changes members
    grant("change_member")
    assert staff_client.get(IMPORT).status_code == 200
    assert staff_client.get(reverse("admin:provisioning_account_export")).status_code == 403
    grant("view_account")
    assert staff_client.get(reverse("admin:provisioning_account_export")).status_code == 200


def test_member_form_shows_the_expected_formats_before_any_error(admin_client, db):
    html = admin_client.get(reverse("admin:provisioning_member_add")).content.decode()
    assert "E.164, e.g. +6591234567." in html
    assert "Where the member lives. In the API and in imports: its ISO 3166-1 alpha-2 code" in html
    assert "ISO 3166-1 alpha-2 country code, upper case" not in html  # the model's words: the form lists names
    assert "errorlist" not in html


@pytest.mark.parametrize("model", ["member", "account", "operation"])
def test_an_export_bigger_than_the_bound_asks_to_narrow_the_list(admin_client, with_secrets, model, monkeypatch):
    """django-import-export builds the file inside the request: an export of millions of rows would
    run for an hour. Beyond the bound, the export page says how to narrow it, and writes nothing."""
    from provisioning.admin import paging

    monkeypatch.setattr(paging, "EXPORT_MAX_ROWS", 0)
    _, response = export(admin_client, model)

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    shown = [str(message) for message in response.context["messages"]]
    assert len(shown) == 1 and f"more than 0 {model}s, the most one file holds" in shown[0]
    assert "Narrow the list first" in shown[0] and f"/api/v1/{model}s/" in shown[0]

    monkeypatch.setattr(paging, "EXPORT_MAX_ROWS", 1)  # at the bound: exported
    assert export(admin_client, model)[1]["Content-Type"].startswith("text/csv")
