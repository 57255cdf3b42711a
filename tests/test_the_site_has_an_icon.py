"""Browsers ask every site for /favicon.ico: it was a 404 in every admin page's console."""

from django.contrib.staticfiles import finders


def test_favicon_leads_to_the_portals_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("/provisioning/favicon.ico")
    found = finders.find("provisioning/favicon.ico")
    with open(found, "rb") as icon:
        assert icon.read(4) == b"\x00\x00\x01\x00"  # an ICO file
