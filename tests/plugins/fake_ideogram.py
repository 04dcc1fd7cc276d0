"""A local stand-in for Ideogram's API that follows its documented contract (legacy generate).

A real HTTP server on 127.0.0.1 (``ThreadingHTTPServer`` in a thread):

- ``POST /generate`` checks the ``Api-Key`` header (401 when missing or wrong, 403 for a key
  marked forbidden), the JSON shape ``{"image_request": {...}}``, the model names, the enum
  values, the seed range and ``num_images``; bad input is a 400 with ``{"error": ...}``, a
  prompt that fails the safety check a 422. It answers ``{created, data: [{url, prompt,
  resolution, seed, style_type, is_image_safe}]}``; an image flagged unsafe has no URL.
- ``GET /images/<id>.png`` serves a PNG of the resolution of the requested aspect ratio.
- Responses can be scripted ahead: 429 with ``Retry-After``, 500/503, unsafe images, images
  that are not images, image links to elsewhere, redirects, whole answers. Every request is
  recorded (headers and body) for assertions.

It speaks plain http on a loopback address, which the plugins refuse by default: a test lets
them reach it with the operator settings ``operator_settings()`` returns.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw

MODELS = ("V_1", "V_1_TURBO", "V_2", "V_2_TURBO", "V_2A", "V_2A_TURBO")
# Ideogram documents negative prompts for these models only (not for V_2A and V_2A_TURBO).
NEGATIVE_PROMPT_MODELS = ("V_1", "V_1_TURBO", "V_2", "V_2_TURBO")
# style_type applies to V_2 and later.
STYLE_MODELS = ("V_2", "V_2_TURBO", "V_2A", "V_2A_TURBO")
RESOLUTIONS = {
    "ASPECT_1_1": (1024, 1024),
    "ASPECT_16_9": (1312, 736),
    "ASPECT_9_16": (736, 1312),
    "ASPECT_4_3": (1152, 864),
    "ASPECT_3_4": (864, 1152),
    "ASPECT_3_2": (1248, 832),
    "ASPECT_2_3": (832, 1248),
    "ASPECT_16_10": (1280, 800),
    "ASPECT_10_16": (800, 1280),
    "ASPECT_3_1": (1536, 512),
    "ASPECT_1_3": (512, 1536),
}
STYLE_TYPES = ("AUTO", "GENERAL", "REALISTIC", "DESIGN", "RENDER_3D", "ANIME")
MAGIC_PROMPT = ("AUTO", "ON", "OFF")
FIELDS = {
    "prompt",
    "model",
    "aspect_ratio",
    "resolution",
    "magic_prompt_option",
    "seed",
    "style_type",
    "negative_prompt",
    "num_images",
    "color_palette",
}
SEED_MAX = 2_147_483_647
# A word that makes the fake's "safety check" refuse the prompt with a 422.
UNSAFE_PROMPT_WORD = "forbidden-topic"
MAGIC_SUFFIX = ", rendered with crisp typography and soft cinematic light"


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Scripted:
    """A canned answer to the next ``POST /generate`` (or image download)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    unsafe: bool = False  # answer 200 but flag the images unsafe
    corrupt_image: bool = False  # answer 200, then serve bytes that are not an image
    image_url: str | None = None  # answer 200 with image links to this URL instead of the fake's


