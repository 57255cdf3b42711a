"""Serializers of the API, one module per resource."""

from .accounts import AccountCreatedSerializer, AccountCreateSerializer, AccountSerializer
from .actions import (
    CaptchaAnswerInputSerializer,
    ProviderOptionsSerializer,
    ValidateInputSerializer,
    VerifyInputSerializer,
)
from .batches import BatchCreateSerializer, BatchSerializer
from .connections import ConnectionSerializer
from .errors import ErrorSerializer
from .members import MemberSerializer
from .operations import OperationSerializer

__all__ = [
    "AccountCreateSerializer",
    "AccountCreatedSerializer",
    "AccountSerializer",
    "BatchCreateSerializer",
    "BatchSerializer",
    "CaptchaAnswerInputSerializer",
    "ConnectionSerializer",
    "ErrorSerializer",
    "ProviderOptionsSerializer",
    "MemberSerializer",
    "OperationSerializer",
    "ValidateInputSerializer",
    "VerifyInputSerializer",
]
