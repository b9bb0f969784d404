"""Where the API lives: the mount of the /v1 app and the classify routes, named once for the app, the fast path
and the tracing exclusions."""

from __future__ import annotations

API_MOUNT = "/v1"
TEXT_CLASSIFY_ROUTE = "/text/classify"
IMAGE_CLASSIFY_ROUTE = "/image/classify"
CLASSIFY_ROUTES = (TEXT_CLASSIFY_ROUTE, IMAGE_CLASSIFY_ROUTE)  # inside the mounted app
CLASSIFY_PATHS = tuple(API_MOUNT + route for route in CLASSIFY_ROUTES)  # as clients request them
