"""PyTorch reference for teelm's weight files (run by /usr/bin/python3, which has Debian's torch).

  make-model DIR [--vocab V] [--variant]  builds the prototype's Model (docs/model-config.md, same
        module names, so state_dict keys match), saves DIR/full/model.pth and the split files
        DIR/split/{token_embedding,transformer_block_{i},final_linear}.pth exactly the way the
        prototype does, and DIR/tokens.bin + DIR/logits.bin (int32 tokens [B,T], float32 logits
        [B,T,V] of the model in eval mode) for logit comparisons.
  compare PTH ST        torch.load()s PTH (a .pth or a directory of them) and checks that the
        safetensors ST (a file or a directory) holds exactly the same tensors: same full names,
        shapes and bytes. The safetensors files are parsed here with struct + json, independently
        of teelm's reader and of the safetensors library.
  hostile DIR           writes hostile .pth files for teelm's refusal tests.
"""
import io
import json
import math
import os
import pickle
import re
import struct
import sys
import zipfile

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- the prototype's model (names as in docs/weights-format.md) ----

class FeedForward(nn.Module):
    def __init__(self, d_model, d_ff, dropout):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.ReLU = nn.ReLU()
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.linear2(self.ReLU(self.linear1(x))))


class Attention(nn.Module):
    def __init__(self, d_model, head_size, context_length, dropout):
        super().__init__()
        self.head_size = head_size
        self.q_lin = nn.Linear(d_model, head_size, bias=False)
        self.k_lin = nn.Linear(d_model, head_size, bias=False)
        self.v_lin = nn.Linear(d_model, head_size, bias=False)
        self.register_buffer('mask', torch.tril(torch.ones(context_length, context_length)))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.q_lin(x), self.k_lin(x), self.v_lin(x)
        w = (q @ k.transpose(-2, -1)) / (1.0 / math.sqrt(self.head_size))  # the prototype's quirk
        w = w.masked_fill(self.mask[:T, :T] == 0, float('-inf'))
        w = self.dropout(F.softmax(w, dim=-1))
        return w @ v


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_head, context_length, dropout):
        super().__init__()
        self.attention_heads = nn.ModuleList(
            [Attention(d_model, d_model // n_head, context_length, dropout) for _ in range(n_head)])
        self.projection_layer = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        out = torch.cat([h(x) for h in self.attention_heads], dim=-1)
        return self.dropout(self.projection_layer(out))


class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_head, context_length, d_ff, dropout):
        super().__init__()
        self.attention = MultiHeadAttention(d_model, n_head, context_length, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.layer_norm1 = nn.LayerNorm(d_model)
        self.layer_norm2 = nn.LayerNorm(d_model)

    def forward(self, x):
        x = self.layer_norm1(x + self.attention(x))
        return self.layer_norm2(x + self.feed_forward(x))


class Model(nn.Module):
    def __init__(self, vocab, context_length=16, d_model=64, n_layer=8, n_head=4, d_ff=256, dropout=0.1):
        super().__init__()
        self.context_length, self.d_model = context_length, d_model
        self.token_embedding_table = nn.Embedding(vocab, d_model)
        self.transformer_blocks = nn.Sequential(
            *[TransformerBlock(d_model, n_head, context_length, d_ff, dropout) for _ in range(n_layer)])
        self.final_linear_layer = nn.Linear(d_model, vocab)

    def forward(self, idx):
        B, T = idx.shape
        pe = torch.zeros(self.context_length, self.d_model)
        pos = torch.arange(0, self.context_length, dtype=torch.float).unsqueeze(1)
        div = torch.exp(torch.arange(0, self.d_model, 2).float() * (-math.log(10000.0) / self.d_model))
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        x = self.token_embedding_table(idx) + pe[:T, :]
        x = self.transformer_blocks(x)
        return self.final_linear_layer(x)


def make_model(out, vocab):
    torch.manual_seed(1337)
    model = Model(vocab)
    # non-trivial LayerNorm parameters and biases, so a mix-up of any tensor changes the logits
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'layer_norm' in name or name.endswith('bias'):
                p.add_(torch.randn_like(p) * 0.1)
    model.eval()
    os.makedirs(os.path.join(out, 'full'), exist_ok=True)
    os.makedirs(os.path.join(out, 'split'), exist_ok=True)
    # exactly the prototype's calls
    torch.save(model.state_dict(), os.path.join(out, 'full', 'model.pth'))
    torch.save(model.token_embedding_table.state_dict(), os.path.join(out, 'split', 'token_embedding.pth'))
    for i, block in enumerate(model.transformer_blocks):
        torch.save(block.state_dict(), os.path.join(out, 'split', f'transformer_block_{i}.pth'))
    torch.save(model.final_linear_layer.state_dict(), os.path.join(out, 'split', 'final_linear.pth'))
    g = torch.Generator().manual_seed(7)
    tokens = torch.randint(0, vocab, (3, 16), generator=g)
    with torch.no_grad():
        logits = model(tokens)
    tokens.to(torch.int32).numpy().tofile(os.path.join(out, 'tokens.bin'))
    logits.to(torch.float32).numpy().tofile(os.path.join(out, 'logits.bin'))


# ---- independent name mapping and safetensors parsing ----

def full_name(stem, key):
    if stem == 'token_embedding':
        return 'token_embedding_table.weight' if key == 'weight' else key
    if stem == 'final_linear':
        return 'final_linear_layer.' + key if key in ('weight', 'bias') else key
    m = re.fullmatch(r'transformer_block_(\d+)', stem)
    if m:
        return f'transformer_blocks.{m.group(1)}.{key}'
    return key


def stem_of(path, ext):
    return os.path.basename(path)[:-len(ext)]


def files_in(path, ext):
    if os.path.isdir(path):
        return sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(ext))
    return [path]


DTYPES = {'F32': ('<f4', 4), 'F16': ('<f2', 2), 'BF16': (None, 2), 'I64': ('<i8', 8), 'F64': ('<f8', 8)}


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n].decode('utf-8'))
    body = data[8 + n:]
    out, end = {}, 0
    for name, e in header.items():
        if name == '__metadata__':
            continue
        b, t = e['data_offsets']
        numel = 1
        for d in e['shape']:
            numel *= d
        assert t - b == numel * DTYPES[e['dtype']][1], name
        out[name] = (e['dtype'], tuple(e['shape']), body[b:t])
        end = max(end, t)
    assert end == len(body), f'{path}: data section length {len(body)} != {end}'
    return out, header.get('__metadata__', {})


