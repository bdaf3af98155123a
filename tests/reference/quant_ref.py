#!/usr/bin/env python3
"""Independent numpy reference for ggml's block-quantized types (docs/quantization.md), written
from the layouts in ggml-common.h and the arithmetic of ggml-quants.c / ggml-cpu's x86 quants.c:

  Q8_0  34 bytes / 32: f16 d; int8 qs[32]                      w = d * q
  Q4_0  18 bytes / 32: f16 d; u8 qs[16] (j low nibble, j+16 high)  w = d * (q - 8)
  Q4_K 144 bytes / 256: f16 d, dmin; 12 bytes of 6-bit scales/mins; u8 qs[128]
                        w = d*sc[s]*q - dmin*m[s], sub-blocks s of 32
  Q6_K 210 bytes / 256: u8 ql[128], qh[64]; int8 scales[16]; f16 d   w = d*sc[s]*(q - 32), s of 16
  Q8_K (activations) 292 bytes / 256: f32 d; int8 qs[256]; int16 bsums[16]

Activations are quantized per block to Q8_0 (weights Q8_0/Q4_0) or Q8_K (Q4_K/Q6_K); a dot
product keeps 8 float32 lanes, lane k taking elements 4k..4k+3 of every 32, multiply-adds each
block's exact integer lane sum with the block's combined scale (fused, one rounding), and
reduces the lanes as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).

llama.cpp repacks Q4_0 and Q4_K matrices whose row count is a multiple of 8 (x86 with AVX2) and
computes them with its interleaved kernels: per output ONE float chain over the blocks,
acc = fma(float(block's exact integer sum), d_w * d_x, acc); Q4_K keeps a second chain for the
minimums and returns acc - accm, and its gemm (rows of a batch in groups of four) takes one FMA
per pair of sub-blocks where its gemv takes one per block (dot_rows8).

Modes:
  kernels OUT [--seed S] [--rows R]   random rows of every type with the expected bytes and bits
  kernels8 OUT [--seed S]             random 8-row Q4_0/Q4_K matrices, 1-4 activation rows, the
                                      repacked kernels' bits
  model OUT --type T [--seed S] ...   a random Llama model with its matrices in type T, and the
                                      greedy tokens / logits of this arithmetic
"""
import argparse
import json
import struct
import sys

import numpy as np

f32 = np.float32
TYPES = {"Q8_0": (32, 34), "Q4_0": (32, 18), "Q4_K": (256, 144), "Q6_K": (256, 210)}


# ---- float helpers ----

def h2f(u16):
    return np.asarray(u16, dtype=np.uint16).view(np.float16).astype(np.float32)


def f2h(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16).view(np.uint16)  # round to nearest even


def fma32(a, b, c):
    """Correctly rounded float32 fma, elementwise: a*b is exact in float64; a TwoSum gives the
    exact a*b + c as s + e; rounding s to float32 is right unless s is a float32 midpoint, where
    the sign of e decides."""
    a, b, c = (np.asarray(v, dtype=np.float64) for v in (a, b, c))
    p = a * b
    s = p + c
    bb = s - p
    e = (p - (s - bb)) + (c - bb)
    r = s.astype(np.float32)
    up = np.nextafter(r, np.float32(np.inf))
    dn = np.nextafter(r, np.float32(-np.inf))
    other = np.where(s > r.astype(np.float64), up, dn)
    mid = (r.astype(np.float64) + other.astype(np.float64)) / 2 == s
    fix = mid & (e != 0) & ((e > 0) == (other.astype(np.float64) > r.astype(np.float64)))
    return np.where(fix, other, r).astype(np.float32)


def hsum8(acc):
    """acc [..., 8] float32 -> ggml's hsum_float_8"""
    r = [acc[..., 4 + i] + acc[..., i] for i in range(4)]
    return (r[0] + r[2]) + (r[1] + r[3])


# ---- activations ----

