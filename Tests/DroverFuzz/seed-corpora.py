#!/usr/bin/env python3
"""Writes the fuzz targets' starting corpora (Tests/DroverFuzz/Corpus/TARGET/) from the
inputs the tests already use: the example manifests and inventory, the TOML, names and spec
values of the unit tests, and tarballs of each kind the extractor must refuse. Run from the
repository's top; the files it writes are committed. Inputs libFuzzer finds later are kept
out of the committed corpus unless they found a defect (then they go in as regressions)."""
import base64, hashlib, io, json, os, re, tarfile

top = "Tests/DroverFuzz/Corpus"

def write(target, name, data):
    os.makedirs(f"{top}/{target}", exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(f"{top}/{target}/{name}", "wb") as f:
        f.write(data)

def swift_strings(path):
    text = open(path, encoding="utf-8").read()
    blocks = re.findall(r'"""\n(.*?)\n\s*"""', text, re.S)
    for block in blocks:
        lines = block.split("\n")
        indent = min((len(l) - len(l.lstrip()) for l in lines if l.strip()), default=0)
        yield "\n".join(l[indent:] for l in lines)
    for literal in re.findall(r'(?<![\\"])"((?:[^"\\\n]|\\.){1,200})"', text):
        yield literal

# manifest: the examples, every multi-line TOML of the manifest and inventory tests
for name in ["example.toml", "hosts.example.toml"]:
    write("manifest", name, open(f"deploy/{name}", encoding="utf-8").read())
n = 0
import glob
for path in sorted(glob.glob("Tests/*/*.swift")):
    for block in swift_strings(path):
        if "\n" in block and ("artifact" in block or "[hosts" in block):
            n += 1  # interpolations become a plain value
            write("manifest", f"test-{n:03}.toml", re.sub(r"\\\([^()]*(\([^()]*\))?[^()]*\)", "1", block))

# names: service names, versions, listen values and cursors the tests use, good and bad
names = ["web", "api-2", "a", "-web", "web_1", "WEB", "x" * 64, "x" * 65, "1.0", "v2.3.4-rc1", "..", "a/b", "we\u0301b",
         "0.0.0.0:8080", "8080", "[::1]:443", "[::]:80", "localhost:80", "010", "65536", "1.2.3.4:0", "[fe80::1%eth0]:80",
         "drover-web_1.0@3.service", "drover-web_1.0@.service", "s=abc;i=1;b=2;m=3;t=4;x=5"]
for i, value in enumerate(names):
    write("names", f"seed-{i:03}", value.encode() + b"\0" + b"1.0")

# unit: fields (binary, then arguments / environment values / names / sandbox values in turn)
values = ["x\"\u0301 DROVER_VERSION=evil", "\u0600\" B=2", "%\u0301h", "\\\u0301", "a\u0600\\", "50%\u0301",
          "\u0301\"\u0301\"\u0301", "\U0001F600\"\U0001F600", "$HOME \"${PORT}\"", "read-only", "yes", "/srv/data",
          "a\nb", "semi;colon", "%i", "%%", "tab\there", "' quoted '"]
for i in range(0, len(values), 4):
    write("unit", f"seed-{i:03}", "\0".join(["bin/web"] + values[i:i + 8]))

# request: selector byte, then the payload
spec = {"binary": "web", "arguments": ["--port", "${PORT}"], "environment": {"MODE": "production"}, "type": "notify",
        "listen": "0.0.0.0:8080", "health": {"path": "/healthz", "timeoutSeconds": 0.5, "intervalSeconds": 1},
        "resources": {"cpuPercent": 50, "memoryBytes": 536870912}, "sandbox": {"ProtectHome": "read-only"}}
digest = hashlib.sha256(b"hello").digest()
requests = [
    (0, base64.b64encode(json.dumps(spec).encode())), (0, b"not base64"), (0, base64.b64encode(b'{"binary": "../x"}')),
    (1, base64.b64encode(json.dumps({"DB_PASSWORD": base64.b64encode(b"s3cret").decode()}).encode())),
    (2, b"sha-256=:" + base64.b64encode(digest) + b":"), (2, b"sha-512=:abc:, sha-256=:AAAA:"),
    (3, json.dumps(spec).encode()), (3, b'{"binary": "web", "startTimeoutSeconds": 1e300}'),
    (4, b'{"min": 1, "max": 4, "cpu": 60, "memoryBytes": 268435456, "tolerance": 0.1, "maxStepUp": 2, "intervalSeconds": 15, "scaleDownStabilizationSeconds": 300}'), (5, b'{"cpuPercent": 150, "memoryBytes": 536870912}'),
    (6, b'{"maxSurge": 1, "maxUnavailable": 0, "minHealthySeconds": 3, "canary": 1, "autoPromoteSeconds": 600}'),
    (7, b'{"version": "1.0", "instances": 3, "strategy": {"maxSurge": 2, "deadlineSeconds": 120}, "supersede": true}'), (8, b'{"instances": 3}'), (8, b'{"version": "1.0"}'),
    (9, b'{"id": "lease-0123456789ab", "holder": "alice", "operation": "deploy", "message": "incident 42", "ttlSeconds": 30}'), (9, b'{"command": ["./web", "migrate"], "timeoutSeconds": 60}'),
]
for i, (selector, payload) in enumerate(requests):
    write("request", f"seed-{i:03}", bytes([selector]) + payload)

# tarball: one of each kind, uncompressed (so mutations reach the tar reader) and one gzipped
def tarball(entries, gzip=False):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzip else "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()

def entry(name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o755):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    return info, None

kinds = {
    "release": [entry("bin", tarfile.DIRTYPE), entry("bin/web", data=b"#!/bin/sh\necho hi\n"), entry("web", tarfile.SYMTYPE, link="bin/web")],
    "dotdot": [entry("../escape", data=b"x")],
    "absolute": [entry("/tmp/escape", data=b"x")],
    "symlink-out": [entry("link", tarfile.SYMTYPE, link="../../etc"), entry("link/passwd", data=b"x")],
    "symlink-chain": [entry("a", tarfile.SYMTYPE, link="b"), entry("b", tarfile.SYMTYPE, link="c/.."), entry("c", tarfile.SYMTYPE, link="..")],
    "hardlink": [entry("h", tarfile.LNKTYPE, link="/etc/passwd")],
    "device": [entry("dev", tarfile.CHRTYPE)],
    "fifo": [entry("fifo", tarfile.FIFOTYPE)],
    "setuid": [entry("suid", data=b"x", mode=0o4755)],
}
for name, entries in kinds.items():
    write("tarball", name + ".tar", tarball(entries))
write("tarball", "release.tar.gz", tarball(kinds["release"], gzip=True))
