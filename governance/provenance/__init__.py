"""Provenance written into every stored image, and read back from any image.

One topic per module; import from the module that holds what you need (this package
re-exports nothing):

- ``stamping``: ``ProvenanceContext`` (what an image's provenance says) and ``stamp()``, which
  writes the embedded metadata and then signs, in that order.
- ``embedded_metadata``: the A1111-style ``parameters`` text, the XMP packet, PNG encoding.
- ``c2pa_signing``: the C2PA manifest Hallmark signs, ``sign_c2pa``, the per-process signer and
  SDK settings caches, and the ``ProvenanceError`` family a job fails with.
- ``credentials``: ``read_credentials`` (validate a file's manifest, read its XMP),
  ``CredentialsReport``, ``manifest_summary``, Hallmark's own signer ids.
- ``xmp_parser``: the bounded XMP byte parser (``extract_xmp``, ``xmp_digital_source_type``).
- ``safe_image``: ``open_image_safely`` for untrusted bytes, ``pixel_sha256``.
- ``prompt_digest``: what a manifest or audit event records of a prompt without giving it away.

Which asset a file is, and whether a stored file still matches its record, is the assets app's
(``assets.verification``): governance imports no other app. docs/provenance.md describes what
each file carries and how to verify it.
"""
