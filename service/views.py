"""The JSON views of a routing table: GET /v1/scenarios (the live routes) and GET /v1/models (every known variant).

Both are built from one `RoutingTable`, read once, so a view never mixes two tables around a reload; their shapes
are the response models of `service.schemas`, which the OpenAPI document publishes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service import schemas
from service.model_store import ModelStore, StoredVariant, UnreadableVariant
from service.registry import ENDPOINTS, RoutingTable, VariantState, VariantStatus
from service.routing import ScenarioSelection

logger = logging.getLogger(__name__)

STORE_ERROR = "the model store could not be listed; see the server log"


def utc_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def scenarios_view(table: RoutingTable, selection_path: Path) -> schemas.ScenariosTable:
    """Per task and scenario: the selected variant, its fallbacks, and the one that serves now."""
    available = table.available()
    tasks = {
        task_name: schemas.TaskRoutes(
            kind=task.kind,
            endpoint=ENDPOINTS[task.kind],
            default_scenario=task.default_scenario,
            scenarios={
                name: scenario_route(table, chosen, table.serving(task_name, name, available), available)
                for name, chosen in task.scenarios.items()
            },
        )
        for task_name, task in table.selection.tasks.items()
    }
    selection = table.selection
    return schemas.ScenariosTable(
        selection={
            "path": str(selection_path),
            "version": selection.version,
            "generated_by": selection.generated_by,
            "generated_at": selection.generated_at,
        },
        tasks=tasks,
    )


def scenario_route(
    table: RoutingTable, chosen: ScenarioSelection, serving: str | None, available: set[str]
) -> schemas.ScenarioRoute:
    return schemas.ScenarioRoute(
        variant=chosen.variant,
        fallbacks=list(chosen.fallbacks),
        serving=serving,
        fallback=serving is not None and serving != chosen.variant,
        constraints=chosen.constraints,
        objective=chosen.objective,
        evidence=chosen.evidence,
        variants=[
            schemas.RouteVariant(
                name=variant,
                role="selected" if variant == chosen.variant else "fallback",
                status=table.states[variant].status,
                loaded=variant in available,
            )
            for variant in chosen.chain
        ],
    )


def models_view(table: RoutingTable, store: ModelStore) -> schemas.ModelsTable:
    """Every variant known: the load set and routed ones (with their state), then the rest of the store. Blocking
    (it lists the store): run it in a thread."""
    try:
        stored = {variant.name: variant for variant in store.list()}
        store_error = None
    except Exception as exc:
        logger.error("cannot list the model store: %s", exc)
        stored, store_error = {}, STORE_ERROR
    names = [*table.states, *sorted(name for name in stored if name not in table.states)]
    return schemas.ModelsTable(
        ready=table.ready,
        unserved_routes=table.dead_routes(),  # routes with no loaded variant: they answer 503
        store_error=store_error,
        variants=[variant_row(table, name, table.states.get(name), stored.get(name)) for name in names],
    )


def variant_row(
    table: RoutingTable, name: str, state: VariantState | None, record: StoredVariant | UnreadableVariant | None
) -> schemas.VariantState:
    """One variant of /v1/models; `state` None: in the store, routed nowhere; `record` None: not in the store."""
    unreadable = record.reason if isinstance(record, UnreadableVariant) else None
    return schemas.VariantState(
        name=name,
        status=state.status if state else VariantStatus.NOT_ROUTED,
        reason=state.reason if state else unreadable,
        routes=table.selection.routes_using(name),
        version=(state.version if state and state.version else None) or (record.version if record else None),
        load_seconds=round(state.load_seconds, 3) if state and state.load_seconds else None,
        attempts=state.attempts if state else None,
        next_retry_at=utc_time(state.retry_at)
        if state and state.status == VariantStatus.FAILED and state.retry_at is not None
        else None,
        metadata=metadata_json(state, record),
    )


def metadata_json(
    state: VariantState | None, record: StoredVariant | UnreadableVariant | None
) -> dict[str, Any] | None:
    """The variant's metadata as the store holds it (None values left out, unknown keys kept), from its last
    description, else from the store listing; None when neither has metadata that matches the contract."""
    metadata = state.metadata if state else None
    if metadata is None and isinstance(record, StoredVariant):
        metadata = record.metadata
    return None if metadata is None else metadata.model_dump(mode="json", exclude_none=True)
