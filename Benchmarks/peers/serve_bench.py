#!/usr/bin/env python3
"""serve: `fusionlab serve` against the PyTorch twin behind FastAPI + uvicorn (serve_peer.py), same
model (the run's best checkpoint), same payloads (the test split's image + audio + caption as
multipart bodies), loaded by wrk (serve_wrk.lua) at concurrency 1, 8 and 32.

    python Benchmarks/peers/serve_bench.py <run dir> [--fusionlab BIN] [--seconds 10] [--threads 2] [--json-lines]

First both servers answer every payload once, and the largest |p_fusionlab − p_peer| and the label
agreement are printed: the two serve the same model. Then requests/s and p50/p99 latency at each
concurrency; the ratio is FusionLab's requests/s over the peer's. Needs wrk (Debian's package).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BOUNDARY = "fusionlab-bench-boundary"


def bodies(run_dir, out, count=32):
    with open(os.path.join(run_dir, "config.resolved.json")) as f:
        config = json.load(f)
    root = config["dataset"]["path"]  # absolute in the resolved configuration
    rows = [json.loads(line) for line in open(os.path.join(root, "samples.jsonl"))]
    rows = [r for r in rows if r.get("split") == "test"][:count] or rows[:count]
    paths = []
    for i, r in enumerate(rows):
        parts = []
        if r.get("text") is not None:
            parts.append((f'Content-Disposition: form-data; name="text"\r\n\r\n').encode() + r["text"].encode())
        for m in ("image", "audio"):
            if r.get(m):
                with open(os.path.join(root, r[m]), "rb") as f:
                    data = f.read()
                parts.append(f'Content-Disposition: form-data; name="{m}"; filename="{os.path.basename(r[m])}"\r\n'
                             f'Content-Type: application/octet-stream\r\n\r\n'.encode() + data)
        body = b"".join(f"--{BOUNDARY}\r\n".encode() + p + b"\r\n" for p in parts) + f"--{BOUNDARY}--\r\n".encode()
        path = os.path.join(out, f"body-{i}.bin")
        with open(path, "wb") as f:
            f.write(body)
        paths.append(path)
    return paths


def post(port, path):
    with open(path, "rb") as f:
        data = f.read()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/predict", data=data,
                                 headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def wait_health(port, process, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"server on {port} did not start")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--fusionlab", default=os.environ.get("FUSIONLAB", ".build/release/fusionlab"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--json-lines", action="store_true")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if not os.path.exists(os.path.join(args.run_dir, "features", "features.json")):
        subprocess.run([args.fusionlab, "export-features", args.run_dir, "-q"], check=True)
    work = tempfile.mkdtemp()
    paths = bodies(args.run_dir, work)
    servers = {
        "fusionlab": ([args.fusionlab, "serve", args.run_dir, "--port", "8181", "--threads", str(args.threads), "--quiet"], 8181),
        "fastapi+torch": ([sys.executable, os.path.join(HERE, "serve_peer.py"), args.run_dir, "--port", "8182",
                           "--threads", str(args.threads)], 8182),
    }
    results = {}
    for name, (command, port) in servers.items():
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            wait_health(port, process)
            results[name] = {"answers": [post(port, p) for p in paths]}
            for c in [int(x) for x in args.concurrency.split(",")]:
                env = dict(os.environ, SERVE_BODIES=work)
                subprocess.run(["wrk", "-t1", "-c1", "-d2s", "-s", os.path.join(HERE, "serve_wrk.lua"), f"http://127.0.0.1:{port}"],
                               env=env, capture_output=True)  # warm-up
                out = subprocess.run(["wrk", f"-t{min(c, 2)}", f"-c{c}", f"-d{args.seconds}s", "--timeout", "30s",
                                      "-s", os.path.join(HERE, "serve_wrk.lua"), f"http://127.0.0.1:{port}"],
                                     env=env, capture_output=True, text=True, check=True).stdout
                line = [l for l in out.splitlines() if l.startswith("{")][-1]
                results[name][c] = json.loads(line)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    a, b = results["fusionlab"]["answers"], results["fastapi+torch"]["answers"]
    diff = max(abs(x["probabilities"][k] - y["probabilities"][k]) for x, y in zip(a, b) for k in x["probabilities"])
    agree = sum(x["label"] == y["label"] for x, y in zip(a, b))
    print(f"same model: {len(a)} test payloads (image + audio + caption), max |p_fusionlab - p_peer| {diff:.2e}, labels agree {agree}/{len(a)}")
    print(f"| concurrency | FusionLab req/s | p50 ms | p99 ms | FastAPI+PyTorch req/s | p50 ms | p99 ms | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for c in [int(x) for x in args.concurrency.split(",")]:
        f, p = results["fusionlab"][c], results["fastapi+torch"][c]
        print(f"| {c} | {f['rps']:.0f} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | {p['rps']:.0f} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} | "
              f"{f['rps'] / max(p['rps'], 1e-9):.2f}x |" + (f" errors {f['errors']}/{p['errors']}" if f["errors"] or p["errors"] else ""))
        if args.json_lines:
            print(json.dumps({"workload": "serve", "concurrency": c, "fusionlab": f, "peer": p, "ratio": f["rps"] / max(p["rps"], 1e-9)}))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
