"""A small OpenAI-compatible HTTP server over a :class:`~nbutils.llm.LocalChatModel`.

Serves ``GET /health``, ``GET /v1/models`` and ``POST /v1/chat/completions`` on localhost, so several
notebook runs (or any OpenAI client) can share one local model::

    python -m nbutils serve-llm --port 8011            # the bundled SmolLM2
    python -m nbutils serve-llm --model ./my-llm --port 8011

Requests are answered one at a time (the model is not shared across threads).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .llm import LocalChatModel

__all__ = ["make_server"]


def _handler(model: LocalChatModel, model_name: str):
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # quiet
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.path == "/health":
                self._send(200, {"status": "ok"})
            elif self.path == "/v1/models":
                self._send(
                    200, {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "local"}]}
                )
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self):  # noqa: N802
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                messages = req["messages"]
            except (json.JSONDecodeError, KeyError, ValueError) as e:
                self._send(400, {"error": {"message": f"bad request: {e}"}})
                return
            with lock:
                model.temperature = float(req.get("temperature") or 0.0)
                model.max_tokens = int(req.get("max_tokens") or 48)
                ans = next(model._complete([messages], int(req.get("seed") or 0), progress=False))[1]
            if ans.error:
                self._send(500, {"error": {"message": ans.error}})
                return
            self._send(200, _completion(ans, model_name))

    return Handler


def _completion(ans, model_name: str) -> dict:
    """An OpenAI chat completion body for one answer."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ans.text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": ans.prompt_tokens,
            "completion_tokens": ans.completion_tokens,
            "total_tokens": ans.prompt_tokens + ans.completion_tokens,
        },
    }


def make_server(
    model: LocalChatModel, host: str = "127.0.0.1", port: int = 8011, name: str = "smollm2"
) -> ThreadingHTTPServer:
    """Build (not start) the server; call ``serve_forever()`` on the result."""
    model._load()
    return ThreadingHTTPServer((host, port), _handler(model, name))
