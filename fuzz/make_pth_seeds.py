"""Writes the extra seeds of fuzz/corpus/fuzz_pth/ (run by /usr/bin/python3, which has Debian's torch):

  /usr/bin/python3 fuzz/make_pth_seeds.py fuzz/corpus/fuzz_pth

  block.pth      a split-block-like state_dict of a module (OrderedDict with _metadata, so the pickle
                 uses BUILD) whose tensors have different dtypes: f32, f16, bf16, int64, bool.
  views.pth      views sharing storages (a transpose, a slice at an offset, a row of a matrix), a 0-dim
                 scalar, an empty tensor, an nn.Parameter (_rebuild_parameter) and f64/i32/i16/i8/u8.
  byteorder.pth  a small state_dict re-zipped by Python's zipfile under another archive name, with the
                 'byteorder' entry newer torch releases write (and no zip64 records, unlike torch).
Each is a few KB; the custom mutator in fuzz/fuzz_pth.c mutates their zip entries structurally.
"""
import io
import os
import sys
import zipfile
from collections import OrderedDict

import torch
import torch.nn as nn


def block():
    torch.manual_seed(1)
    m = nn.Sequential(OrderedDict(ln=nn.LayerNorm(4), attn=nn.Linear(4, 3), mlp=nn.Linear(3, 2)))
    sd = m.state_dict()  # OrderedDict with ._metadata
    sd['attn.weight'] = sd['attn.weight'].half()
    sd['mlp.weight'] = sd['mlp.weight'].bfloat16()
    sd['pos'] = torch.tensor([0, 5, -3], dtype=torch.int64)
    sd['mask'] = torch.tensor([True, False, True, True])
    return sd


def views():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    return {
        'base': base,
        't': base.t(),                   # same storage, strides (1, 4)
        'row': base[1],                  # offset 4
        'tail': base.view(-1)[5:9],      # offset 5, 1-D
        'cols': base[:, 1:3],            # offset 1, non-contiguous
        'scalar': torch.tensor(2.5, dtype=torch.float64),
        'empty': torch.zeros(0, 3),
        'param': nn.Parameter(torch.tensor([1.0, -1.0])),
        'i32': torch.tensor([1, -2], dtype=torch.int32),
        'i16': torch.tensor([3, -4], dtype=torch.int16),
        'i8': torch.tensor([5, -6], dtype=torch.int8),
        'u8': torch.tensor([7, 255], dtype=torch.uint8),
    }


def byteorder(out):
    buf = io.BytesIO()
    torch.save({'w': torch.tensor([[1.0, 2.0], [3.0, 4.0]]), 'b': torch.tensor([0.5], dtype=torch.float16)}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(out, 'w', compression=zipfile.ZIP_STORED) as z:
        for name, data in entries:
            name = 'model/' + name.split('/', 1)[1]
            z.writestr(zipfile.ZipInfo(name), data)
            if name.endswith('/data.pkl'):
                z.writestr(zipfile.ZipInfo('model/byteorder'), b'little')


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.save(block(), os.path.join(out, 'block.pth'))
    torch.save(views(), os.path.join(out, 'views.pth'))
    byteorder(os.path.join(out, 'byteorder.pth'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
