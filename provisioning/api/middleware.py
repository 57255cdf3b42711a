"""The API's own 404 for a path under ``/api/`` that no route serves."""

import re

from django.http import JsonResponse
from rest_framework.exceptions import NotFound

DOCS = "Every path and what it does: /api/docs/."
# what the router serves under a resource: /api/v1/<prefix>/<id>/<the rest>
_UNDER_A_RESOURCE = re.compile(r"^/api/v1/(?P<prefix>[^/]+)/(?P<pk>[^/]+)/(?P<rest>.+)$")
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")  # an action's "(?P<delivery>[^/]+)" written "{delivery}"
_DETAIL_METHODS = (("retrieve", "GET"), ("update", "PUT"), ("partial_update", "PATCH"), ("destroy", "DELETE"))


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
            return JsonResponse({"detail": not_found_words(request.path), "code": NotFound.default_code}, status=404)
        return response

    return middleware


def not_found_words(path: str) -> str:
    """What is there instead of ``path``: under a resource, its methods and actions ("At
    /api/v1/accounts/5/: GET, DELETE; POST sync/, …"), for a mistyped or guessed action;
    otherwise the resources. The router says, so the words follow the routes."""
    from .urls import router

    path = path if len(path) <= 200 else f"{path[:200]}…"
    viewsets = {prefix: viewset for prefix, viewset, _ in router.registry}
    under = _UNDER_A_RESOURCE.match(path)
    if under and under["prefix"] in viewsets:
        viewset = viewsets[under["prefix"]]
        here = f"/api/v1/{under['prefix']}/{under['pk']}/"
        methods = [method for name, method in _DETAIL_METHODS if hasattr(viewset, name)]
        actions = [
            f"{method.upper()} {_GROUP.sub(lambda group: '{' + group[1] + '}', action.url_path)}/"
            for action in sorted(viewset.get_extra_actions(), key=lambda action: action.url_path)
            if action.detail for method in action.mapping
        ]
        offered = ", ".join(methods) + (f"; {', '.join(actions)}" if actions else "")
        return f"Nothing is at {path}. At {here}: {offered}. {DOCS}"
    resources = ", ".join(f"/api/v1/{prefix}/" for prefix in viewsets)
    return f"Nothing is at {path}. The API's resources: {resources}. {DOCS}"
