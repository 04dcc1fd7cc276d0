"""A local S3-compatible object store for tests: moto's server mode, started as a subprocess.

``moto_server`` listens on a free port on 127.0.0.1 only; nothing leaves the machine. One
server serves the whole test run; each test gets a bucket of its own (``s3_store`` in
``tests/conftest.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from tests.private_services import free_port

#: Credentials moto accepts; real ones are never needed (nor read) by the tests.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "hallmark-test",
    "AWS_SECRET_ACCESS_KEY": "hallmark-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class MotoServer:
    """A running ``moto_server`` process."""

    process: subprocess.Popen[bytes]
    endpoint: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )


def start_moto(log: Path) -> Iterator[MotoServer]:
    """Start ``moto_server`` on a free port, wait until it answers, stop it afterwards."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **CREDENTIALS},
        )
    server = MotoServer(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.client().list_buckets()
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield server
    finally:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Bucket:
    """One test's bucket on the shared server, and the environment that points Hallmark at it."""

    server: MotoServer
    name: str = field(default_factory=lambda: f"hallmark-{uuid.uuid4().hex[:12]}")

    @property
    def env(self) -> dict[str, str]:
        """What a Hallmark process (web or worker) needs to store its files in this bucket."""
        return {
            **CREDENTIALS,
            "HALLMARK_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": self.name,
            "AWS_S3_ENDPOINT_URL": self.server.endpoint,
            "AWS_S3_REGION_NAME": CREDENTIALS["AWS_DEFAULT_REGION"],
        }

    def keys(self) -> list[str]:
        """Every object's key, sorted."""
        pages = self.server.client().get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def get(self, key: str) -> bytes:
        body: bytes = self.server.client().get_object(Bucket=self.name, Key=key)["Body"].read()
        return body