class FakeIdeogram:
    """The fake server. ``with FakeIdeogram(api_key) as fake: fake.base_url ...``."""

    def __init__(self, api_key: str, *, forbidden_keys: tuple[str, ...] = ()) -> None:
        self.api_key = api_key
        self.forbidden_keys = set(forbidden_keys)
        self.requests: list[RecordedRequest] = []
        self.script: deque[Scripted] = deque()
        self.image_script: deque[Scripted] = deque()
        self.images: dict[str, tuple[int, int, int, bool]] = {}  # id -> (w, h, seed, corrupt)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-ideogram", daemon=True
        )

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def operator_settings(self) -> dict[str, str]:
        """The operator settings (environment form) that let the plugins use this fake.

        Plain http to this very address and port, for the API call and the image links, and
        image downloads from a loopback address, which production settings refuse.
        """
        return {
            "HALLMARK_IDEOGRAM_ALLOWED_HOSTS": self.base_url,
            "HALLMARK_IDEOGRAM_IMAGE_HOSTS": self.base_url,
            "HALLMARK_IDEOGRAM_ALLOW_PRIVATE_ADDRESSES": "true",
        }

    def allow(self, settings: Any, monkeypatch: Any) -> FakeIdeogram:
        """Apply ``operator_settings()`` as an operator would: to the pytest ``settings`` of this
        process, and to the environment that worker processes started later read them from."""
        for name, value in self.operator_settings().items():
            monkeypatch.setenv(name, value)
            setattr(settings, name, value == "true" if value in ("true", "false") else (value,))
        return self

    def start(self) -> FakeIdeogram:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeIdeogram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting --------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        error: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``times`` generate calls answer ``status`` (with ``Retry-After`` if given)."""
        headers = dict(headers or {})
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        body = {"error": error or _REASONS.get(status, "error")}
        for _ in range(times):
            self.script.append(Scripted(status=status, headers=headers, body=body))

    def unsafe_next(self) -> None:
        """The next generate call succeeds but flags its images ``is_image_safe: false``."""
        self.script.append(Scripted(unsafe=True))

    def corrupt_next(self) -> None:
        """The next generate call succeeds but its image links serve bytes that are no image."""
        self.script.append(Scripted(corrupt_image=True))

    def fail_next_download(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None
    ) -> None:
        """The next ``times`` image downloads answer ``status`` (a redirect with a ``Location``)."""
        for _ in range(times):
            self.image_script.append(
                Scripted(
                    status=status, headers=dict(headers or {}), body={"error": _REASONS.get(status, "error")}
                )
            )

    def link_images_to(self, url: str) -> None:
        """The next generate call succeeds but links its images to ``url`` (another host);
        ``{id}`` in it becomes the image's id, which this fake serves at ``/images/{id}.png``."""
        self.script.append(Scripted(image_url=url))

    def answer_next(self, payload: Any) -> None:
        """The next generate call answers 200 with exactly ``payload`` as its JSON body."""
        self.script.append(Scripted(body=payload))

    # -- what happened ----------------------------------------------------------------------

    def generate_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/generate"]

    def image_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "GET" and r.path.startswith("/images/")]

    # -- the HTTP side ----------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def _record(self, body: bytes) -> None:
                with fake._lock:
                    fake.requests.append(
                        RecordedRequest(
                            self.command, self.path, dict(self.headers.items()), body, time.monotonic()
                        )
                    )

            def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                self._record(body)
                if self.path != "/generate":
                    self._send_json(404, {"error": "Not found"})
                    return
                fake._generate(self, body)

            def do_GET(self) -> None:
                self._record(b"")
                fake._serve_image(self)

        return Handler

    def _generate(self, handler: Any, body: bytes) -> None:
        key = handler.headers.get("Api-Key")
        if not key or (key != self.api_key and key not in self.forbidden_keys):
            handler._send_json(401, {"error": "Unauthorized: invalid or missing Api-Key"})
            return
        if key in self.forbidden_keys:
            handler._send_json(403, {"error": "Forbidden: this key may not use the API"})
            return
        with self._lock:
            scripted = self.script.popleft() if self.script else Scripted()
        if scripted.status != 200 or scripted.body is not None:
            handler._send_json(scripted.status, scripted.body, scripted.headers)
            return
        if (handler.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            handler._send_json(400, {"error": "Content-Type must be application/json"})
            return
        try:
            payload = json.loads(body)
        except ValueError:
            handler._send_json(400, {"error": "Request body is not valid JSON"})
            return
        problem = _check_request(payload)
        if problem:
            handler._send_json(400, {"error": problem})
            return
        image_request = payload["image_request"]
        if UNSAFE_PROMPT_WORD in image_request["prompt"]:
            handler._send_json(422, {"error": "Prompt or provided image failed the safety checks"})
            return
        handler._send_json(200, self._answer(image_request, scripted))

    def _answer(self, image_request: dict[str, Any], scripted: Scripted) -> dict[str, Any]:
        model = image_request["model"]
        ratio = image_request.get("aspect_ratio", "ASPECT_1_1")
        width, height = RESOLUTIONS[ratio]
        seed = image_request.get("seed")
        base_seed = seed if seed else random.randint(1, SEED_MAX)  # 0 or absent: a random seed
        magic = image_request.get("magic_prompt_option", "AUTO")
        prompt = image_request["prompt"] + ("" if magic == "OFF" else MAGIC_SUFFIX)
        style = image_request.get("style_type", "AUTO") if model in STYLE_MODELS else None
        data = []
        for index in range(image_request.get("num_images", 1)):
            image_seed = (base_seed + index) % (SEED_MAX + 1)
            image_id = uuid.uuid4().hex
            with self._lock:
                self.images[image_id] = (width, height, image_seed, scripted.corrupt_image)
            data.append(
                {
                    "url": None
                    if scripted.unsafe
                    else (scripted.image_url or f"{self.base_url}/images/{{id}}.png").replace(
                        "{id}", image_id
                    ),
                    "prompt": prompt,
                    "resolution": f"{width}x{height}",
                    "seed": image_seed,
                    "style_type": style,
                    "is_image_safe": not scripted.unsafe,
                }
            )
        return {"created": datetime.now(UTC).isoformat(), "data": data}

    def _serve_image(self, handler: Any) -> None:
        path = handler.path
        image_id = path.removeprefix("/images/").removesuffix(".png")
        with self._lock:
            scripted = self.image_script.popleft() if self.image_script else None
            entry = self.images.get(image_id) if path.startswith("/images/") else None
        if scripted is not None:
            # "{path}" in a scripted header is this request's own path (a redirect to itself).
            headers = {k: v.replace("{path}", path) for k, v in scripted.headers.items()}
            handler._send_json(scripted.status, scripted.body, headers)
            return
        if entry is None:
            handler._send_json(404, {"error": "Image not found or expired"})
            return
        width, height, seed, corrupt = entry
        data = b"this is not an image" * 10 if corrupt else _png(width, height, seed)
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


_REASONS = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    422: "Prompt or provided image failed the safety checks",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def _check_request(payload: Any) -> str:
    """What is wrong with a generate request under Ideogram's documented schema ("" if nothing)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("image_request"), dict):
        return "image_request is required and must be an object"
    if set(payload) != {"image_request"}:
        return f"unknown fields: {sorted(set(payload) - {'image_request'})}"
    req = payload["image_request"]
    unknown = set(req) - FIELDS
    if unknown:
        return f"unknown image_request fields: {sorted(unknown)}"
    if not isinstance(req.get("prompt"), str) or not req["prompt"].strip():
        return "image_request.prompt is required"
    model = req.get("model", "V_2")
    if model not in MODELS:
        return f"image_request.model must be one of {', '.join(MODELS)}"
    if "aspect_ratio" in req and req["aspect_ratio"] not in RESOLUTIONS:
        return "image_request.aspect_ratio is not a valid aspect ratio"
    if "magic_prompt_option" in req and req["magic_prompt_option"] not in MAGIC_PROMPT:
        return "image_request.magic_prompt_option must be AUTO, ON or OFF"
    if "style_type" in req:
        if req["style_type"] not in STYLE_TYPES:
            return "image_request.style_type is not a valid style type"
        if model not in STYLE_MODELS:
            return f"style_type is not supported by {model}"
    seed = req.get("seed")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX
    ):
        return f"image_request.seed must be an integer between 0 and {SEED_MAX}"
    num = req.get("num_images", 1)
    if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= 8:
        return "image_request.num_images must be between 1 and 8"
    if "negative_prompt" in req:
        if model not in NEGATIVE_PROMPT_MODELS:
            return f"negative_prompt is not supported by {model}"
        if not isinstance(req["negative_prompt"], str):
            return "image_request.negative_prompt must be a string"
    return ""


def _png(width: int, height: int, seed: int) -> bytes:
    """A cheap PNG of the given size whose colours follow the seed."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(20, max(21, min(width, height) // 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
