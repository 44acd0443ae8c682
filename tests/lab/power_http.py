"""Small HTTP servers on 127.0.0.1 that implement the documented device APIs roost drives:
Turing Pi 2 BMC (firmware 2.x, bmcd), Tasmota, Shelly Gen1 and Shelly Gen2 RPC, including their
auth schemes and error bodies. Each keeps real state (relays, node power) and a request log.

    with serve(TuringPi(password="pw"), tls=True) as dev:  # dev.url, dev.cert_file
        ...
The real bmcd skips auth for requests from its own loopback; every client here is on loopback,
so this server always enforces it.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
import ssl
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class Device:
    """A device model: handle(method, path, query, headers, body) -> (status, headers, body)."""

    def __init__(self):
        self.log: list[str] = []

    def reply(self, status: int, body, headers: dict | None = None):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return status, headers or {}, data.encode() if isinstance(data, str) else data


class TuringPi(Device):
    """bmcd's legacy API: {"response":[{"result": ...}]} for success and errors alike."""

    def __init__(self, user: str = "root", password: str = "turing"):
        super().__init__()
        self.user, self.password = user, password
        self.power = {i: 0 for i in range(1, 5)}
        self.resets: list[int] = []                 # 0-based node ids, as the API takes them
        self.tokens: set[str] = set()

    def legacy(self, status: int, result):
        return self.reply(status, {"response": [{"result": result}]})

    def handle(self, method, path, query, headers, body):
        if path == "/api/bmc/authenticate" and method == "POST":
            return self.authenticate(body)
        if path != "/api/bmc":
            return self.reply(404, "")
        denied = self.authorize(headers.get("Authorization", ""))
        if denied:
            return denied
        opt, kind = query.get("opt"), query.get("type")
        if opt not in ("get", "set"):
            return self.legacy(400, "Missing `opt` parameter")
        self.log.append(f"{opt} {kind} " + " ".join(f"{k}={v}" for k, v in sorted(query.items())
                                                     if k not in ("opt", "type")))
        if kind == "power":
            return self.get_power() if opt == "get" else self.set_power(query)
        if kind == "reset" and opt == "set":
            return self.reset(query)
        return self.legacy(400, f"Invalid `type` parameter {kind}")

    def authenticate(self, body: bytes):
        try:
            login = json.loads(body)
            ok = login["username"] == self.user and login["password"] == self.password
        except (ValueError, KeyError, TypeError):
            return self.reply(403, "parse error")
        if not ok:
            return self.reply(403, "incorrect credentials")
        token = secrets.token_urlsafe(48)
        self.tokens.add(token)
        session = {"id": token, "name": "User Session", "description": "User Session", "username": self.user}
        return self.reply(200, session, {"X-Auth-Token": token})

    def authorize(self, line: str):
        scheme, _, value = line.partition(" ")
        if scheme == "Bearer" and value in self.tokens:
            return None
        if scheme == "Basic":
            user, _, pw = base64.b64decode(value).decode().partition(":")
            if (user, pw) == (self.user, self.password):
                return None
        return self.reply(401, "no match", {"WWW-Authenticate": 'Basic realm="Turing Pi BMC"'})

    def get_power(self):
        return self.legacy(200, [{f"node{i}": str(v) for i, v in self.power.items()}])

    def set_power(self, query):
        changes = {}
        for i in range(1, 5):
            value = query.get(f"node{i}")
            if value is None:
                continue
            if value not in ("0", "1"):
                return self.legacy(400, f"Invalid value `{value}` for parameter `node{i}`")
            changes[i] = int(value)
        self.power.update(changes)
        return self.legacy(200, "ok")

    def reset(self, query):
        node = query.get("node")
        if node is None:
            return self.legacy(400, "Missing `node` parameter")
        if not node.lstrip("-").isdigit():
            return self.legacy(400, "Parameter `node` is not a number")
        if not 0 <= int(node) <= 3:
            return self.legacy(400, "Parameter `node` is out of range 0..3 of node IDs")
        self.resets.append(int(node))
        return self.legacy(200, "ok")

    def expire_tokens(self) -> None:
        self.tokens.clear()


class Tasmota(Device):
    """Tasmota's /cm endpoint: Power, Power1..PowerN with On/Off/Toggle; web password optional."""

    def __init__(self, relays: int = 1, user: str = "admin", password: str | None = None):
        super().__init__()
        self.relays = [False] * relays
        self.user, self.password = user, password

    def handle(self, method, path, query, headers, body):
        if path != "/cm":
            return self.reply(404, "")
        if self.password is not None and (query.get("user"), query.get("password")) != (self.user, self.password):
            return self.reply(401, {"WARNING": "Need user=<username>&password=<password>"})
        words = query.get("cmnd", "").split()
        self.log.append(" ".join(words))
        if not words or not words[0].lower().startswith("power"):
            return self.reply(200, {"Command": "Unknown"})
        index = words[0][5:] or "1"
        if not index.isdigit() or not 1 <= int(index) <= len(self.relays):
            return self.reply(200, {"Command": "Unknown"})
        i = int(index) - 1
        arg = words[1].lower() if len(words) > 1 else ""
        if arg in ("on", "1"):
            self.relays[i] = True
        elif arg in ("off", "0"):
            self.relays[i] = False
        elif arg in ("toggle", "2"):
            self.relays[i] = not self.relays[i]
        elif arg:
            return self.reply(200, {"Command": "Error"})
        key = "POWER" if len(self.relays) == 1 else f"POWER{i + 1}"
        return self.reply(200, {key: "ON" if self.relays[i] else "OFF"})


