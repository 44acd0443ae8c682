"""Secrets for BMCs and plugs: from an environment variable or a 0600 file, never argv or logs.

A power table names where the secret lives (`password_env = "ROOST_BMC_PW"` or
`password_file = "~/.config/roost/bmc.pw"`); the value itself is read only when a driver is
about to use it, and no error message ever contains it.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, overload

from console.power.spec import Field, Spec

FIELDS = {
    "user": Field(str, doc="login name (not secret)"),
    "password_env": Field(str, doc="environment variable holding the password"),
    "password_file": Field(str, doc="file (mode 0600) holding the password"),
}


class Secret:
    """A string that does not print itself."""
    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


@overload
def password(spec: Spec, env: Mapping[str, str] | None = None,
             required: Literal[True] = True) -> Secret: ...
@overload
def password(spec: Spec, env: Mapping[str, str] | None = None,
             required: bool = True) -> Secret | None: ...
def password(spec: Spec, env: Mapping[str, str] | None = None, required: bool = True) -> Secret | None:
    """The password named by password_env or password_file; None when neither is set and not
    required. Errors name the variable or file, never the value."""
    env = os.environ if env is None else env
    name, path = spec.get("password_env"), spec.get("password_file")
    if name and path:
        raise spec.fail("password_env", "set password_env or password_file, not both")
    if name:
        if name not in env:
            raise spec.fail("password_env", f"environment variable {name} is not set")
        return Secret(env[name])
    if path:
        return Secret(_read_private(spec, Path(path).expanduser()))
    if required:
        raise spec.fail("password_env", "this driver needs a password: set password_env or password_file")
    return None


def _read_private(spec: Spec, path: Path) -> str:
    try:
        st = path.stat()
    except OSError as e:
        raise spec.fail("password_file", f"{path}: {e.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise spec.fail("password_file",
                        f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it")
    try:
        text = path.read_text()
    except OSError as e:
        raise spec.fail("password_file", f"{path}: {e.strerror}") from None
    return text.rstrip("\r\n")
