"""The hourly clean-up: old exchange records, and old webhooks in and out, go; what still waits
to be sent stays, whatever its age."""

from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from provisioning import services
from provisioning.models import InboundWebhook, WebhookDelivery, WebhookEndpoint, WebhookEvent


def event_to(endpoints, *, days_old: float, status: str) -> WebhookEvent:
    event = WebhookEvent.objects.create(type="operation.finished", payload={},
                                        created_at=timezone.now() - timedelta(days=days_old))
    for endpoint in endpoints:
        WebhookDelivery.objects.create(event=event, endpoint=endpoint, status=status)
    return event


def test_old_webhooks_go_but_not_one_still_to_be_sent(connection, settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "WEBHOOK_RETENTION_DAYS": 30}
    owner = User.objects.create_user("owner")
    endpoints = [WebhookEndpoint.objects.create(owner=owner, url=f"https://hooks.example.org/{n}",
                                                secret={"secret": "whsec_x"}, events=["operation.finished"])
                 for n in range(2)]
    old_sent = event_to(endpoints, days_old=31, status="delivered")
    old_given_up = event_to(endpoints[:1], days_old=31, status="failed")
    # an endpoint disabled for weeks: what waits for it is sent once it is enabled again
    old_waiting = event_to(endpoints[1:], days_old=31, status="pending")
    recent = event_to(endpoints, days_old=29, status="delivered")
    for days_old in (31, 29):
        InboundWebhook.objects.create(connection=connection, webhook_id=f"w{days_old}", accepted=True,
                                      status_code=200)
        InboundWebhook.objects.filter(webhook_id=f"w{days_old}").update(
            created_at=timezone.now() - timedelta(days=days_old))

    done = services.records_clean_up()

    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {old_waiting.pk, recent.pk}
    assert not WebhookEvent.objects.filter(pk__in=[old_sent.pk, old_given_up.pk]).exists()
    assert WebhookDelivery.objects.count() == 3  # the waiting one, and the recent event's two
    assert list(InboundWebhook.objects.values_list("webhook_id", flat=True)) == ["w29"]
    assert (done["webhook_events"], done["webhook_deliveries"], done["inbound_webhooks"]) == (2, 3, 1)
