"""A run's output on object storage (``s3://``, ``gs://``, any fsspec URL): whole objects under fixed keys.

Object stores have no rename, so nothing here depends on one: a data object is uploaded whole from a
finished local file, and what makes it count is a *marker* object written after it (see
:mod:`jinglian.pipeline.run_store`). The lock object needs one more thing, a create that fails when the
object exists and a replace that fails when it changed since it was read: on S3 these are conditional
PutObject requests (``If-None-Match: *`` and ``If-Match: <etag>``), sent through s3fs's own client so the
credentials are found where every AWS tool finds them. Other backends get fsspec's exclusive create
(``mode="create"``) and a replace that is not atomic (documented in the README).
"""

from __future__ import annotations

import hashlib

from jinglian.core.filesystem import filesystem, protocol

HASH_BLOCK = 1 << 20


class ObjectStore:
    """Keys (``docs/part-00000.parquet``) under one URL prefix."""

    def __init__(self, url: str, storage_options: dict | None = None):
        self.url = url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self.fs = filesystem(self.url, self.storage_options)
        self.root = self.fs._strip_protocol(self.url).rstrip("/")
        self.s3 = protocol(self.url) in ("s3", "s3a")

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put_file(self, local: str, key: str) -> None:
        self.fs.put_file(local, self.path(key))

    def put_bytes(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(key), data)

    def get_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        try:
            return self.fs.cat_file(self.path(key))
        except FileNotFoundError:
            return None

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        """{key: bytes} of the objects that exist among ``keys``, fetched concurrently (s3fs, gcsfs are async)."""
        if not keys:
            return {}
        found = self.fs.cat([self.path(k) for k in keys], on_error="omit")
        return {name[len(self.root) + 1:]: data for name, data in found.items() if isinstance(data, bytes)}

    def sizes(self, prefix: str = "") -> dict[str, int]:
        """{key: size} of every object under ``prefix`` (a key prefix such as ``docs/``), listed afresh."""
        self.fs.invalidate_cache()
        base = self.path(prefix.rstrip("/")) if prefix else self.root
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return {}
        out = {}
        for name, info in found.items():
            key = name[len(self.root) + 1:]
            # a listing by key prefix may reach siblings (`run-old/` beside `run/`, `docs2/` beside `docs/`)
            if info.get("type", "file") == "file" and name.startswith(self.root + "/") and key.startswith(prefix):
                out[key] = int(info.get("size") or 0)
        return out

    def names(self) -> list[str]:
        """Names directly under the prefix (objects and "directories"), listed afresh."""
        self.fs.invalidate_cache()
        try:
            return sorted({p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.root, detail=False)})
        except FileNotFoundError:
            return []

    def delete(self, keys) -> None:
        paths = [self.path(k) for k in keys]
        if paths:
            self.fs.rm(paths)
        self.fs.invalidate_cache()

    def abort_uploads(self, prefix: str) -> list[str]:
        """Abort the unfinished multipart uploads under ``prefix`` (a killed writer's: S3 keeps and bills their
        parts, unseen by any listing); return their keys. Other backends have none to abort."""
        if not self.s3:
            return []
        bucket, base, _ = self.fs.split_path(self.path(prefix))
        aborted, params = [], {"Bucket": bucket, "Prefix": base}
        while True:
            page = self.fs.call_s3("list_multipart_uploads", **params)
            for upload in page.get("Uploads", []):
                self.fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                aborted.append(upload["Key"][len(self.fs.split_path(self.root)[1]) + 1:])
            if not page.get("IsTruncated"):
                return aborted
            params.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"])

    # -- conditional writes (the lock) ------------------------------------------------------------

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        """(bytes, etag) of the object, or None. The tag is read first: a replace made with it fails if
        the object changed after it, whatever the bytes read."""
        self.fs.invalidate_cache()
        try:
            tag = self._etag(key)
            return self.fs.cat_file(self.path(key)), tag
        except FileNotFoundError:
            return None

    def create(self, key: str, data: bytes) -> str | None:
        """Write the object only if there is none; its etag, or None when it existed."""
        try:
            if self.s3:
                bucket, name, _ = self.fs.split_path(self.path(key))
                return self.fs.call_s3("put_object", Bucket=bucket, Key=name, Body=data, IfNoneMatch="*")["ETag"]
            self.fs.pipe_file(self.path(key), data, mode="create")
        except FileExistsError:  # s3fs's name for a 412 on If-None-Match
            return None
        except OSError as exc:
            if _conflict(exc):
                return None
            raise
        return self._etag(key)

    def replace(self, key: str, data: bytes, tag: str) -> str | None:
        """Overwrite the object only if its etag is still ``tag``; the new etag, or None when it changed."""
        if not self.s3:  # no conditional replace in fsspec's API: check, then write (not atomic)
            current = self.read_tagged(key)
            if current is None or current[1] != tag:
                return None
            self.put_bytes(key, data)
            return self._etag(key)
        bucket, name, _ = self.fs.split_path(self.path(key))
        try:
            return self.fs.call_s3("put_object", Bucket=bucket, Key=name, Body=data, IfMatch=tag)["ETag"]
        except FileNotFoundError:
            return None
        except OSError as exc:
            if _conflict(exc):
                return None
            raise

    def delete_if(self, key: str, tag: str) -> None:
        """Delete the object if it still has etag ``tag`` (a lock taken over meanwhile stays)."""
        current = self.read_tagged(key)
        if current is None or current[1] != tag:
            return
        if self.s3:
            bucket, name, _ = self.fs.split_path(self.path(key))
            try:
                self.fs.call_s3("delete_object", Bucket=bucket, Key=name, IfMatch=tag)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if not _conflict(exc):
                    raise
        else:
            self.delete([key])
        self.fs.invalidate_cache()

    def _etag(self, key: str) -> str:
        info = self.fs.info(self.path(key))
        for name in ("ETag", "etag", "md5Hash", "generation"):
            if info.get(name):
                return str(info[name])
        return f"{info.get('size')}-{info.get('mtime') or info.get('LastModified') or info.get('updated')}"


def _conflict(exc: OSError) -> bool:
    """Whether S3 refused a conditional write: 412 PreconditionFailed, or 409 when another conditional
    write to the key was in flight (s3fs turns these into OSErrors; the ClientError is the cause)."""
    if isinstance(exc, FileExistsError):
        return True
    response = getattr(exc.__cause__, "response", None)
    if not isinstance(response, dict):
        return False
    code = response.get("Error", {}).get("Code")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)


def file_digest(path: str) -> tuple[int, str]:
    """(size, sha256 hex) of a local file, read in blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
