"""A pydantic error's location as the path a person reads: `tasks.sentiment.candidates[0].source`, `images[2]`.

The one formatter of error locations: request validation (`service.inputs`), the selection file
(`service.routing`), the service's settings (`service.config`) and the offline YAML files (`models.catalog`,
`models.scenarios`) all name the offending key this way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

# pydantic puts a tag like `function-after[check(), int]` in the location of an error raised inside a
# validator of a union member; it names code, not a key of the document
VALIDATOR_TAG = re.compile(r"^function-(?:after|before|wrap|plain)\[")


def field_path(loc: Sequence[int | str], render: Callable[[str], str] = str) -> str:
    """Keys joined with dots, list indexes in brackets; "" for the top level. `render` shows each key (the
    service passes its `echo`, since a key of a request body is the client's text)."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not VALIDATOR_TAG.match(part):
            key = render(part)
            path += f".{key}" if path else key
    return path
