"""The API's token authentication: DRF's, by the key's digest (``tokens.py``)."""

from rest_framework.authentication import TokenAuthentication

from .tokens import digest


class DigestTokenAuthentication(TokenAuthentication):
    """DRF's ``Authorization: Token <key>``, looked up by the key's digest."""

    def authenticate_credentials(self, key):
        return super().authenticate_credentials(digest(key))
