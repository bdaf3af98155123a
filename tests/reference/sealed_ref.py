#!/usr/bin/env python3
"""Independent reader of teelm sealed models, written from docs/sealed-format.md only
(python3-cryptography: HKDF + AES-GCM). Prints one JSON line:
  {"config": {...}, "arena_sha256": "...", "arena_bytes": N, "tokenizer_sha256": "..."|null,
   "tokenizer_name": ..., "tensors": N, "tensor_sha256": {name: sha256 of its bytes},
   "tokenizer_files": [{"name": ..., "bytes": N, "sha256": ...}] | null}
or exits 1 with "refused: <reason>" on stderr. For the Hugging Face families (config "arch") the
tensor offsets are recomputed from the shapes and dtypes ("Data" in the doc) and must match.
usage: sealed_ref.py KEYFILE SEALED_PATH"""
import hashlib
import json
import os
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def refuse(msg):
    sys.stderr.write("refused: %s\n" % msg)
    sys.exit(1)


def read_key(path):
    lines = open(path).read().splitlines()
    if not lines or lines[0] != "teelm-data-key v1":
        refuse("bad key file")
    kv = dict(l.split(": ", 1) for l in lines[1:] if l)
    return kv["key-id"], bytes.fromhex(kv["key"])


class SealedFile:
    def __init__(self, path, key_id, key):
        self.data = open(path, "rb").read()
        h = self.data[:192]
        if len(h) < 192 or h[:8] != b"TLSEALED":
            refuse("bad magic")
        version, hsize, flags = struct.unpack_from("<HHI", h, 8)
        if version != 1 or hsize != 192 or flags != 0:
            refuse("bad version/size/flags")
        self.model_id = h[16:48]
        self.index, self.count, self.chunk = struct.unpack_from("<III", h, 48)
        (self.nchunks,) = struct.unpack_from("<Q", h, 64)
        klen = h[72]
        kid = h[73:73 + klen].decode()
        if kid != key_id:
            refuse("key id")
        info = b"teelm-sealed-v1 file key" + struct.pack(">II", self.index, self.count)
        fk = HKDF(algorithm=hashes.SHA256(), length=32, salt=self.model_id, info=info).derive(key)
        self.gcm = AESGCM(fk)
        try:
            self.gcm.decrypt(struct.pack(">IQ", 1, 0), h[176:192], h[:176])
        except InvalidTag:
            refuse("header tag")
        if len(self.data) != 192 + self.nchunks * (self.chunk + 16):
            refuse("size")
        self.header = h
        stream = bytearray()
        for i in range(self.nchunks):
            off = 192 + i * (self.chunk + 16)
            ct = self.data[off:off + self.chunk + 16]  # ciphertext || tag, as AESGCM expects
            aad = h + struct.pack("<Q", i) + bytes([1 if i == self.nchunks - 1 else 0])
            try:
                stream += self.gcm.decrypt(struct.pack(">IQ", 0, i), ct, aad)
            except InvalidTag:
                refuse("chunk %d" % i)
        self.meta_len, self.blob_len, self.data_offset, self.data_len = struct.unpack_from("<QQQQ", stream, 0)
        if self.data_offset != 32 + self.meta_len + self.blob_len:
            refuse("descriptor")
        if not (self.data_offset + self.data_len > (self.nchunks - 1) * self.chunk):
            refuse("padding")
        self.meta = bytes(stream[32:32 + self.meta_len])
        self.blob = bytes(stream[32 + self.meta_len:self.data_offset])
        self.payload = bytes(stream[self.data_offset:self.data_offset + self.data_len])


def main():
    key_id, key = read_key(sys.argv[1])
    path = sys.argv[2]
    index = os.path.join(path, "model.sealed") if os.path.isdir(path) else path
    f0 = SealedFile(index, key_id, key)
    if f0.index != 0:
        refuse("not the index file")
    man = json.loads(f0.meta)
    if man["format"] != "teelm-sealed" or man["version"] != 1:
        refuse("manifest")
    files = man["files"]
    if len(files) != f0.count:
        refuse("file count")
    arena = bytearray(files[-1]["end"])
    parts = [f0]
    for i in range(1, f0.count):
        f = SealedFile(os.path.join(os.path.dirname(index), "part-%03d.sealed" % i), key_id, key)
        if f.model_id != f0.model_id or f.index != i or f.count != f0.count:
            refuse("foreign or misplaced file %d" % i)
        parts.append(f)
    at = 0
    for i, (f, ent) in enumerate(zip(parts, files)):
        if ent["begin"] != at or ent["end"] - ent["begin"] != f.data_len:
            refuse("file table")
        arena[ent["begin"]:ent["end"]] = f.payload
        at = ent["end"]
    arch = man["config"].get("arch", "seed")
    dsize = {"F32": 4, "F16": 2, "BF16": 2}
    sums, at = {}, 0
    for t in man["tensors"]:
        numel = 1
        for x in t["shape"]:
            numel *= x
        if arch == "seed":
            if "dtype" in t:
                refuse("seed tensor %s has a dtype" % t["name"])
            nbytes = numel * 4
        else:
            if t.get("dtype") not in dsize:
                refuse("tensor %s dtype %r" % (t["name"], t.get("dtype")))
            nbytes = numel * dsize[t["dtype"]]
            if t["offset"] != at:
                refuse("tensor %s offset %d, layout says %d" % (t["name"], t["offset"], at))
            at += (nbytes + 63) // 64 * 64
        if t["offset"] + nbytes > len(arena):
            refuse("tensor %s past the arena" % t["name"])
        sums[t["name"]] = hashlib.sha256(arena[t["offset"]:t["offset"] + nbytes]).hexdigest()
    if arch != "seed" and at != len(arena):
        refuse("arena is %d bytes, layout says %d" % (len(arena), at))
    tok = man.get("tokenizer")
    carried = man.get("tokenizer_files")
    if tok is not None and carried is not None:
        refuse("tokenizer and tokenizer_files")
    tfiles = None
    if carried is not None:
        tfiles, pos = [], 0
        if sum(c["bytes"] for c in carried) != len(f0.blob):
            refuse("tokenizer_files sizes")
        for c in carried:
            if "/" in c["name"] or c["name"].startswith("."):
                refuse("tokenizer file name %r" % c["name"])
            part = f0.blob[pos:pos + c["bytes"]]
            pos += c["bytes"]
            tfiles.append({"name": c["name"], "bytes": c["bytes"], "sha256": hashlib.sha256(part).hexdigest()})
    elif tok is not None and tok["bytes"] != len(f0.blob):
        refuse("tokenizer size")
    out = {
        "config": man["config"],
        "arena_bytes": len(arena),
        "arena_sha256": hashlib.sha256(arena).hexdigest(),
        "tokenizer_name": tok["name"] if tok else None,
        "tokenizer_sha256": hashlib.sha256(f0.blob).hexdigest() if tok else None,
        "tensors": len(man["tensors"]),
        "tensor_sha256": sums,
        "tokenizer_files": tfiles,
    }
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
