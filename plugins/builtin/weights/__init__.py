"""Local model weights: where they may live, whether a folder can be loaded, which files they are.

- ``root``: confining ``weights_path`` (and every file read from it) to ``HALLMARK_WEIGHTS_ROOT``.
- ``folder``: finding and checking a diffusers StableDiffusion3Pipeline folder without loading it
  (``model_index.json``, required components, T5 present or dropped, safetensors only).
- ``fingerprint``: one sha256 over the weight files a model was loaded from, cached per file.
"""