def quant_q8_0_act(x):
    """ggml-cpu x86 quantize_row_q8_0: d = amax/127 (f16), multiplier 127/amax, round to nearest
    even; -> (d_f16 [nb], qs [nb, 32] int8)"""
    x = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    d = f2h(amax / f32(127))
    with np.errstate(divide="ignore"):
        idv = np.where(amax != 0, f32(127) / amax, f32(0)).astype(np.float32)
    q = np.rint(x * idv[:, None]).clip(-128, 127).astype(np.int8)
    return d, q


def q8_0_act_bytes(d, q):
    out = bytearray()
    for i in range(len(d)):
        out += struct.pack("<H", int(d[i])) + q[i].tobytes()
    return bytes(out)


def quant_q8_K_act(x):
    """quantize_row_q8_K_ref -> (d f32 [nb], qs [nb,256] int8, bsums [nb,16] int16)"""
    x = np.asarray(x, dtype=np.float32).reshape(-1, 256)
    nb = x.shape[0]
    d = np.zeros(nb, np.float32)
    q = np.zeros((nb, 256), np.int8)
    for i in range(nb):
        ax = np.abs(x[i])
        j = int(np.argmax(ax))  # the first maximum, as the strict '>' scan
        if ax[j] == 0:
            continue
        iscale = f32(-127) / x[i, j]
        v = np.rint(iscale * x[i])  # nearest_int: round half to even
        q[i] = np.minimum(v, 127).astype(np.int8)
        d[i] = f32(1) / iscale
    bs = q.astype(np.int32).reshape(nb, 16, 16).sum(axis=2).astype(np.int16)
    return d, q, bs


def q8_K_act_bytes(d, q, bs):
    out = bytearray()
    for i in range(len(d)):
        out += struct.pack("<f", float(d[i])) + q[i].tobytes() + bs[i].astype("<i2").tobytes()
    return bytes(out)


# ---- weights: unpack to integers and scales ----

