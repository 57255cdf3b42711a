"""A staff member imports a CSV of members in headless Chromium: the preview shows the bad row's
errors, nothing is saved; the member form shows the expected formats before any error."""

from pathlib import Path

from playwright.sync_api import expect

from provisioning.models import Member
from tests.conftest import browser_sign_in

RESULTS = Path(__file__).resolve().parents[2] / "test-results"
CSV = (
    "external_ref,email,first_name,last_name,phone,country\n"
    "CRM-1,ada@example.org,Ada,Lovelace,+447700900123,GB\n"
    "CRM-2,not-an-email,Bad,Row,0612345678,XX\n"
    "CRM-3,grace@example.org,Grace,Hopper,,US\n"
)


def test_csv_import_shows_the_bad_row_before_saving(page, live_server, admin_user, tmp_path):
    RESULTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    browser_sign_in(page, live_server.url, admin_user, "password")

    page.goto(f"{live_server.url}/admin/provisioning/member/add/")
    expect(page.locator("#id_phone_helptext")).to_contain_text("E.164")
    expect(page.locator("#id_country_helptext")).to_contain_text("ISO 3166-1 alpha-2")
    page.screenshot(path=str(RESULTS / "member-form-formats.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/provisioning/member/")
    page.click("a.import_link")
    expect(page.locator(".provisioning-import-help")).to_contain_text("E.164")
    members_csv = tmp_path / "members.csv"
    members_csv.write_text(CSV)
    page.set_input_files("#id_import_file", str(members_csv))
    page.select_option("#id_format", label="csv")
    page.click("input[type=submit]")

    # the bad row and its three errors are shown (not only on hover), and nothing can be confirmed
    errors = page.locator(".validation-error-container")
    expect(errors).to_have_count(1)
    expect(errors).to_have_css("opacity", "1")
    expect(errors).to_contain_text("Enter a valid email address.")
    expect(errors).to_contain_text("Enter the phone number in E.164 form")
    expect(errors).to_contain_text("ISO 3166-1 alpha-2")
    expect(page.locator("input[value='Confirm import']")).to_have_count(0)
    page.screenshot(path=str(RESULTS / "member-import-preview-bad-row.png"), full_page=True)
    assert not Member.objects.exists()
