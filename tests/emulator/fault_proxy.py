"""A fault-injecting HTTP proxy on loopback, in front of the emulator.

The tests put it between ecsfleet and the emulator to make AWS misbehave the ways it
does in production, each in the error shape of the protocol the request spoke:

- throttle: answered by the proxy, never forwarded: awsJson (ECS)
  `{"__type": "ThrottlingException"}` 400; Query (IAM, Auto Scaling, SNS)
  `<ErrorResponse>` with `Throttling` 400; EC2 `<Response><Errors>` with
  `RequestLimitExceeded` 503; Smithy RPC v2 CBOR (CloudWatch) a CBOR map with
  `__type: ThrottlingException` 400.
- error: a 500 in the same shapes (`InternalFailure` / `ServiceUnavailable`), not
  forwarded.
- reset: the connection is reset before the request is forwarded.
- lost: the request IS forwarded and takes effect, then the answer is lost: the
  connection is reset instead of answering. This is what makes a retried write
  register a second revision unless the client looks before writing again.

Which request gets which fault is drawn from a seeded random generator, so a scenario
replays exactly. Faults are injected only into the operations matching --only (a
regular expression over the operation name; default: every operation).

Control, over HTTP on the same port (never forwarded):
- GET  /__faults/stats: JSON {"requests": {op: n}, "faults": {kind: n}, "held": k}
- POST /__faults/config: JSON {"rate": 0.3, "seed": 7, "kinds": [...], "only": "..."}
  replaces the fault settings (rate 0 turns faults off).
- POST /__faults/hold: JSON {"at": k}: the k-th request from now (1-based) is held
  before it is forwarded, until released; GET /__faults/held answers whether a request
  is held (used by the crash tests to `kill -9` the client at a known point).
- POST /__faults/release: lets a held request go on (it is then forwarded, so a
  killed client's last request still reaches AWS, as it would) and answers once the
  emulator has answered it.

Usage: python fault_proxy.py --port PORT --upstream http://127.0.0.1:EMULATOR
          [--rate 0.3] [--seed 1] [--kinds throttle,error,reset,lost] [--only REGEX]
"""

import argparse
import http.client
import json
import random
import re
import socket
import struct
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cbor2

KINDS = ("throttle", "error", "reset", "lost")


class Faults:
    """The fault settings and what was seen, shared by every connection."""

    def __init__(self, rate, seed, kinds, only):
        self.lock = threading.Lock()
        self.requests = {}
        self.injected = {}
        self.hold_at = None
        self.held = threading.Event()
        self.release = threading.Event()
        self.done = threading.Event()
        self.configure(rate, seed, kinds, only)

    def configure(self, rate, seed, kinds, only):
        with self.lock:
            self.rate = rate
            self.random = random.Random(seed)
            self.kinds = list(kinds)
            self.only = re.compile(only or ".*")

    def draw(self, operation):
        """The fault for this request, or None; counts the request."""
        with self.lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1
            hold = False
            if self.hold_at is not None:
                self.hold_at -= 1
                if self.hold_at == 0:
                    self.hold_at = None
                    hold = True
            fault = None
            if self.rate > 0 and self.only.fullmatch(operation):
                if self.random.random() < self.rate:
                    fault = self.random.choice(self.kinds)
                    self.injected[fault] = self.injected.get(fault, 0) + 1
        return fault, hold

    def stats(self):
        with self.lock:
            return {
                "requests": dict(self.requests),
                "faults": dict(self.injected),
                "held": self.held.is_set(),
            }


def protocol_and_operation(headers, path, body):
    """(protocol, operation) of an AWS request."""
    target = headers.get("X-Amz-Target")
    if target:
        return "json", target.rsplit(".", 1)[-1]
    if "/operation/" in path:
        return "cbor", path.rsplit("/", 1)[-1]
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    action = form.get("Action", ["Unknown"])[0]
    version = form.get("Version", [""])[0]
    # EC2's Query dialect has its own error shape.
    return ("ec2" if version == "2016-11-15" else "query"), action