def unpack(t, raw, n):
    """raw bytes of one row of n weights -> dict of numpy arrays per block"""
    bk, bb = TYPES[t]
    nb = n // bk
    a = np.frombuffer(raw, dtype=np.uint8).reshape(nb, bb)
    if t == "Q8_0":
        return {"d": h2f(a[:, 0:2].copy().view("<u2")[:, 0]), "q": a[:, 2:].view(np.int8).astype(np.int32)}
    if t == "Q4_0":
        qs = a[:, 2:].astype(np.int32)
        q = np.concatenate([(qs & 15) - 8, (qs >> 4) - 8], axis=1)
        return {"d": h2f(a[:, 0:2].copy().view("<u2")[:, 0]), "q": q}
    if t == "Q4_K":
        d = h2f(a[:, 0:2].copy().view("<u2")[:, 0])
        dmin = h2f(a[:, 2:4].copy().view("<u2")[:, 0])
        s = a[:, 4:16].astype(np.int32)
        sc = np.zeros((nb, 8), np.int32)
        mn = np.zeros((nb, 8), np.int32)
        for j in range(8):
            if j < 4:
                sc[:, j] = s[:, j] & 63
                mn[:, j] = s[:, j + 4] & 63
            else:
                sc[:, j] = (s[:, j + 4] & 15) | ((s[:, j - 4] >> 6) << 4)
                mn[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
        qs = a[:, 16:].astype(np.int32).reshape(nb, 4, 32)
        q = np.stack([qs & 15, qs >> 4], axis=2).reshape(nb, 256)  # per 64: 32 low nibbles, 32 high
        return {"d": d, "dmin": dmin, "sc": sc, "mn": mn, "q": q}
    if t == "Q6_K":
        ql = a[:, 0:128].astype(np.int32).reshape(nb, 2, 64)
        qh = a[:, 128:192].astype(np.int32).reshape(nb, 2, 32)
        sc = a[:, 192:208].view(np.int8).astype(np.int32)
        d = h2f(a[:, 208:210].copy().view("<u2")[:, 0])
        q = np.zeros((nb, 2, 128), np.int32)
        for t4 in range(4):
            lo = (ql[:, :, 32 * (t4 & 1):32 * (t4 & 1) + 32] >> (4 if t4 & 2 else 0)) & 15
            q[:, :, 32 * t4:32 * t4 + 32] = (lo | (((qh >> (2 * t4)) & 3) << 4)) - 32
        return {"d": d, "sc": sc, "q": q.reshape(nb, 256)}
    raise ValueError(t)


def dequant(t, raw, n):
    u = unpack(t, raw, n)
    if t in ("Q8_0", "Q4_0"):
        return (u["q"].astype(np.float32) * u["d"][:, None]).reshape(-1)
    if t == "Q4_K":
        d1 = (u["d"][:, None] * u["sc"].astype(np.float32))  # [nb, 8]
        m1 = (u["dmin"][:, None] * u["mn"].astype(np.float32))
        q = u["q"].reshape(-1, 8, 32).astype(np.float32)
        return (d1[:, :, None] * q - m1[:, :, None]).reshape(-1)
    if t == "Q6_K":
        ds = u["d"][:, None] * u["sc"].astype(np.float32)  # [nb, 16]
        q = u["q"].reshape(-1, 16, 16).astype(np.float32)
        return (ds[:, :, None] * q).reshape(-1)
    raise ValueError(t)


def lane_sums(q, xq, groups):
    """integer lane sums: q, xq [nb, 32*groups] -> [nb, groups, 8] (lane k: elements 4k..4k+3)"""
    p = q.astype(np.int64) * xq.astype(np.int64)
    return p.reshape(q.shape[0], groups, 8, 4).sum(axis=3)


class Act:
    """a row of activations quantized for weight type t"""

    def __init__(self, t, x):
        self.t = t
        if t in ("Q8_0", "Q4_0"):
            self.d16, self.q = quant_q8_0_act(x)
            self.d = h2f(self.d16)
            self.raw = q8_0_act_bytes(self.d16, self.q)
        else:
            self.d, self.q, self.bs = quant_q8_K_act(x)
            self.raw = q8_K_act_bytes(self.d, self.q, self.bs)


def dot_rows(t, W, act):
    """W: unpack() of O rows stacked (dict of arrays [O, nb, ...]); act: Act -> float32 [O]"""
    O, nb = W["q"].shape[0], W["q"].shape[1]
    acc = np.zeros((O, 8), np.float32)
    if t in ("Q8_0", "Q4_0"):
        for b in range(nb):
            s = (W["q"][:, b, :].astype(np.int64) * act.q[b].astype(np.int64)).reshape(O, 8, 4).sum(axis=2)
            d = (W["d"][:, b] * act.d[b]).astype(np.float32)
            acc = fma32(d[:, None], s.astype(np.float32), acc)
        return hsum8(acc)
    if t == "Q4_K":
        accm = np.zeros((O, 4), np.float32)
        for b in range(nb):
            yd = act.d[b]
            d = (yd * W["d"][:, b]).astype(np.float32)
            dmin = (-yd * W["dmin"][:, b]).astype(np.float32)
            bs = act.bs[b].astype(np.int64)
            s8 = bs.reshape(8, 2).sum(axis=1)  # per sub-block of 32
            mn = W["mn"][:, b, :].astype(np.int64)
            prod = (mn * s8[None, :]).reshape(O, 4, 2).sum(axis=2)
            accm = fma32(dmin[:, None], prod.astype(np.float32), accm)
            q = W["q"][:, b, :].astype(np.int64).reshape(O, 8, 8, 4)  # sub-block, lane, 4
            x = act.q[b].astype(np.int64).reshape(8, 8, 4)
            per = (q * x[None]).sum(axis=3)  # [O, 8 sub-blocks, 8 lanes]
            s = (per * W["sc"][:, b, :, None].astype(np.int64)).sum(axis=1)
            acc = fma32(d[:, None], s.astype(np.float32), acc)
        return hsum8(acc) + ((accm[:, 0] + accm[:, 2]) + (accm[:, 1] + accm[:, 3]))
    if t == "Q6_K":
        for b in range(nb):
            d = (act.d[b] * W["d"][:, b]).astype(np.float32)
            # the unsigned 6-bit values; ggml takes their -32 back from the activations' 16-element
            # sums, lane k that of group k
            q = (W["q"][:, b, :].astype(np.int64) + 32).reshape(O, 8, 8, 4)  # groups of 32, lanes
            x = act.q[b].astype(np.int64).reshape(8, 8, 4)
            per = (q * x[None]).sum(axis=3)  # [O, 8, 8]
            sc = W["sc"][:, b, :].astype(np.int64).reshape(O, 8, 2)  # groups of 32: halves of 16
            lane_sc = np.repeat(sc, 4, axis=2)  # lanes 0..3 first half, 4..7 second
            bs = act.bs[b].astype(np.int64).reshape(8, 2)
            s = (per * lane_sc).sum(axis=1) - 32 * (sc * bs[None]).sum(axis=2)
            acc = fma32(d[:, None], s.astype(np.float32), acc)
        return hsum8(acc)
    raise ValueError(t)


def stack_rows(t, raws, n):
    us = [unpack(t, r, n) for r in raws]
    return {k: np.stack([u[k] for u in us]) for k in us[0]}


def dot_rows8(t, W, act, gemm):
    """the repacked kernels (ggml_gemv / ggml_gemm_<t>_8x8): W as for dot_rows -> float32 [O]"""
    O, nb = W["q"].shape[0], W["q"].shape[1]
    acc = np.zeros(O, np.float32)
    if t == "Q4_0":
        for b in range(nb):
            s = (W["q"][:, b, :].astype(np.int64) * act.q[b].astype(np.int64)).sum(axis=1)
            d = (W["d"][:, b] * act.d[b]).astype(np.float32)  # f16 * f16: exact in float32
            acc = fma32(s.astype(np.float32), d, acc)
        return acc
    if t == "Q4_K":
        accm = np.zeros(O, np.float32)
        for b in range(nb):
            yd = act.d[b]
            d = (W["d"][:, b] * yd).astype(np.float32)
            dm = (W["dmin"][:, b] * yd).astype(np.float32)
            s8 = act.bs[b].astype(np.int64).reshape(8, 2).sum(axis=1)  # per sub-block of 32
            q = W["q"][:, b, :].astype(np.int64).reshape(O, 8, 32)
            x = act.q[b].astype(np.int64).reshape(8, 32)
            per = (q * x[None]).sum(axis=2) * W["sc"][:, b, :].astype(np.int64)  # [O, 8 sub-blocks]
            mins = W["mn"][:, b, :].astype(np.int64) * s8[None, :]
            if gemm:  # one FMA per pair of sub-blocks
                for g in range(4):
                    acc = fma32(per[:, 2 * g:2 * g + 2].sum(axis=1).astype(np.float32), d, acc)
                    accm = fma32(mins[:, 2 * g:2 * g + 2].sum(axis=1).astype(np.float32), dm, accm)
            else:
                acc = fma32(per.sum(axis=1).astype(np.float32), d, acc)
                accm = fma32(mins.sum(axis=1).astype(np.float32), dm, accm)
        return (acc - accm).astype(np.float32)
    raise ValueError(t)


def repacked(t, rows):
    return t in ("Q4_0", "Q4_K") and rows % 8 == 0


# ---- weight quantizers ----

def quant_q8_0_w(x):
    """quantize_row_q8_0_ref: d = amax/127, q = roundf(x * (1/d)) (half away from zero)"""
    x = np.asarray(x, np.float32).reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    d = (amax / f32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, f32(1) / d, f32(0)).astype(np.float32)
    v = (x * idv[:, None]).astype(np.float64)  # floor(|v| + 0.5) in float64: exact, unlike in float32
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)
    out = np.zeros((x.shape[0], 34), np.uint8)
    out[:, 0:2] = f2h(d).astype("<u2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def quant_q4_0_w(x):
    """quantize_row_q4_0_ref: d = (signed extreme)/-8, q = min(15, trunc(x/d + 8.5))"""
    x = np.asarray(x, np.float32).reshape(-1, 32)
    j = np.argmax(np.abs(x), axis=1)  # the first maximum, as the strict '<' scan
    mx = x[np.arange(x.shape[0]), j]
    d = (mx / f32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, f32(1) / d, f32(0)).astype(np.float32)
    v = ((x * idv[:, None]).astype(np.float32) + f32(8.5)).astype(np.float32)
    q = np.minimum(15, np.trunc(v).astype(np.int32))
    out = np.zeros((x.shape[0], 18), np.uint8)
    out[:, 0:2] = f2h(d).astype("<u2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = ((q[:, :16] | (q[:, 16:] << 4)) & 255).astype(np.uint8)
    return out.tobytes()


def quant_q4_K_w(x):
    """A simple Q4_K quantizer (not ggml's iterative make_qkx2_quants search: the engine and this
    reference only read the blocks): per sub-block of 32, min and scale from its range."""
    x = np.asarray(x, np.float32).reshape(-1, 256)
    out = bytearray()
    for blk in x:
        sb = blk.reshape(8, 32)
        mins = np.maximum(0, -sb.min(axis=1))
        scales = (sb.max(axis=1) + mins) / 15
        dmax, mmax = scales.max() / 63 or 1e-8, mins.max() / 63 or 1e-8
        d, dmin = h2f(f2h(dmax)), h2f(f2h(mmax))
        ls = np.clip(np.rint(scales / d), 0, 63).astype(np.int32)
        lm = np.clip(np.rint(mins / dmin), 0, 63).astype(np.int32)
        q = np.zeros((8, 32), np.int32)
        for s in range(8):
            if ls[s]:
                q[s] = np.clip(np.rint((sb[s] + dmin * lm[s]) / (d * ls[s])), 0, 15)
        pk = np.zeros(12, np.int32)
        for j in range(8):
            if j < 4:
                pk[j] = ls[j]
                pk[j + 4] = lm[j]
            else:
                pk[j + 4] = (ls[j] & 15) | ((lm[j] & 15) << 4)
                pk[j - 4] |= (ls[j] >> 4) << 6
                pk[j] |= (lm[j] >> 4) << 6
        qs = np.zeros(128, np.int32)
        for g in range(4):
            qs[32 * g:32 * g + 32] = q[2 * g] | (q[2 * g + 1] << 4)
        out += struct.pack("<HH", int(f2h(d)), int(f2h(dmin))) + bytes(pk.astype(np.uint8)) + bytes(qs.astype(np.uint8))
    return bytes(out)


def quant_q6_K_w(x):
    """A simple Q6_K quantizer (not ggml's make_qx_quants search): scale per 16 from its range."""
    x = np.asarray(x, np.float32).reshape(-1, 256)
    out = bytearray()
    for blk in x:
        sb = blk.reshape(16, 16)
        amax = np.abs(sb).max(axis=1)
        sc = amax / 31
        d = h2f(f2h(sc.max() / 127 or 1e-8))
        ls = np.clip(np.rint(sc / d), -128, 127).astype(np.int32)
        q = np.zeros((16, 16), np.int32)
        for s in range(16):
            if ls[s]:
                q[s] = np.clip(np.rint(sb[s] / (d * ls[s])), -32, 31)
        q = (q.reshape(256) + 32)
        ql = np.zeros(128, np.int32)
        qh = np.zeros(64, np.int32)
        for h in range(2):
            L = q[128 * h:128 * h + 128]
            for l in range(32):
                q1, q2, q3, q4 = L[l], L[l + 32], L[l + 64], L[l + 96]
                ql[64 * h + l] = (q1 & 15) | ((q3 & 15) << 4)
                ql[64 * h + l + 32] = (q2 & 15) | ((q4 & 15) << 4)
                qh[32 * h + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
        out += bytes(ql.astype(np.uint8)) + bytes(qh.astype(np.uint8)) + bytes(ls.astype(np.int8).view(np.uint8)) \
            + struct.pack("<H", int(f2h(d)))
    return bytes(out)


QUANT_W = {"Q8_0": quant_q8_0_w, "Q4_0": quant_q4_0_w, "Q4_K": quant_q4_K_w, "Q6_K": quant_q6_K_w}


# ---- mode: kernels ----

def random_blocks(t, rng, n):
    """random bytes with sane f16 scales (finite, varied magnitudes and signs)"""
    bk, bb = TYPES[t]
    a = rng.integers(0, 256, size=(n // bk, bb), dtype=np.uint8)

    def scl(k):
        return f2h((rng.choice([-1, 1], k) * 10.0 ** rng.uniform(-4, 0, k)).astype(np.float32))
    nb = n // bk
    if t in ("Q8_0", "Q4_0"):
        a[:, 0:2] = scl(nb).view(np.uint8).reshape(nb, 2)
    elif t == "Q4_K":
        a[:, 0:4] = np.stack([scl(nb), scl(nb)], axis=1).astype("<u2").view(np.uint8).reshape(nb, 4)
    else:
        a[:, 208:210] = scl(nb).view(np.uint8).reshape(nb, 2)
    return a.tobytes()


def random_acts(rng, n, case):
    x = (rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 2)).astype(np.float32)
    if case == 1:  # ties: values k + 0.5 after the 127/amax scaling (amax 127 -> multiplier 1)
        x = (rng.integers(-126, 126, n) + 0.5).astype(np.float32)
        x[::32] = 127
    elif case == 2:  # a zero block and a single spike
        x[:32] = 0
        x[40:] *= 1e-3
    elif case == 3:  # negative extremes (the Q8_K scale takes the sign)
        x[::17] = -np.abs(x).max() * 2
    return x


def write_kernels(out, seed, rows):
    """Binary: 'QREF' u32 count, then per case: type name (8 bytes), u32 n, f32 x[n], weights,
    quantized activations, f32 dequantized weights[n], f32 dot (and for Q8_0/Q4_0 the weight
    quantization of x by the _ref quantizer)."""
    rng = np.random.default_rng(seed)
    cases = []
    for t in TYPES:
        bk = TYPES[t][0]
        for r in range(rows):
            n = bk * int(rng.integers(1, 5)) * (1 if bk == 256 else 4)
            x = random_acts(rng, n, r % 4)
            w = random_blocks(t, rng, n)
            act = Act(t, x)
            dq = dequant(t, w, n).astype(np.float32)
            dot = dot_rows(t, stack_rows(t, [w], n), act)[0]
            wq = QUANT_W[t](x) if t in ("Q8_0", "Q4_0") else b""
            cases.append((t, n, x, w, act.raw, dq, dot, wq))
    with open(out, "wb") as f:
        f.write(b"QREF" + struct.pack("<I", len(cases)))
        for t, n, x, w, araw, dq, dot, wq in cases:
            f.write(t.encode().ljust(8, b"\0") + struct.pack("<I", n))
            f.write(x.astype("<f4").tobytes() + w + araw + dq.astype("<f4").tobytes())
            f.write(struct.pack("<f", float(dot)) + struct.pack("<I", len(wq)) + wq)


def write_kernels8(out, seed):
    """Binary: 'QR8K' u32 count, then per case: type name (8 bytes), u32 n, u32 R, u8 gemm[4], the
    8 weight rows, the R quantized activation rows, f32 out[R][8]."""
    rng = np.random.default_rng(seed)
    cases = []
    for t in ("Q4_0", "Q4_K"):
        bk = TYPES[t][0]
        for c in range(24):
            n = bk * int(rng.integers(1, 5)) * (1 if bk == 256 else 4)
            R = int(rng.integers(1, 5))
            gemm = [int(v) for v in rng.integers(0, 2, 4)]
            ws = [random_blocks(t, rng, n) for _ in range(8)]
            acts = [Act(t, random_acts(rng, n, (c + r) % 4)) for r in range(R)]
            W = stack_rows(t, ws, n)
            res = np.stack([dot_rows8(t, W, acts[r], gemm[r]) for r in range(R)])
            cases.append((t, n, R, gemm, b"".join(ws), b"".join(a.raw for a in acts), res))
    with open(out, "wb") as f:
        f.write(b"QR8K" + struct.pack("<I", len(cases)))
        for t, n, R, gemm, w, a, res in cases:
            f.write(t.encode().ljust(8, b"\0") + struct.pack("<II", n, R) + bytes(gemm) + w + a)
            f.write(res.astype("<f4").tobytes())


# ---- mode: model ----

def rms(x, w, eps):
    v = (x.astype(np.float64) ** 2).mean(axis=-1, keepdims=True)
    return (x / np.sqrt(v + eps)).astype(np.float32) * w


def model(args):
    rng = np.random.default_rng(args.seed)
    t = args.type
    d, L, H, KV, ff, V = args.d, args.layers, args.heads, args.kv_heads, args.ff, args.vocab
    hd = d // H
    ws = {}

    def mat(name, o, i, quant=True):
        w = (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)
        if quant:
            raw = b"".join(QUANT_W[t](row) for row in w)
            ws[name] = (t, raw, (o, i))
        else:
            ws[name] = ("F32", w.astype("<f4").tobytes(), (o, i))

    def vec(name, n):
        ws[name] = ("F32", (1 + 0.1 * rng.standard_normal(n)).astype("<f4").tobytes(), (n,))
    mat("model.embed_tokens.weight", V, d)
    for l in range(L):
        p = "model.layers.%d." % l
        vec(p + "input_layernorm.weight", d)
        mat(p + "self_attn.q_proj.weight", H * hd, d)
        mat(p + "self_attn.k_proj.weight", KV * hd, d)
        mat(p + "self_attn.v_proj.weight", KV * hd, d)
        mat(p + "self_attn.o_proj.weight", d, H * hd)
        vec(p + "post_attention_layernorm.weight", d)
        mat(p + "mlp.gate_proj.weight", ff, d)
        mat(p + "mlp.up_proj.weight", ff, d)
        mat(p + "mlp.down_proj.weight", d, ff)
    vec("model.norm.weight", d)
    mat("lm_head.weight", V, d)
    with open(args.out + ".w", "wb") as f:
        hdr = [{"name": k, "dtype": v[0], "shape": list(v[2]), "bytes": len(v[1])} for k, v in ws.items()]
        h = json.dumps(hdr).encode()
        f.write(struct.pack("<Q", len(h)) + h)
        for v in ws.values():
            f.write(v[1])

    def W(name):
        dt, raw, shp = ws[name]
        if dt == "F32":
            return np.frombuffer(raw, "<f4").reshape(shp)
        rb = len(raw) // shp[0]
        return stack_rows(dt, [raw[i * rb:(i + 1) * rb] for i in range(shp[0])], shp[1])
    Wc = {k: W(k) for k in ws}

    def lin(name, x, gemm=False):
        dt, shp = ws[name][0], ws[name][2]
        act = Act(dt, x)
        if repacked(dt, shp[0]):
            return dot_rows8(dt, Wc[name], act, gemm)
        return dot_rows(dt, Wc[name], act)
    emb_dt, emb_raw, _ = ws["model.embed_tokens.weight"]
    erb = len(emb_raw) // V
    inv = (1.0 / (args.theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))).astype(np.float32)
    eps = 1e-5
    kc = [[] for _ in range(L)]
    vc = [[] for _ in range(L)]
    ids = [int(v) for v in args.ids.split(",")]
    toks, logits_all, margins = [], [], []

    def step(tok, pos, gemm=False):
    # gemm: the row is one of a batch's whole groups of four rows (teelm: the prompt, in one call)
        h = dequant(emb_dt, emb_raw[tok * erb:(tok + 1) * erb], d).astype(np.float32)
        ang = pos * inv.astype(np.float64)
        cos, sin = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)

        def rope(v):
            v = v.reshape(-1, hd)
            a, b = v[:, :hd // 2], v[:, hd // 2:]
            return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=1)
        for l in range(L):
            p = "model.layers.%d." % l
            x = rms(h, Wc[p + "input_layernorm.weight"], eps)
            q = rope(lin(p + "self_attn.q_proj.weight", x, gemm))
            k = rope(lin(p + "self_attn.k_proj.weight", x, gemm))
            v = lin(p + "self_attn.v_proj.weight", x, gemm).reshape(KV, hd)
            kc[l].append(k)
            vc[l].append(v)
            K = np.stack(kc[l])  # [T, KV, hd]
            Vv = np.stack(vc[l])
            att = np.zeros((H, hd), np.float32)
            for hh in range(H):
                g = hh // (H // KV)
                sc = (K[:, g, :] @ q[hh]).astype(np.float32) / np.float32(np.sqrt(hd))
                e = np.exp(sc - sc.max())
                att[hh] = (e / e.sum()) @ Vv[:, g, :]
            h = h + lin(p + "self_attn.o_proj.weight", att.reshape(-1), gemm)
            x = rms(h, Wc[p + "post_attention_layernorm.weight"], eps)
            # the last layer past attention: only the rows whose logits are asked for, one here (gemv)
            gf = gemm and l < L - 1
            gg = lin(p + "mlp.gate_proj.weight", x, gf)
            u = lin(p + "mlp.up_proj.weight", x, gf)
            h = h + lin(p + "mlp.down_proj.weight", (gg / (1 + np.exp(-gg))) * u, gf)
        return lin("lm_head.weight", rms(h, Wc["model.norm.weight"], eps))
    seq = list(ids)
    whole = len(ids) - len(ids) % 4  # the prompt's rows in groups of four (gemm); the head: one row
    for pos, tk in enumerate(seq[:-1]):
        step(tk, pos, pos < whole)
    for i in range(args.new):
        lg = step(seq[-1], len(seq) - 1, i == 0 and len(ids) - 1 < whole)
        srt = np.sort(lg)
        margins.append(float(srt[-1] - srt[-2]))
        nxt = int(np.argmax(lg))
        logits_all.append(lg.astype(np.float32))
        toks.append(nxt)
        seq.append(nxt)
    with open(args.out + ".ref", "w") as f:
        json.dump({"tokens": toks, "margins": margins,
                   "config": {"d": d, "layers": L, "heads": H, "kv_heads": KV, "ff": ff, "vocab": V,
                              "theta": args.theta, "eps": eps, "ids": ids}}, f)
    np.asarray(logits_all, "<f4").tofile(args.out + ".logits")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    k = sub.add_parser("kernels")
    k.add_argument("out")
    k.add_argument("--seed", type=int, default=1)
    k.add_argument("--rows", type=int, default=24)
    k8 = sub.add_parser("kernels8")
    k8.add_argument("out")
    k8.add_argument("--seed", type=int, default=1)
    m = sub.add_parser("model")
    m.add_argument("out")
    m.add_argument("--type", required=True, choices=list(TYPES))
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--d", type=int, default=256)
    m.add_argument("--layers", type=int, default=2)
    m.add_argument("--heads", type=int, default=4)
    m.add_argument("--kv-heads", type=int, default=2)
    m.add_argument("--ff", type=int, default=512)
    m.add_argument("--vocab", type=int, default=320)
    m.add_argument("--theta", type=float, default=10000.0)
    m.add_argument("--ids", default="1,5,9,200")
    m.add_argument("--new", type=int, default=16)
    a = ap.parse_args()
    if a.mode == "kernels":
        write_kernels(a.out, a.seed, a.rows)
    elif a.mode == "kernels8":
        write_kernels8(a.out, a.seed)
    else:
        model(a)


if __name__ == "__main__":
    sys.exit(main())
