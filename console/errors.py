"""The product's name for the error base: `from console.errors import RoostError`.

Every exception class roost raises on purpose derives from RoostError (defined in
collectors/errors.py so the data plane can use it without importing console/); `roost` catches it
at the top of main() and prints its one line. Where the design notes say `roost.errors.RoostError`,
this module is meant: the top level is fixed (collectors/, console/), there is no `roost` package.
"""
from __future__ import annotations

from collectors.errors import RoostError

__all__ = ["RoostError"]
