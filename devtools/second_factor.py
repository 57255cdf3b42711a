"""Signing a test or benchmark client in past the second factor (provisioning/second_factor.py),
as a person who typed the right code is: used by the tests and by ``make bench``."""

from __future__ import annotations

import time


def totp_device(user):
    """``user``'s confirmed authenticator app (made once)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def pass_second_factor(client, user):
    """A signed-in Django test client's session marked as having passed the second factor, as
    ``second_factor.mark_verified`` does after a right code (a TOTP device is made if needed)."""
    from django_otp import DEVICE_ID_SESSION_KEY

    from provisioning.second_factor import VERIFIED_AT_SESSION_KEY

    session = client.session
    session[DEVICE_ID_SESSION_KEY] = totp_device(user).persistent_id
    session[VERIFIED_AT_SESSION_KEY] = time.time()
    session.save()
    return client