TORCH_DT = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.int64: 'I64'}


def compare(pth, st):
    ref = {}
    for p in files_in(pth, '.pth'):
        sd = torch.load(p, map_location='cpu')
        stem = stem_of(p, '.pth')
        for k, v in sd.items():
            ref[full_name(stem, k)] = v
    got = {}
    for p in files_in(st, '.safetensors'):
        if os.path.basename(p) == 'optimizer.safetensors':
            continue
        tensors, _ = read_safetensors(p)
        stem = stem_of(p, '.safetensors')
        for k, v in tensors.items():
            got[full_name(stem, k)] = v
    if set(ref) != set(got):
        print('name sets differ: only in pth', sorted(set(ref) - set(got))[:5],
              'only in safetensors', sorted(set(got) - set(ref))[:5])
        return 1
    bad = 0
    for k, t in ref.items():
        dt, shape, raw = got[k]
        want = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        if tuple(t.shape) != shape or dt != 'F32' or raw != want:
            print(f'{k}: differs (shape {tuple(t.shape)} vs {shape}, dtype {dt})')
            bad += 1
    print(f'compared {len(ref)} tensors bit-exactly: {len(ref) - bad} equal, {bad} different')
    return 1 if bad else 0


# ---- hostile files ----

class Evil:
    def __reduce__(self):
        return (os.system, ('touch /tmp/teelm-pwned',))


def hostile(out):
    os.makedirs(out, exist_ok=True)
    good = {'weight': torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    # 1. a pickle that calls os.system through __reduce__, inside a proper torch zip
    buf = io.BytesIO()
    torch.save(good, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        entries = {i.filename: z.read(i.filename) for i in z.infolist()}
    prefix = next(n for n in entries if n.endswith('/data.pkl'))[:-len('data.pkl')]

    def write_zip(name, repl, compress=zipfile.ZIP_STORED, drop=None):
        with zipfile.ZipFile(os.path.join(out, name), 'w', compression=zipfile.ZIP_STORED) as z:
            for n, d in entries.items():
                if drop and n.endswith(drop):
                    continue
                d = repl.get(n, d)
                z.writestr(zipfile.ZipInfo(n), d, compress_type=compress if n in repl or not repl else
                           zipfile.ZIP_STORED)

    write_zip('evil_system.pth', {prefix + 'data.pkl': pickle.dumps({'weight': Evil()}, protocol=2)})
    # 2. an unknown opcode (0xff) after PROTO 2
    write_zip('evil_opcode.pth', {prefix + 'data.pkl': b'\x80\x02\xff.'})
    # 3. protocol 2 INST-style global call: c builtins eval
    write_zip('evil_eval.pth', {prefix + 'data.pkl': b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R."})
    # 4. compressed storage entry
    write_zip('compressed.pth', {prefix + 'data/0': entries[prefix + 'data/0']}, compress=zipfile.ZIP_DEFLATED)
    # 5. missing storage entry
    write_zip('missing.pth', {}, drop='/data/0')
    # 6. legacy (pre-zip) torch.save
    torch.save(good, os.path.join(out, 'legacy.pth'), _use_new_zipfile_serialization=False)
    # 7. storage shorter than numel says
    write_zip('short_storage.pth', {prefix + 'data/0': entries[prefix + 'data/0'][:12]})
    # 8. view past the end of its storage (size 2x3 at offset 4 of a 6-element storage)
    pk = entries[prefix + 'data.pkl']
    write_zip('bad_view.pth', {prefix + 'data.pkl': pk.replace(b'K\x00K\x02K\x03\x86', b'K\x04K\x02K\x03\x86', 1)})
    # 9. a non-contiguous view (transpose) and a float16 tensor: handled, not refused
    torch.save({'t': torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),
                'h': torch.tensor([1.5, -2.0, 65504.0], dtype=torch.float16),
                'b': torch.tensor([1.0, -3.25], dtype=torch.bfloat16),
                'l': torch.tensor([7, -9], dtype=torch.int64)}, os.path.join(out, 'views.pth'))


def main():
    cmd = sys.argv[1]
    if cmd == 'make-model':
        vocab = int(sys.argv[sys.argv.index('--vocab') + 1]) if '--vocab' in sys.argv else 1000
        make_model(sys.argv[2], vocab)
        return 0
    if cmd == 'compare':
        return compare(sys.argv[2], sys.argv[3])
    if cmd == 'hostile':
        hostile(sys.argv[2])
        return 0
    print('unknown command', cmd)
    return 2


if __name__ == '__main__':
    torch.set_num_threads(1)
    sys.exit(main())
