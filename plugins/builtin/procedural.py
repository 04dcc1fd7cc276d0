"""The ``procedural`` plugin: a weightless generator for demos and tests. Not an AI model.

It draws a seeded background of soft shapes in a few passes and sets the prompt on it as
type. The same prompt, size, seed and params always give the same pixels, so it exercises the
whole governed path (jobs, progress, cancellation, provenance, audit) with nothing to download.
"""

from __future__ import annotations

import hashlib
import random
import textwrap
import threading
import time
from functools import cache
from pathlib import Path

import PIL
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from hallmark.sdk import (
    CancelCheck,
    Cancelled,
    Capabilities,
    CostModel,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    License,
    ModelIdentity,
    ParamSpec,
    Plugin,
    ProgressCallback,
    RequestInvalid,
    SizeRange,
)

PALETTES: dict[str, list[tuple[int, int, int]]] = {
    "dusk": [(38, 40, 74), (94, 60, 108), (200, 109, 108), (246, 178, 107), (255, 226, 170)],
    "sea": [(8, 48, 79), (20, 99, 125), (56, 161, 172), (168, 218, 220), (241, 250, 238)],
    "forest": [(27, 38, 30), (52, 78, 65), (90, 125, 94), (166, 190, 137), (232, 236, 209)],
    "mono": [(20, 20, 20), (70, 70, 70), (130, 130, 130), (190, 190, 190), (240, 240, 240)],
}


# step_delay exists to watch progress and to test cancellation and crashes; any user may set
# it, so it is capped: one job must not hold a worker for long doing nothing.
MAX_STEP_DELAY = 0.5
MAX_TOTAL_DELAY = 10.0


