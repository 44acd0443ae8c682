"""Ray's REST API on the head, through the SSH forward (console.ray.tunnel). Every failure is a
RayError whose text is one line naming the head and what went wrong.

Endpoints (Ray 2.60): POST /api/jobs/, GET /api/jobs/[ID], POST /api/jobs/ID/stop,
GET /api/v0/logs/file, /api/v0/nodes, /api/v0/tasks[/summarize], /api/v0/actors,
/api/cluster_status. Quirks handled here: a duplicate submission id is HTTP 500 "already
exists" (RayDuplicate); a missing log file is HTTP 500 "A file is not found" (empty log).
Jobs are never DELETEd: a DELETE within ~20 ms of a job finishing turns it into
FAILED/JOB_SUPERVISOR_ACTOR_DIED.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from console.errors import RoostError
from console.ray import parse
from console.ray.parse import FuncSummary, RayActor, RayJob, RayNode, RayTask
from console.ray.tunnel import RayTunnel, TunnelError

LIST_LIMIT = 1000                     # state API rows per call (Ray's own default is 100)


class RayError(RoostError):
    """One line: what failed on the Ray head and why."""


class RayDuplicate(RayError):
    """The submission id is taken."""


class RayClient:
    def __init__(self, tunnel: RayTunnel):
        self.tunnel = tunnel

    @property
    def head(self) -> str:
        return self.tunnel.head

    async def close(self) -> None:
        await self.tunnel.close()

    async def _call(self, method: str, path: str, **kw):
        import httpx  # lazily: httpx pulls rich in when it is installed (headless CLI)
        try:
            http = await self.tunnel.http()
            answer = await http.request(method, path, **kw)
        except TunnelError as exc:
            raise RayError(str(exc)) from None
        except httpx.HTTPError as exc:
            await self.tunnel.reset()
            raise RayError(f"Ray head {self.head}: nothing answers on 127.0.0.1:"
                           f"{self.tunnel.port} there ({type(exc).__name__}{_colon(exc)}); "
                           f"is Ray up? (roost ray up)") from None
        return answer

    async def _json(self, method: str, path: str, **kw) -> Any:
        answer = await self._call(method, path, **kw)
        if answer.status_code >= 400:
            text = answer.text
            if parse.is_duplicate(answer.status_code, text):
                raise RayDuplicate(f"Ray head {self.head}: {parse.error_line(500, text)}")
            raise RayError(f"Ray head {self.head}: {method} {path.split('?')[0]}: HTTP "
                           f"{answer.status_code}: {parse.error_line(answer.status_code, text)}")
        try:
            return answer.json()
        except ValueError:
            raise RayError(f"Ray head {self.head}: {path.split('?')[0]}: not JSON: "
                           f"{parse.one_line(answer.text, 80)}") from None

    async def _state(self, path: str, parser, **params) -> Any:
        try:
            return parser(await self._json("GET", path, params=params))
        except parse.ParseError as exc:
            raise RayError(f"Ray head {self.head}: {path}: {exc}") from None

    # ---- jobs ------------------------------------------------------------------------------

    async def version(self) -> str:
        doc = await self._json("GET", "/api/version")
        return str(doc.get("ray_version", "?")) if isinstance(doc, dict) else "?"

    async def submit(self, entrypoint: str, submission_id: str, *,
                     metadata: Mapping[str, str] | None = None, num_cpus: float | None = None,
                     memory: int | None = None, label_selector: Mapping[str, str] | None = None,
                     runtime_env: Mapping[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"entrypoint": entrypoint, "submission_id": submission_id}
        for key, value in (("metadata", metadata), ("entrypoint_num_cpus", num_cpus),
                           ("entrypoint_memory", memory),
                           ("entrypoint_label_selector", label_selector),
                           ("runtime_env", runtime_env)):
            if value:
                body[key] = dict(value) if isinstance(value, Mapping) else value
        doc = await self._json("POST", "/api/jobs/", json=body)
        return str(doc.get("submission_id") or submission_id)

    async def jobs(self) -> list[RayJob]:
        try:
            return parse.parse_jobs(await self._json("GET", "/api/jobs/"))
        except parse.ParseError as exc:
            raise RayError(f"Ray head {self.head}: /api/jobs/: {exc}") from None

    async def job(self, sid: str) -> RayJob | None:
        """One job, None when Ray has no such submission id."""
        answer = await self._call("GET", f"/api/jobs/{quote(sid, safe='')}")
        if answer.status_code == 404:
            return None
        if answer.status_code >= 400:
            raise RayError(f"Ray head {self.head}: job {sid}: "
                           f"{parse.error_line(answer.status_code, answer.text)}")
        try:
            return parse.parse_job(answer.json())
        except (ValueError, parse.ParseError) as exc:
            raise RayError(f"Ray head {self.head}: job {sid}: {exc}") from None

    async def stop(self, sid: str) -> bool:
        """Ask Ray to stop the job; False when it had already ended."""
        doc = await self._json("POST", f"/api/jobs/{quote(sid, safe='')}/stop")
        return bool(doc.get("stopped")) if isinstance(doc, dict) else False

    async def logs(self, job: RayJob, lines: int = 100) -> str:
        """The last lines of the job's driver log (from the node that ran it); "" before the
        job started. Only those lines travel (the /api/jobs/ID/logs call re-reads it all)."""
        if not job.driver_node_id:
            return ""
        answer = await self._call("GET", "/api/v0/logs/file", params={
            "node_id": job.driver_node_id, "filename": f"job-driver-{job.submission_id}.log",
            "lines": max(1, int(lines))})
        if answer.status_code >= 400:
            if "not found" in answer.text:
                return ""
            raise RayError(f"Ray head {self.head}: logs of {job.submission_id}: "
                           f"{parse.error_line(answer.status_code, answer.text)}")
        return parse.clean(answer.text)

    # ---- cluster state ---------------------------------------------------------------------

    async def nodes(self) -> list[RayNode]:
        return await self._state("/api/v0/nodes", parse.parse_nodes, detail=1, limit=LIST_LIMIT)

    async def usage(self) -> dict[str, tuple[float, float]]:
        """Node id -> (CPUs in use, CPUs), from the autoscaler's load report."""
        return parse.parse_usage(await self._json("GET", "/api/cluster_status"))

    async def summary(self) -> list[FuncSummary]:
        return await self._state("/api/v0/tasks/summarize", parse.parse_summary)

    async def tasks(self, node_id: str | None = None, limit: int = 100) -> list[RayTask]:
        return await self._state("/api/v0/tasks", parse.parse_tasks, limit=limit,
                                 **_filter(node_id))

    async def actors(self, node_id: str | None = None, limit: int = 100) -> list[RayActor]:
        return await self._state("/api/v0/actors", parse.parse_actors, limit=limit,
                                 **_filter(node_id))


def _filter(node_id: str | None) -> dict[str, str]:
    if not node_id:
        return {}
    return {"filter_keys": "node_id", "filter_predicates": "=", "filter_values": node_id}


def _colon(exc: Exception) -> str:
    text = parse.one_line(str(exc), 120)
    return f": {text}" if text else ""
