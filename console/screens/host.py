"""What the views ask of the app (console.app.RoostApp), typed, so no screen imports the app.

The app hands itself to each view it builds (`FleetScreen(state, self)`), so mypy checks at that
call that RoostApp has what a view reaches for; Textual's `self.app` is only an `App[Any]`.
Members a view only reads are properties, so the app may hold a narrower type.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from console.config import Config
    from console.ray.view import RayFleet, RayView


class Host(Protocol):
    """The fleet, heatmap and events views: the console's clock, and where a node leads."""
    @property
    def clock(self) -> Callable[[], float]: ...
    def open_node(self, node: str) -> None: ...
    def open_shell(self, node: str) -> None: ...


class FleetHost(Host, Protocol):
    """The fleet view also shows the Ray head's reading of each node."""
    @property
    def ray_fleet(self) -> RayFleet | None: ...


class NodeHost(Host, Protocol):
    """The node view also reads the Ray head, the fleet's source (for range-query history) and
    the config (where the history database is)."""
    @property
    def ray(self) -> RayView | None: ...
    @property
    def source(self) -> object: ...
    @property
    def refresh_interval(self) -> float: ...
    @property
    def config(self) -> Config | None: ...


@runtime_checkable
class HistorySource(Protocol):
    """A fleet source that keeps history itself (collectors.promsource.PromSource)."""
    async def history(self, node: str, seconds: float, points: int = ...
                      ) -> tuple[list[float], dict[str, list[float | None]]]: ...