@cache
def _code_fingerprint() -> str:
    """sha256 of this module's source: the procedural 'weights' are its code."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


class ProceduralPlugin(Plugin):
    """Seeded abstract backgrounds with the prompt set as type. For demos and tests only."""

    id = "procedural"
    name = "Procedural (demo, not an AI model)"
    version = "1.0.0"
    hallmark_compat = ">=0.1,<1"
    description = (
        "A weightless generator that draws a seeded background and sets the prompt as type. "
        "It is not an AI model; it exists so that Hallmark can be seen and tested without weights."
    )
    is_ai_model = False
    license = License(
        spdx_id="MIT",
        name="MIT License (Hallmark's procedural demo generator)",
        url="https://opensource.org/license/mit",
        commercial_use=True,
        attribution="Made with Hallmark's procedural demo generator (not an AI model).",
        allows_training=True,
    )
    capabilities = Capabilities(
        sizes=SizeRange(minimum=64, maximum=2048, multiple_of=8, default=512),
        max_images=4,
        negative_prompt=True,
        seed_deterministic=True,
        fidelity="draft",
        cost=CostModel(per_image=0.0, basis="free"),
        features=("typography",),  # it sets the prompt as type, letter for letter
        refine=True,
    )
    params_schema = {
        "steps": ParamSpec("int", default=4, minimum=1, maximum=50, help="Drawing passes (progress steps)."),
        "palette": ParamSpec(
            "choice", choices=tuple(PALETTES), help="Colour palette (default: the configured one)."
        ),
        "step_delay": ParamSpec(
            "float",
            default=0.0,
            minimum=0.0,
            maximum=MAX_STEP_DELAY,
            help=f"Seconds to wait per pass, to watch progress (at most {MAX_TOTAL_DELAY:g} s per job in all).",
        ),
    }
    config_schema = {
        "default_palette": ParamSpec(
            "choice", default="dusk", choices=tuple(PALETTES), help="Palette when none given."
        ),
    }

    def identity(self) -> ModelIdentity:
        """The generator's code version stands in for a model version; its source hash for weights."""
        return ModelIdentity(
            model_name="hallmark-procedural",
            model_version=self.version,
            weights_fingerprint=f"sha256:{_code_fingerprint()}",
            libraries={"pillow": PIL.__version__},
            extra={"kind": "procedural, not an AI model"},
        )

    def validate(self, request: GenerationRequest) -> None:
        """Refuse a ``step_delay`` that would keep the worker waiting over ``MAX_TOTAL_DELAY`` in all."""
        delay = float(request.params.get("step_delay", 0.0))
        passes = int(request.params.get("steps", 4)) * request.num_images
        if delay * passes > MAX_TOTAL_DELAY:
            raise RequestInvalid(
                {
                    "params.step_delay": [
                        f"Value times steps times num_images ({delay:g} x {passes}) must be at most "
                        f"{MAX_TOTAL_DELAY:g} s."
                    ]
                }
            )

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback, is_cancelled: CancelCheck
    ) -> GenerationResult:
        """Draw ``num_images`` images; image *i* uses seed ``request.seed + i``.

        A refinement starts from ``init_image`` (resized to the request's size) instead of a
        plain background and draws only the last ``round(steps * strength)`` passes (at least
        one): the late passes draw the smallest shapes, so a low strength touches up the image
        and strength 1 redraws it with every pass.
        """
        steps = int(request.params.get("steps", 4))
        passes = steps
        if request.is_refinement:
            passes = max(1, round(steps * float(request.strength or 1.0)))
        palette_name = str(request.params.get("palette") or self.config.get("default_palette") or "dusk")
        palette = PALETTES[palette_name]
        delay = min(float(request.params.get("step_delay", 0.0)), MAX_STEP_DELAY)
        total = passes * request.num_images
        images: list[GeneratedImage] = []
        on_progress(0, total)
        for index in range(request.num_images):
            seed = (request.seed + index) % (self.capabilities.seed_max + 1)
            rng = random.Random(seed)
            canvas = self._start(request, palette)
            for done, step in enumerate(range(steps - passes, steps)):
                if is_cancelled():
                    raise Cancelled()
                self._draw_pass(canvas, rng, palette, step, steps)
                if delay:
                    time.sleep(delay)
                on_progress(index * passes + done + 1, total)
            self._draw_prompt(canvas, request.prompt, palette)
            images.append(
                GeneratedImage(
                    image=canvas,
                    seed=seed,
                    parameters={
                        "steps": steps,
                        "sampler": "procedural",
                        "palette": palette_name,
                        **({"strength": request.strength} if request.is_refinement else {}),
                    },
                )
            )
        return GenerationResult(images=images, cost=0.0)

    @staticmethod
    def _start(request: GenerationRequest, palette: list[tuple[int, int, int]]) -> Image.Image:
        """The canvas drawn on: a plain background, or for a refinement the image to refine."""
        size = (request.width, request.height)
        if request.init_image is None:
            return Image.new("RGB", size, palette[0])
        start = request.init_image.convert("RGB")
        return start if start.size == size else start.resize(size, Image.Resampling.LANCZOS)

    @staticmethod
    def _draw_pass(
        canvas: Image.Image, rng: random.Random, palette: list[tuple[int, int, int]], step: int, steps: int
    ) -> None:
        width, height = canvas.size
        layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        scale = max(width, height)
        for _ in range(6):
            colour = palette[rng.randrange(1, len(palette))]
            radius = int(scale * rng.uniform(0.05, 0.35) * (1 - step / (steps + 1)))
            x, y = rng.randrange(width), rng.randrange(height)
            alpha = rng.randrange(60, 160)
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(*colour, alpha))
        layer = layer.filter(ImageFilter.GaussianBlur(radius=max(1, scale // 60)))
        canvas.paste(Image.alpha_composite(canvas.convert("RGBA"), layer).convert("RGB"))

    @staticmethod
    def _draw_prompt(canvas: Image.Image, prompt: str, palette: list[tuple[int, int, int]]) -> None:
        width, height = canvas.size
        size = max(10, min(width, height) // 14)
        font = _font(size)
        chars_per_line = max(8, int(width / (size * 0.55)))
        lines = textwrap.wrap(prompt, width=chars_per_line)[:6] or [""]
        draw = ImageDraw.Draw(canvas)
        line_height = int(size * 1.25)
        top = (height - line_height * len(lines)) // 2
        for i, line in enumerate(lines):
            box = draw.textbbox((0, 0), line, font=font)
            x = (width - (box[2] - box[0])) // 2
            y = top + i * line_height
            draw.text((x + 2, y + 2), line, font=font, fill=palette[0])
            draw.text((x, y), line, font=font, fill=palette[-1])


_fonts = threading.local()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``size``, parsed once per thread and size (a FreeType face is
    not safe to share between threads; parsing it again for every image cost more than drawing)."""
    cache: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = _fonts.__dict__.setdefault("by_size", {})
    if size not in cache:
        cache[size] = ImageFont.load_default(size=size)
    return cache[size]
