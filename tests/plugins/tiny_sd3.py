"""Build a tiny, random-weight StableDiffusion3Pipeline on disk, with nothing downloaded.

The layout is the real one (model_index.json, transformer/, vae/, two CLIP text encoders with
projection, a T5 encoder, their tokenizers, a flow-matching scheduler), saved with
``save_pretrained``; only the sizes are tiny, so the SD3.5 plugins load it through exactly the code
path real weights take and a 512x512 image takes about a second on one CPU core.

The CLIP tokenizer is written here as a byte-level BPE vocabulary (``vocab.json``) and a few
merges (``merges.txt``); the T5 tokenizer is a small unigram vocabulary. The same ``seed`` gives
the same weights, so the fingerprint of a rebuilt pipeline is stable; another seed gives other
weights (and another fingerprint).

Run it directly to build one: ``python tests/plugins/tiny_sd3.py /tmp/tiny-sd3``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

#: Transformer blocks: at least 10, so that SD3.5 Medium's skip-layer guidance (blocks 7, 8, 9)
#: has blocks to skip.
NUM_LAYERS = 10
CLIP_HIDDEN = 32
T5_DIM = 64  # = joint_attention_dim, which must hold both CLIP embeddings side by side


def _bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible map from bytes to printable characters (GPT-2 byte-level BPE)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def write_clip_tokenizer_files(folder: Path) -> Path:
    """Write a small CLIP BPE ``vocab.json`` and ``merges.txt`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for symbol in symbols:
        vocab[symbol] = len(vocab)
    for symbol in symbols:
        vocab[symbol + "</w>"] = len(vocab)
    merges = ["t h", "th e</w>", "i n", "a n", "o n</w>", "e r", "a t</w>", "s t"]
    for merge in merges:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return folder


def t5_vocab() -> list[tuple[str, float]]:
    """A small T5 unigram vocabulary (pieces and log-probabilities)."""
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(c, -3.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789.,"]
    pieces += [(f"▁{w}", -1.0) for w in ("a", "the", "of", "at", "in", "on", "and")]
    return pieces


def build_tiny_sd3(folder: Path, *, seed: int = 0, with_t5: bool = True) -> Path:
    """Save a tiny StableDiffusion3Pipeline with random weights drawn from ``seed`` to ``folder``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
        T5Config,
        T5EncoderModel,
        T5Tokenizer,
    )

    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = CLIPTokenizer.from_pretrained(
            str(write_clip_tokenizer_files(Path(scratch))), model_max_length=77
        )
    torch.manual_seed(seed)

    def clip() -> CLIPTextModelWithProjection:
        return CLIPTextModelWithProjection(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=CLIP_HIDDEN,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=2,
                projection_dim=CLIP_HIDDEN,
                max_position_embeddings=77,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )

    components = {
        "text_encoder": clip(),
        "text_encoder_2": clip(),
        "tokenizer": tokenizer,
        "tokenizer_2": tokenizer,
        "text_encoder_3": None,
        "tokenizer_3": None,
        "transformer": SD3Transformer2DModel(
            sample_size=64,
            patch_size=2,
            in_channels=16,
            num_layers=NUM_LAYERS,
            attention_head_dim=8,
            num_attention_heads=2,
            joint_attention_dim=T5_DIM,
            caption_projection_dim=16,  # = heads x head dim, as in the real models
            pooled_projection_dim=2 * CLIP_HIDDEN,
            out_channels=16,
            pos_embed_max_size=96,  # up to 1536 px: 1536 / 8 (VAE) / 2 (patch)
            dual_attention_layers=(0,),  # an MMDiT-X block, as in SD3.5 Medium
            qk_norm="rms_norm",
        ),
        "vae": AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(4, 4, 8, 8),  # four blocks: 8x down-sampling, like the real VAE
            layers_per_block=1,
            norm_num_groups=4,
            latent_channels=16,
            sample_size=512,
            scaling_factor=1.5305,
            shift_factor=0.0609,
            use_quant_conv=False,
            use_post_quant_conv=False,
        ),
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0),
    }
    if with_t5:
        components["tokenizer_3"] = T5Tokenizer(vocab=t5_vocab(), extra_ids=0)
        components["text_encoder_3"] = T5EncoderModel(
            T5Config(
                vocab_size=len(components["tokenizer_3"]),
                d_model=T5_DIM,
                d_kv=8,
                d_ff=64,
                num_layers=2,
                num_heads=2,
                pad_token_id=0,
                eos_token_id=1,
                decoder_start_token_id=0,
            )
        )
    pipe = StableDiffusion3Pipeline(**components)
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(folder))
    return folder


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-sd3")
    print(build_tiny_sd3(target))
