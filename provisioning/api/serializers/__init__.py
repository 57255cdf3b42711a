"""Serializers of the API, one module per resource."""

from .accounts import AccountCreatedSerializer, AccountCreateSerializer, AccountSerializer
from .batches import BatchCreatedSerializer, BatchCreateSerializer, BatchDetailSerializer, BatchSerializer
from .connections import ConnectionSerializer, QuarantineSerializer
from .declared import ProviderSerializer, input_serializer_for
from .errors import ErrorSerializer
from .members import MemberSerializer
from .operations import OperationSerializer

__all__ = [
    "AccountCreateSerializer",
    "AccountCreatedSerializer",
    "AccountSerializer",
    "BatchCreatedSerializer",
    "BatchCreateSerializer",
    "BatchDetailSerializer",
    "BatchSerializer",
    "ConnectionSerializer",
    "ErrorSerializer",
    "ProviderSerializer",
    "MemberSerializer",
    "OperationSerializer",
    "QuarantineSerializer",
    "input_serializer_for",
]
