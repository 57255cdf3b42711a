from .accounts import AccountViewSet
from .batches import BatchViewSet
from .connections import ConnectionViewSet
from .members import MemberViewSet
from .operations import OperationViewSet
from .providers import ProviderViewSet
from .webhooks import WebhookEndpointViewSet

__all__ = ["AccountViewSet", "BatchViewSet", "ConnectionViewSet", "MemberViewSet", "OperationViewSet", "ProviderViewSet",
           "WebhookEndpointViewSet"]
