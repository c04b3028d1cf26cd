"""A tiny model server: POST /predict with a JSON vector, get the class of a fixed linear model."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

WEIGHTS = np.random.default_rng(0).normal(size=(16, 4))
served = 0


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/ping":
            self._reply(200, {"status": "healthy"})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        global served
        if self.path != "/predict":
            self._reply(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        try:
            vector = np.asarray(json.loads(self.rfile.read(length)), dtype=float)
            scores = vector @ WEIGHTS
        except (ValueError, TypeError):
            self._reply(400, {"error": "expected a JSON array of 16 numbers"})
            return
        served += 1
        self._reply(200, {"class": int(scores.argmax())})

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("0.0.0.0", args.port), Handler)

    def stop(signum: int, frame: object) -> None:
        print(f"served={served}", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"serving on port {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
