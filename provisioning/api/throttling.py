from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


class ApiRateThrottle(UserRateThrottle):
    """Requests per user (or per IP when anonymous) across the API.

    The rate is ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api"]`` when set (``None`` turns
    throttling off), else ``DEFAULT_RATE``. Counts live in the default cache: share it between
    web processes (``CACHE_URL``) for one global limit.
    """

    scope = "api"
    DEFAULT_RATE = "1200/minute"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope, self.DEFAULT_RATE)
