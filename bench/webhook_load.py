#!/usr/bin/env python3
"""The webhook soak's load: AdmissionReviews at a fixed rate to the controller, every patch checked.

Open loop: review k is due at start + k / rate whatever the answers before it did, and its
latency counts from that moment (a slow controller cannot hide its backlog). Keep-alive
HTTPS connections (the controller's certificate verified against the CA given) take the
due reviews in turn. The pods vary: labelled or not, in a labelled namespace or not, in an
excluded namespace, with or without the pull secret, 1-6 containers and init containers
mixing the accelerated registry's images with others. Every answer is checked by an
oracle written apart from the controller's code: the patch, applied to the pod (RFC 6902),
must give exactly the expected images, pull secrets and annotations, and must not touch a
container whose image is not of the accelerated registry.

    webhook_load.py --url https://127.0.0.1:PORT/mutate --ca ca.crt --origin HOST --p2p HOST:PORT
                    --labelled-namespace team-b --plain-namespace team-a --rate 500 --duration 60 --out FILE
"""
import argparse
import asyncio
import base64
import copy
import json
import random
import ssl
import time
import urllib.parse
import uuid

LABEL = "k8s.aliyun.com/image-accelerate-mode"
CONFIG = "k8s.aliyun.com/p2p-config"
SECRET = "regcred"
COPY = "acr-credential-regcred-p2p"


