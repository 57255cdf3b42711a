"""Services: every write the interfaces (admin, API, schedules) and workers perform.

Plain functions with keyword-only arguments, named ``<thing>_<verb>``.
"""

from .accounts import (
    account_create,
    account_secrets_read,
    member_delete,
    member_delete_refusal,
    members_note_accounts,
)
from .batches import batch_create, batch_retry_failed, batch_start
from .connections import (
    CONNECTION_FIELDS,
    connection_changes_check,
    connection_create,
    connection_credentials_merge,
    connection_delete,
    connection_delete_refusal,
    connection_settings_merge,
    connection_update,
)
from .counts import counts_current, counts_refresh
from .errors import Conflict, InvalidRequest, ServiceError
from .execution import account_set_status, operation_claim, operation_execute, operations_claim, operations_execute
from .maintenance import (
    connections_health_check,
    connections_reconcile,
    operations_sweep,
    records_clean_up,
)
from .guards import mass_deletion_reason, mass_deletion_threshold
from .notifications import staff_notify
from .inbound import accounts_finish_pending_deletions, inbound_webhook_receive
from .webhooks import (
    webhook_deliveries_sweep,
    webhook_delivery_redeliver,
    webhook_delivery_send,
    webhook_endpoint_create,
    webhook_endpoint_update,
    webhook_owner_notify,
)
from .operations import (
    CANCELLABLE_STATUSES,
    SCHEDULE,
    Requester,
    operation_cancel,
    operation_confirm,
    operation_dispatch,
    operation_refusal,
    operation_request,
    operations_dispatch,
    operations_offered,
    operation_retry,
    operation_retry_now,
)
from .quarantine import (
    connection_probe,
    connection_quarantine,
    connection_quarantine_lift,
    connections_probe_due,
)

__all__ = [
    "counts_current",
    "counts_refresh",
    "CANCELLABLE_STATUSES",
    "CONNECTION_FIELDS",
    "SCHEDULE",
    "Conflict",
    "InvalidRequest",
    "Requester",
    "ServiceError",
    "account_create",
    "account_secrets_read",
    "account_set_status",
    "batch_create",
    "batch_retry_failed",
    "batch_start",
    "connection_changes_check",
    "connection_create",
    "connection_probe",
    "connection_quarantine",
    "connection_quarantine_lift",
    "connections_probe_due",
    "connection_credentials_merge",
    "connection_delete",
    "connection_delete_refusal",
    "connection_settings_merge",
    "connection_update",
    "connections_health_check",
    "connections_reconcile",
    "mass_deletion_reason",
    "mass_deletion_threshold",
    "member_delete",
    "member_delete_refusal",
    "members_note_accounts",
    "operation_cancel",
    "operation_confirm",
    "operation_claim",
    "operations_claim",
    "operation_dispatch",
    "operation_execute",
    "operations_execute",
    "operation_refusal",
    "operations_offered",
    "operation_request",
    "operation_retry",
    "operation_retry_now",
    "operations_dispatch",
    "operations_sweep",
    "records_clean_up",
    "staff_notify",
    "accounts_finish_pending_deletions",
    "inbound_webhook_receive",
    "webhook_deliveries_sweep",
    "webhook_delivery_redeliver",
    "webhook_delivery_send",
    "webhook_endpoint_create",
    "webhook_endpoint_update",
    "webhook_owner_notify",
]
