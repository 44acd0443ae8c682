"""Ray in the console: the app's RayView when [ray] names a head, its poll of the head for the
fleet table's Ray column (every RAY_EVERY seconds, never overlapping), and the message that
brings each reading to the app. The node and jobs screens ask app.ray themselves."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from console.text import safe_line

RAY_EVERY = 3.0


@dataclass
class RaySeen(Message):
    """A reading of the Ray head for the fleet table (a console.ray.view.RayFleet)."""
    fleet: Any


def start_ray(app) -> None:
    """Watch the Ray cluster of [ray] (nothing without a head)."""
    ray = getattr(getattr(app, "config", None), "ray", None)
    if ray is None or not ray.head:
        return
    from console.ray.view import RayView
    try:
        app.ray = RayView.from_config(app.config)
    except Exception as exc:  # a head that is not a configured node: one notice, no Ray
        app.notify(safe_line(f"Ray: {exc}"), severity="error", markup=False)
        return
    app.set_interval(RAY_EVERY, lambda: poll_ray(app))
    poll_ray(app)


def poll_ray(app) -> None:
    if not app.ray_busy:
        app.ray_busy = True
        app.run_worker(_read(app), group="ray-fleet", exit_on_error=False)


async def _read(app) -> None:
    try:
        fleet = await app.ray.fleet()
    finally:
        app.ray_busy = False
    app.post_message(RaySeen(fleet))


def ray_seen(app, msg: RaySeen) -> None:
    """The app keeps the reading (screens draw from it); a new problem is one notice."""
    old = app.ray_fleet.error if app.ray_fleet is not None else ""
    app.ray_fleet = msg.fleet
    if msg.fleet.error and msg.fleet.error != old:
        app.notify(safe_line(msg.fleet.error), title="ray", severity="warning", markup=False)
    app.refresh_screen()


async def close_ray(app) -> None:
    if app.ray is not None:
        view, app.ray = app.ray, None
        await view.close()
