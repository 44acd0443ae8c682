"""A stand-in for Turing Machines' `tpi` CLI (power subcommands only) for tests: the same
arguments, TPI_HOSTNAME/TPI_USERNAME/TPI_PASSWORD from the environment, the same HTTPS calls
to the BMC (self-signed certificate accepted, as tpi does), and `--json` printing the body.

    python -m tests.lab.power_tpi [--json] [--host H] [--user U] power get|on|off|reset [--node N]
`reset --node N` is passed through unchanged, `on/off --node N` become nodeN=1|0 (as in tpi).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

WRAPPER = "#!/bin/sh\nPYTHONPATH={root} exec {python} -m tests.lab.power_tpi \"$@\"\n"


def install(path, root, python) -> str:
    path.write_text(WRAPPER.format(root=root, python=python))
    path.chmod(0o755)
    return str(path)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="tpi")
    p.add_argument("--json", action="store_true")
    p.add_argument("--host", default=os.environ.get("TPI_HOSTNAME", "turingpi.local"))
    p.add_argument("--user", default=os.environ.get("TPI_USERNAME"))
    sub = p.add_subparsers(dest="command", required=True)
    power = sub.add_parser("power")
    power.add_argument("cmd", choices=("get", "on", "off", "reset"))
    power.add_argument("--node", type=int)
    args = p.parse_args(argv)
    query = {"opt": "get" if args.cmd == "get" else "set", "type": "reset" if args.cmd == "reset" else "power"}
    if args.cmd == "reset":
        if args.node is None:
            print("Error: `--node` argument must be set.", file=sys.stderr)
            return 1
        query["node"] = str(args.node)
    elif args.cmd in ("on", "off"):
        nodes = [args.node] if args.node else [1, 2, 3, 4]
        query.update({f"node{n}": "1" if args.cmd == "on" else "0" for n in nodes})
    url = f"https://{args.host}/api/bmc?" + "&".join(f"{k}={v}" for k, v in query.items())
    req = urllib.request.Request(url)
    password = os.environ.get("TPI_PASSWORD")
    if args.user and password is not None:
        token = base64.b64encode(f"{args.user}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    except urllib.error.URLError as e:
        print(f"Error: http request error: {e.reason}", file=sys.stderr)
        return 1
    try:
        value = json.loads(body)
    except ValueError:
        print(f"Error: {status}:\n{body.decode(errors='replace')}", file=sys.stderr)
        return 1
    print(json.dumps(value, separators=(",", ":")) if args.json else value["response"][0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
