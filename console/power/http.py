"""HTTP plumbing shared by the BMC and plug drivers: one httpx client per driver, TLS verified
unless the power table says otherwise, and transport failures turned into one line."""
from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from console.power.spec import Field, Spec

if TYPE_CHECKING:
    import httpx

Json = dict[str, Any]   # a JSON object as a device sent it

FIELDS = {
    "verify_tls": Field(bool, default=True, doc="false accepts a self-signed certificate"),
    "ca_file": Field(str, doc="CA bundle that signed the device's certificate"),
}


def client(spec: Spec, base_url: str,
           auth: httpx.Auth | tuple[str, str] | None = None) -> httpx.AsyncClient:
    import httpx
    verify: bool | ssl.SSLContext = spec.get("verify_tls", True)
    if verify and spec.get("ca_file"):
        verify = ssl.create_default_context(cafile=spec["ca_file"])
    return httpx.AsyncClient(base_url=base_url, verify=verify, auth=auth, timeout=spec["timeout"],
                             follow_redirects=False)


@asynccontextmanager
async def http_errors(fail: Callable[[str], Exception], where: str,
                      timeout: float) -> AsyncIterator[None]:
    """Turn httpx transport errors into fail(one line naming where) (a driver's error());
    HTTP status codes are the caller's to judge."""
    import httpx
    try:
        yield
    except httpx.TimeoutException:
        raise fail(f"{where} did not answer within {timeout:g}s") from None
    except httpx.ConnectError as e:
        if "CERTIFICATE_VERIFY_FAILED" in str(e):
            raise fail(f"{where}: TLS certificate not trusted (set ca_file, or verify_tls = "
                             f"false to accept a self-signed one)") from None
        raise fail(f"{where}: cannot connect ({_reason(e)})") from None
    except httpx.HTTPError as e:
        raise fail(f"{where}: {type(e).__name__}: {_reason(e)}") from None


def _reason(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:160]
