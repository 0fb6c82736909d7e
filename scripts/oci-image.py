#!/usr/bin/env python3
"""Writes a one-layer OCI image from a directory tree into an OCI image layout, with
nothing but Python's standard library, so images can be made on a machine that can
reach no base image. Reproducible: same tree and options, same digests (sorted
entries, owner 0:0, mtime 0, gzip without a timestamp).

  oci-image.py ROOTFS LAYOUT TAG [--entrypoint JSON] [--cmd JSON] [--user U]
               [--env K=V ...] [--label K=V ...]

The layout is created or extended (another tag beside those already there); push it
with `skopeo copy oci:LAYOUT:TAG docker://…`."""
import argparse, gzip, hashlib, io, json, os, stat, tarfile


def layer(rootfs):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        paths = []
        for base, dirs, files in os.walk(rootfs):
            dirs.sort()
            for name in sorted(dirs + files):
                paths.append(os.path.join(base, name))
        for path in sorted(paths, key=lambda p: os.path.relpath(p, rootfs).split(os.sep)):
            info = tar.gettarinfo(path, arcname=os.path.relpath(path, rootfs))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    diff = raw.getvalue()
    blob = gzip.compress(diff, compresslevel=6, mtime=0)
    return blob, "sha256:" + hashlib.sha256(diff).hexdigest()


def put(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("rootfs"); p.add_argument("layout"); p.add_argument("tag")
    p.add_argument("--entrypoint", type=json.loads, default=None)
    p.add_argument("--cmd", type=json.loads, default=None)
    p.add_argument("--user", default="")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    a = p.parse_args()

    blob, diff_id = layer(a.rootfs)
    os.makedirs(a.layout, exist_ok=True)
    with open(os.path.join(a.layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    layer_desc = dict(mediaType="application/vnd.oci.image.layer.v1.tar+gzip", **put(a.layout, blob))
    config = {"architecture": "amd64", "os": "linux",
              "config": {k: v for k, v in {
                  "Entrypoint": a.entrypoint, "Cmd": a.cmd, "User": a.user or None,
                  "Env": a.env or None, "Labels": dict(l.split("=", 1) for l in a.label) or None,
                  "WorkingDir": "/"}.items() if v is not None},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]},
              "history": [{"created_by": "scripts/oci-image.py"}]}
    config_desc = dict(mediaType="application/vnd.oci.image.config.v1+json",
                       **put(a.layout, json.dumps(config, sort_keys=True, separators=(",", ":")).encode()))
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer_desc]}
    manifest_desc = dict(mediaType=manifest["mediaType"],
                         **put(a.layout, json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()))
    manifest_desc["annotations"] = {"org.opencontainers.image.ref.name": a.tag}
    index_path = os.path.join(a.layout, "index.json")
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != a.tag] + [manifest_desc]
    with open(index_path, "w") as f:
        json.dump(index, f, sort_keys=True)
    print(json.dumps({"manifest": manifest_desc["digest"], "layerBytes": len(blob), "tag": a.tag}))


if __name__ == "__main__":
    main()