def error_answer(protocol, throttle):
    """(status, headers, body) of a throttling or server error in `protocol`'s shape."""
    if protocol == "json":
        code = "ThrottlingException" if throttle else "ServerException"
        body = json.dumps({"__type": code, "message": "injected by the fault proxy"})
        return (
            400 if throttle else 500,
            {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code},
            body.encode(),
        )
    if protocol == "cbor":
        code = "ThrottlingException" if throttle else "InternalServiceFault"
        body = cbor2.dumps({"__type": code, "message": "injected by the fault proxy"})
        return (
            400 if throttle else 500,
            {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
            body,
        )
    if protocol == "ec2":
        code = "RequestLimitExceeded" if throttle else "InternalError"
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error>"
            f"<Code>{code}</Code><Message>injected by the fault proxy</Message>"
            "</Error></Errors><RequestID>fault-proxy</RequestID></Response>"
        )
        return 503 if throttle else 500, {"Content-Type": "text/xml"}, body.encode()
    code = "Throttling" if throttle else "ServiceUnavailable"
    body = (
        "<ErrorResponse><Error><Type>"
        + ("Sender" if throttle else "Receiver")
        + f"</Type><Code>{code}</Code><Message>injected by the fault proxy</Message>"
        "</Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
    )
    return 400 if throttle else 500, {"Content-Type": "text/xml"}, body.encode()


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    faults = None
    upstream = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, headers, body):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reset(self):
        """Closes the connection with a TCP reset, answering nothing."""
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        self.close_connection = True

    def control(self, body):
        action = self.path[len("/__faults/") :]
        faults = self.faults
        if action == "stats":
            result = faults.stats()
        elif action == "config":
            config = json.loads(body or b"{}")
            faults.configure(
                float(config.get("rate", 0)),
                int(config.get("seed", 1)),
                config.get("kinds", KINDS),
                config.get("only"),
            )
            result = {"ok": True}
        elif action == "hold":
            with faults.lock:
                faults.hold_at = int(json.loads(body)["at"])
                faults.held.clear()
                faults.release.clear()
                faults.done.clear()
            result = {"ok": True}
        elif action == "held":
            result = {"held": faults.held.is_set()}
        elif action == "release":
            faults.release.set()
            # Answer once the held request has reached the emulator and been answered
            # there, so the next step sees what it did.
            result = {"ok": True, "forwarded": faults.done.wait(60)}
        else:
            self.answer(404, {}, b"unknown control")
            return
        self.answer(200, {"Content-Type": "application/json"}, json.dumps(result).encode())

    def handle_any(self):
        body = self.read_body()
        if self.path.startswith("/__faults/"):
            self.control(body)
            return
        protocol, operation = protocol_and_operation(self.headers, self.path, body)
        fault, hold = self.faults.draw(operation)
        if hold:
            self.faults.held.set()
            self.faults.release.wait()
        if fault == "throttle" or fault == "error":
            self.answer(*error_answer(protocol, fault == "throttle"))
            return
        if fault == "reset":
            self.reset()
            return
        status, headers, answer = self.forward(body)
        if hold:
            self.faults.done.set()
        if fault == "lost":
            self.reset()
            return
        try:
            self.answer(status, headers, answer)
        except OSError:
            # The client is gone (killed while its request was held).
            self.close_connection = True

    def forward(self, body):
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=60
        )
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding")
        }
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        skipped = ("connection", "keep-alive", "transfer-encoding", "content-length")
        out = {k: v for k, v in response.getheaders() if k.lower() not in skipped}
        connection.close()
        return response.status, out, answer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--only", default=None)
    args = parser.parse_args()
    Proxy.faults = Faults(args.rate, args.seed, args.kinds.split(","), args.only)
    Proxy.upstream = urllib.parse.urlparse(args.upstream)
    server = ThreadingHTTPServer((args.host, args.port), Proxy)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