def apply_patch(doc, ops):
    """RFC 6902 add / remove / replace (what a mutating webhook's patch may hold)."""
    for op in ops:
        parts = [urllib.parse.unquote(p).replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            if kind == "add":
                parent.insert(len(parent) if last == "-" else int(last), op["value"])
            elif kind == "replace":
                parent[int(last)] = op["value"]
            elif kind == "remove":
                del parent[int(last)]
            else:
                raise ValueError(f"unexpected op {kind}")
        else:
            if kind in ("add", "replace"):
                if kind == "replace" and last not in parent:
                    raise ValueError(f"replace of a missing member {op['path']}")
                parent[last] = op["value"]
            elif kind == "remove":
                del parent[last]
            else:
                raise ValueError(f"unexpected op {kind}")
    return doc


class Oracle:
    def __init__(self, a):
        self.a = a

    def pod(self, rng, n):
        """A pod, its namespace, and what the webhook must make of it."""
        case = rng.choice(["labelled", "in-labelled-namespace", "plain", "no-secret", "excluded", "no-registry-image"])
        namespace = {"in-labelled-namespace": self.a.labelled_namespace, "excluded": "kube-system"}.get(case, self.a.plain_namespace)
        labelled = case in ("labelled", "no-secret", "excluded", "no-registry-image")
        def image(of_registry):
            if of_registry:
                return f"{self.a.origin}/team/app-{rng.randrange(50)}:{rng.choice(['latest', 'v1', 'v2.3'])}"
            return rng.choice(["nginx:1.25", "docker.io/library/redis:7", "quay.io/prometheus/node-exporter:v1.7.0",
                               f"{self.a.origin}.example.org/other/app:1"])
        def containers(k, prefix):
            out = []
            for i in range(k):
                ours = case != "no-registry-image" and rng.random() < 0.6
                out.append({"name": f"{prefix}{i}", "image": image(ours), "resources": {}})
            return out
        spec = {"containers": containers(rng.randint(1, 4), "c")}
        if rng.random() < 0.4:
            spec["initContainers"] = containers(rng.randint(1, 2), "init")
        if case != "no-secret":
            spec["imagePullSecrets"] = [{"name": SECRET}]
        meta = {"name": f"soak-{n}", "namespace": namespace}
        if labelled:
            meta["labels"] = {LABEL: "p2p", "app": "soak"}
        if rng.random() < 0.3:
            meta["annotations"] = {"owner": "soak"}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
        return pod, namespace, case in ("labelled", "in-labelled-namespace")

    def check(self, pod, rewritten, response):
        """Returns what is wrong with the answer, or None."""
        if not response.get("allowed"):
            return f"not allowed: {response.get('status')}"
        patched = copy.deepcopy(pod)
        if response.get("patch"):
            if response.get("patchType") != "JSONPatch":
                return f"patchType {response.get('patchType')}"
            try:
                patched = apply_patch(patched, json.loads(base64.b64decode(response["patch"])))
            except (KeyError, IndexError, ValueError, TypeError) as e:
                return f"the patch does not apply: {e}"
        want_any = False
        for field in ("initContainers", "containers"):
            for before, after in zip(pod["spec"].get(field, []), patched["spec"].get(field, [])):
                image = before["image"]
                ours = image.startswith(self.a.origin + "/")
                want = image.replace(self.a.origin + "/", self.a.p2p + "/", 1) if (rewritten and ours) else image
                want_any |= want != image
                if after["image"] != want:
                    return f"{field}/{before['name']}: {image} became {after['image']}, expected {want}"
                if {k: v for k, v in after.items() if k != "image"} != {k: v for k, v in before.items() if k != "image"}:
                    return f"{field}/{before['name']}: fields other than the image changed"
            if len(pod["spec"].get(field, [])) != len(patched["spec"].get(field, [])):
                return f"{field}: the number of containers changed"
        secrets = [s["name"] for s in patched["spec"].get("imagePullSecrets", [])]
        annotations = patched["metadata"].get("annotations", {})
        if want_any:
            if secrets != [SECRET, COPY]:
                return f"pull secrets {secrets}, expected {[SECRET, COPY]}"
            if annotations.get(LABEL) != "p2p" or CONFIG not in annotations:
                return f"annotations {annotations}"
        else:
            if patched != pod:
                return "a pod that must stay unchanged was patched"
        if pod["metadata"].get("annotations", {}).get("owner") and annotations.get("owner") != "soak":
            return "an existing annotation was lost"
        return None


class Load:
    def __init__(self, a):
        self.a = a
        u = urllib.parse.urlsplit(a.url)
        self.host, self.port, self.path = u.hostname, u.port, u.path
        self.ssl = ssl.create_default_context(cafile=a.ca)
        self.ssl.check_hostname = False  # the certificate names the Service; its chain is verified
        self.oracle = Oracle(a)
        self.queue = asyncio.Queue()
        self.latencies = []
        self.wrong = []
        self.wrong_count = 0
        self.errors = 0
        self.rewritten = 0
        self.answered = 0

    async def producer(self, start, total):
        rng = random.Random(self.a.seed)
        for k in range(total):
            due = start + k / self.a.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pod, namespace, rewritten = self.oracle.pod(rng, k)
            self.queue.put_nowait((due, pod, namespace, rewritten))
        for _ in range(self.a.connections):
            self.queue.put_nowait(None)

    async def worker(self):
        reader = writer = None
        while True:
            item = await self.queue.get()
            if item is None:
                break
            due, pod, namespace, rewritten = item
            review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                      "request": {"uid": str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": "Pod"},
                                  "resource": {"group": "", "version": "v1", "resource": "pods"},
                                  "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
                                  "requestResource": {"group": "", "version": "v1", "resource": "pods"},
                                  "name": pod["metadata"]["name"], "namespace": namespace, "operation": "CREATE",
                                  "userInfo": {"username": "system:serviceaccount:soak:deployer"},
                                  "object": pod, "oldObject": None, "dryRun": False,
                                  "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}}}
            body = json.dumps(review).encode()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
                writer.write(f"POST {self.path}?timeout=10s HTTP/1.1\r\nHost: {self.host}\r\n"
                             f"Content-Type: application/json\r\nAccept: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
                status_line = await asyncio.wait_for(reader.readline(), timeout=30)
                headers = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b""):
                        break
                    k, _, v = h.decode().partition(":")
                    headers[k.strip().lower()] = v.strip()
                if "content-length" in headers:
                    data = await reader.readexactly(int(headers["content-length"]))
                else:
                    data = b""
                    while True:
                        size = int((await reader.readline()).strip() or b"0", 16)
                        if size == 0:
                            await reader.readline()
                            break
                        data += await reader.readexactly(size)
                        await reader.readexactly(2)
                self.latencies.append(time.monotonic() - due)
                self.answered += 1
                status = int(status_line.split()[1])
                if status != 200:
                    raise AssertionError(f"status {status}: {data[:200]!r}")
                answer = json.loads(data)
                response = answer.get("response", {})
                if response.get("uid") != review["request"]["uid"]:
                    raise AssertionError("the answer's uid is not the request's")
                problem = self.oracle.check(pod, rewritten, response)
                if problem:
                    raise AssertionError(f"{pod['metadata']['name']} in {namespace}: {problem}")
                self.rewritten += 1 if response.get("patch") and rewritten else 0
            except AssertionError as e:
                self.wrong_count += 1
                if len(self.wrong) < 20:
                    self.wrong.append(str(e))
            except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
                self.errors += 1
                if writer is not None:
                    writer.transport.abort()
                reader = writer = None
        if writer is not None:
            writer.close()

    async def run(self):
        total = int(self.a.rate * self.a.duration)
        start = time.monotonic() + 0.2
        await asyncio.gather(self.producer(start, total), *(self.worker() for _ in range(self.a.connections)))
        elapsed = time.monotonic() - start
        s = sorted(self.latencies)
        pick = lambda p: round(1000 * s[min(len(s) - 1, int(p / 100 * len(s)))], 1) if s else None
        return {"rate_asked": self.a.rate, "seconds": round(elapsed, 1), "reviews": total, "answered": self.answered,
                "reviews_per_second": round(self.answered / elapsed, 1), "rewritten": self.rewritten,
                "p50_ms": pick(50), "p99_ms": pick(99), "max_ms": pick(100), "connection_errors": self.errors,
                "wrong": self.wrong_count, "wrong_examples": self.wrong}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--origin", required=True)
    p.add_argument("--p2p", required=True)
    p.add_argument("--labelled-namespace", required=True)
    p.add_argument("--plain-namespace", required=True)
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    result = asyncio.run(Load(a).run())
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
