"""The API's own 404 for a path under ``/api/`` that no route serves."""

from django.http import JsonResponse
from rest_framework.exceptions import NotFound


def json_not_found(get_response):
    """Under ``/api/``, a 404 that is not the API's (a path no route serves, a mistyped action:
    ``/reset_password/`` for ``/reset-password/``) becomes ``{"detail", "code"}`` like every other
    API error, instead of Django's HTML page, or its debug page with ``DEBUG`` on (``make run``),
    where Django skips ``handler404``. Placed after ``CommonMiddleware``, which may still redirect
    a path missing its final slash."""

    def middleware(request):
        response = get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return JsonResponse({"detail": str(NotFound.default_detail), "code": NotFound.default_code}, status=404)
        return response

    return middleware
