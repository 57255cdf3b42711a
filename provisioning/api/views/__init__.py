from .accounts import AccountViewSet
from .batches import BatchViewSet
from .connections import ConnectionViewSet
from .members import MemberViewSet
from .operations import OperationViewSet

__all__ = ["AccountViewSet", "BatchViewSet", "ConnectionViewSet", "MemberViewSet", "OperationViewSet"]
