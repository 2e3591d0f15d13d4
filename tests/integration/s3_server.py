"""A real S3-compatible server for the s3 tests: s3rver (tests/s3, pinned in its
package-lock.json, installed by scripts/setup.sh) on 127.0.0.1 with a free port and a
temporary data directory, and an independent client (boto3 from Debian) to check what
the backend stored. Mounts with the s3 backend get their settings from DEARDIARY_*
variables, as a user would set them.

s3rver accepts any SigV4 signature of a known access key (it checks the key, not the
signature), so these tests cover the protocol; signing itself is libcurl's.
"""
import os
import re
import socket
import subprocess
import time

import boto3
import pytest
from botocore.config import Config

from helpers_registry import environ, finish_mount, managed
from conftest import Mount

HERE = os.path.dirname(os.path.abspath(__file__))
S3RVER = os.path.join(HERE, "..", "s3", "node_modules", "s3rver", "bin", "s3rver.js")
KEY = SECRET = "S3RVER"          # s3rver's built-in account
KEY_RE = re.compile(r"^([0-9a-f]{2})/\1[0-9a-f]{6}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                    r"[0-9a-f]{12}$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """s3rver on 127.0.0.1:port, data under `root`; stop() and start() keep both."""

    def __init__(self, root):
        if not os.path.exists(S3RVER):
            pytest.fail("s3rver is not installed: run scripts/setup.sh (npm ci in tests/s3)")
        self.root = root
        self.data = os.path.join(root, "s3data")
        os.makedirs(self.data, exist_ok=True)
        self.port = free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self.log = open(os.path.join(root, "s3rver.log"), "a")
        self.start()
        self.client = boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=KEY,
            aws_secret_access_key=SECRET, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    def start(self):
        self.proc = subprocess.Popen(["node", S3RVER, "-d", self.data, "-a", "127.0.0.1",
                                      "-p", str(self.port), "--silent"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("s3rver did not start")
                time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        self.log.close()

    # ---- what an independent client sees

    def objects(self, bucket):
        """{key: size} of every object in the bucket."""
        out, token = {}, None
        while True:
            kw = {"Bucket": bucket}
            if token:
                kw["ContinuationToken"] = token
            r = self.client.list_objects_v2(**kw)
            for o in r.get("Contents", []):
                out[o["Key"]] = o["Size"]
            if not r.get("IsTruncated"):
                return out
            token = r["NextContinuationToken"]

    def sha256(self, bucket, key):
        import hashlib
        h = hashlib.sha256()
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(1 << 20), b""):
            h.update(chunk)
        return h.hexdigest()

    def buckets(self):
        return {b["Name"] for b in self.client.list_buckets().get("Buckets", [])}


@pytest.fixture(scope="module")
def s3srv(tmp_path_factory):
    srv = S3Server(str(tmp_path_factory.mktemp("s3")))
    try:
        yield srv
    finally:
        srv.close()


_n = [0]


@pytest.fixture
def bucket(s3srv):
    """A new, empty bucket for the test."""
    _n[0] += 1
    name = "b%d-%d" % (os.getpid(), _n[0])
    s3srv.client.create_bucket(Bucket=name)
    return name


def s3_env(srv, bucket, **extra):
    env = {"DEARDIARY_ARTIFACT_S3_ENDPOINT": srv.endpoint, "DEARDIARY_ARTIFACT_S3_BUCKET": bucket,
           "DEARDIARY_ARTIFACT_S3_REGION": "us-east-1", "DEARDIARY_ARTIFACT_S3_ACCESS_KEY": KEY,
           "DEARDIARY_ARTIFACT_S3_SECRET_KEY": SECRET, "DEARDIARY_CONFIG": None}
    env.update(extra)
    return env


def start_s3_mount(root, srv, bucket, backend="s3", **extra):
    """conftest.Mount with the artifact backend and s3 settings in its environment."""
    env = s3_env(srv, bucket, DEARDIARY_ARTIFACT_BACKEND=backend,
                 DEARDIARY_ARTIFACT_FS_ROOT=os.path.join(root, "artifacts"), **extra)
    with environ(**env):
        m = Mount(root)
    m.backend, m.fs_root, m.bucket, m.env = backend, os.path.join(root, "artifacts"), bucket, env
    return m


def s3_mounted(root, srv, bucket, backend="s3", **extra):
    """A mount for the block; unmounted afterwards (killed and detached on failure)."""
    return managed(start_s3_mount(root, srv, bucket, backend, **extra))


__all__ = ["S3Server", "s3srv", "bucket", "s3_env", "start_s3_mount", "s3_mounted", "finish_mount", "KEY_RE"]
