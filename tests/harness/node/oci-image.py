#!/usr/bin/env python3
"""Writes a one-layer OCI image layout tar that `ctr images import` accepts, from files on disk.

    oci-image.py --name NAME --out IMAGE.tar --entrypoint /bin [--user 65532:65532]
                 [--env K=V ...] SOURCE=/PATH/IN/IMAGE ...

Files keep their mode bits and are owned by root; parent directories are created. The layer is
an uncompressed tar (no registry in between, nothing to save), with fixed times, so the same
files give the same digests."""
import argparse
import hashlib
import io
import json
import os
import tarfile


def add_blob(out, data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo("blobs/sha256/" + digest.split(":")[1])
    info.size = len(data)
    out.addfile(info, io.BytesIO(data))
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def layer(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()
        for _, target in files:
            parts = target.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for source, target in files:
            info = tarfile.TarInfo(target.strip("/"))
            info.size = os.path.getsize(source)
            info.mode = os.stat(source).st_mode & 0o7777
            with open(source, "rb") as f:
                tar.addfile(info, f)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--entrypoint", required=True)
    ap.add_argument("--user", default="")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("files", nargs="+", help="SOURCE=/PATH/IN/IMAGE")
    args = ap.parse_args()
    files = [tuple(f.split("=", 1)) for f in args.files]
    tar_bytes = layer(files)
    with tarfile.open(args.out, mode="w") as out:
        layer_desc = add_blob(out, tar_bytes, "application/vnd.oci.image.layer.v1.tar")
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": [args.entrypoint], "User": args.user, "Env": args.env},
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
        }
        config_desc = add_blob(
            out, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc,
            "layers": [layer_desc],
        }
        manifest_desc = add_blob(
            out, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json"
        )
        manifest_desc["annotations"] = {"io.containerd.image.name": args.name}
        manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
        index = {"schemaVersion": 2, "manifests": [manifest_desc]}
        for name, data in (
            ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
            ("index.json", json.dumps(index).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main()
