"""Celery tasks: thin wrappers named like the services they call.

The database is the source of truth: a task carries only an id, and a lost or duplicated
message is harmless (the sweeper re-sends, claiming is atomic).
"""

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def operation_execute(operation_id: int) -> None:
    services.operation_execute(operation_id=operation_id)


@shared_task(ignore_result=True)
def operations_execute(operation_ids: list[int]) -> None:
    services.operations_execute(operation_ids=operation_ids)


@shared_task(ignore_result=True)
def operations_dispatch(operation_ids: list[int]) -> None:
    services.operations_dispatch(operation_ids=operation_ids)


@shared_task(ignore_result=True)
def operations_sweep() -> int:
    return services.operations_sweep()


@shared_task(ignore_result=True)
def connections_health_check() -> int:
    return services.connections_health_check()


@shared_task(ignore_result=True)
def connections_reconcile() -> int:
    return services.connections_reconcile()


@shared_task(ignore_result=True)
def records_clean_up() -> dict:
    return services.records_clean_up()


@shared_task(ignore_result=True)
def counts_refresh() -> None:
    services.counts_refresh()


@shared_task(ignore_result=True)
def connection_probe(connection_id: int) -> None:
    services.connection_probe(connection_id=connection_id)


@shared_task(ignore_result=True)
def staff_notify(subject: str, body: str) -> int:
    return services.staff_notify(subject=subject, body=body)


@shared_task(ignore_result=True)
def webhook_delivery_send(delivery_id: int) -> None:
    services.webhook_delivery_send(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def webhook_deliveries_sweep() -> int:
    return services.webhook_deliveries_sweep()


@shared_task(ignore_result=True)
def webhook_owner_notify(email: str, subject: str, body: str) -> None:
    services.webhook_owner_notify(email=email, subject=subject, body=body)


@shared_task(ignore_result=True)
def accounts_finish_pending_deletions() -> int:
    return services.accounts_finish_pending_deletions()