class ShellyGen1(Device):
    """Shelly Gen1 /relay/N with ?turn=on|off|toggle; HTTP basic auth when a password is set."""

    def __init__(self, relays: int = 1, user: str = "admin", password: str | None = None):
        super().__init__()
        self.relays = [False] * relays
        self.user, self.password = user, password

    def handle(self, method, path, query, headers, body):
        if self.password is not None:
            want = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            if headers.get("Authorization") != want:
                return self.reply(401, "401 Unauthorized", {"WWW-Authenticate": 'Basic realm="shelly1-ABC"'})
        parts = path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "relay" or not parts[1].isdigit() or int(parts[1]) >= len(self.relays):
            return self.reply(404, "Not Found")
        i, turn = int(parts[1]), query.get("turn")
        self.log.append(f"relay {i} {turn or 'get'}")
        if turn in ("on", "off"):
            self.relays[i] = turn == "on"
        elif turn == "toggle":
            self.relays[i] = not self.relays[i]
        elif turn is not None:
            return self.reply(400, "Bad turn!")
        return self.reply(200, {"ison": self.relays[i], "has_timer": False, "timer_started": 0,
                                "timer_duration": 0, "timer_remaining": 0, "source": "http"})


class ShellyGen2(Device):
    """Shelly Gen2+ RPC over GET: Switch.Set / Switch.GetStatus; digest auth (SHA-256)."""

    realm = "shellyplus1pm-a8032ab12345"

    def __init__(self, switches: int = 1, password: str | None = None):
        super().__init__()
        self.output = [False] * switches
        self.password = password
        self.nonces: set[str] = set()

    def handle(self, method, path, query, headers, body):
        if self.password is not None and not self.digest_ok(method, headers.get("Authorization", "")):
            nonce = secrets.token_hex(8)
            self.nonces.add(nonce)
            challenge = (f'Digest qop="auth", realm="{self.realm}", nonce="{nonce}", algorithm=SHA-256')
            return self.reply(401, {"code": 401, "message": "Unauthorized"}, {"WWW-Authenticate": challenge})
        method_name = path.removeprefix("/rpc/")
        self.log.append(f"{method_name} " + " ".join(f"{k}={v}" for k, v in sorted(query.items())))
        if method_name not in ("Switch.Set", "Switch.GetStatus"):
            return self.reply(404, {"code": 404, "message": f"No handler for {method_name}"})
        sid = query.get("id", "0")
        if not sid.isdigit() or int(sid) >= len(self.output):
            return self.reply(500, {"code": -105, "message": f"Argument 'id', value {sid} not found!"})
        i = int(sid)
        if method_name == "Switch.GetStatus":
            return self.reply(200, {"id": i, "source": "HTTP_in", "output": self.output[i],
                                    "apower": 4.2 if self.output[i] else 0.0, "voltage": 230.1})
        if query.get("on") not in ("true", "false"):
            return self.reply(500, {"code": -103, "message": "Invalid argument 'on'!"})
        was, self.output[i] = self.output[i], query["on"] == "true"
        return self.reply(200, {"was_on": was})

    def digest_ok(self, method: str, line: str) -> bool:
        if not line.startswith("Digest "):
            return False
        fields = dict(_digest_fields(line[7:]))
        if fields.get("nonce") not in self.nonces or fields.get("username") != "admin":
            return False
        h = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
        ha1 = h(f"admin:{self.realm}:{self.password}")
        ha2 = h(f"{method}:{fields.get('uri')}")
        want = h(f"{ha1}:{fields['nonce']}:{fields.get('nc')}:{fields.get('cnonce')}:{fields.get('qop')}:{ha2}")
        return secrets.compare_digest(want, fields.get("response", ""))


def _digest_fields(text: str):
    for part in text.split(","):
        key, _, value = part.strip().partition("=")
        yield key, value.strip('"')


def _handler(device: Device):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            split = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, data = device.handle(self.command, split.path, query, self.headers, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args):  # quiet
            pass
    return Handler


class Served:
    def __init__(self, device: Device, server: ThreadingHTTPServer, scheme: str, cert_file: Path | None):
        self.device, self.server, self.cert_file = device, server, cert_file
        self.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"


@contextmanager
def serve(device: Device, tls: bool = False, cert_dir: Path | None = None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(device))
    cert_file = None
    if tls:
        cert_file, key_file = self_signed(cert_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(device, server, "https" if tls else "http", cert_file)
    finally:
        server.shutdown()
        server.server_close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, as a BMC ships with."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "turingpi.local")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = Path(directory) / "bmc.crt", Path(directory) / "bmc.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file
