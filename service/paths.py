"""Where the API lives: the mount of the /v1 app and the classify routes, named once for the app, the fast path
and the tracing exclusions."""

from __future__ import annotations

API_MOUNT = "/v1"
TEXT_CLASSIFY_ROUTE = "/text/classify"
IMAGE_CLASSIFY_ROUTE = "/image/classify"
CLASSIFY_PATHS = (API_MOUNT + TEXT_CLASSIFY_ROUTE, API_MOUNT + IMAGE_CLASSIFY_ROUTE)
