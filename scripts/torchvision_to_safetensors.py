#!/usr/bin/env python3
"""Convert a PyTorch checkpoint (torch.save of a state_dict) into a .safetensors file that
lunet's Module:load reads: every floating-point tensor as little-endian float32, under its
state_dict name, in state_dict order.

    python3 scripts/torchvision_to_safetensors.py alexnet-owt-7be5be79.pth alexnet.safetensors
    luajit -e 'require("lunet.models").alexnet():load("alexnet.safetensors")'

The input is what torch.save wrote: a state_dict (as torchvision's downloaded *.pth weights
are), or a checkpoint dict holding one under "state_dict" or "model". A whole pickled
nn.Module needs --allow-pickle (that unpickles arbitrary code: only for files you trust).
Only torch (and numpy, which torch uses) is needed: the safetensors package is not, the
format is written here by hand: an 8-byte little-endian header length, a JSON header
{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__":
{...}} padded with spaces to a multiple of 8 bytes, then the raw data. The file is written
to a temporary name beside the output and renamed, so a failed run leaves no partial file.

Integer and boolean tensors (BatchNorm's num_batches_tracked, for one) are left out, and
each one left out is named on stderr; lunet's models have none.
"""
import argparse
import collections
import json
import os
import struct
import sys


def fail(msg):
    sys.stderr.write("torchvision_to_safetensors: " + msg + "\n")
    sys.exit(1)


def load_state_dict(torch, path, allow_pickle):
    try:
        if allow_pickle:
            obj = torch.load(path, map_location="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        fail("cannot open %s: no such file" % path)
    except TypeError as e:
        if "weights_only" not in str(e):
            raise
        fail("torch %s cannot load weights only (it came with torch 1.13); for a file you trust, "
             "add --allow-pickle" % torch.__version__)
    except Exception as e:  # torch raises several kinds for bad or unsafe files
        hint = "" if allow_pickle else (" (if it is a whole pickled model you trust, add --allow-pickle)")
        fail("cannot read %s as a torch.save file: %s%s" % (path, str(e).splitlines()[0] if str(e) else
                                                             type(e).__name__, hint))
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, torch.nn.Module):
                inner = inner.state_dict()
            if isinstance(inner, dict) and any(torch.is_tensor(v) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, dict):
        fail("%s holds a %s, expected a state_dict (a dict of name -> tensor)" % (path, type(obj).__name__))
    tensors = collections.OrderedDict((k, v) for k, v in obj.items() if torch.is_tensor(v))
    if not tensors:
        fail("%s holds no tensors: expected a state_dict (a dict of name -> tensor), got keys %s"
             % (path, ", ".join(map(str, list(obj.keys())[:10])) or "(none)"))
    return tensors


def convert(torch, tensors, strip_prefix):
    out = collections.OrderedDict()
    for name, t in tensors.items():
        if strip_prefix and name.startswith(strip_prefix):
            name = name[len(strip_prefix):]
        if not (t.is_floating_point()):
            sys.stderr.write("torchvision_to_safetensors: left out %s (%s, not floating point)\n" % (name, t.dtype))
            continue
        if name in out:
            fail("two tensors are called %s after --strip-prefix %s" % (name, strip_prefix))
        data = t.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tobytes()
        out[name] = (list(t.shape), data)
    if not out:
        fail("no floating-point tensors to write")
    return out


def write_safetensors(path, tensors, metadata):
    header = collections.OrderedDict()
    header["__metadata__"] = metadata
    offset = 0
    for name, (shape, data) in tensors.items():
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _, data in tensors.values():
                f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        fail("cannot write %s: %s" % (path, e.strerror or e))
    return offset


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Convert a torch.save'd state_dict (e.g. torchvision's AlexNet or VGG-16 weights) "
                    "into safetensors (F32) for lunet's Module:load.")
    p.add_argument("input", help="file written by torch.save: a state_dict, or a dict holding one "
                                 "under 'state_dict' or 'model'")
    p.add_argument("output", help="the .safetensors file to write")
    p.add_argument("--strip-prefix", default="", metavar="PREFIX",
                   help="remove PREFIX from the start of each name (e.g. 'module.' from DataParallel)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="also read files that hold whole pickled objects (runs their code: trusted files only)")
    args = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        fail("PyTorch is needed to read torch.save files: install it (Debian: apt-get install python3-torch)")
    tensors = load_state_dict(torch, args.input, args.allow_pickle)
    converted = convert(torch, tensors, args.strip_prefix)
    nbytes = write_safetensors(args.output, converted,
                               {"format": "pt", "source": os.path.basename(args.input)})
    params = sum(len(d) // 4 for _, d in converted.values())
    print("wrote %s: %d tensors, %d parameters, %d bytes of data" % (args.output, len(converted), params, nbytes))


if __name__ == "__main__":
    main()
