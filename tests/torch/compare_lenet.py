#!/usr/bin/python3
"""Checks lunet's LeNet-5 against PyTorch's on the same weights and images.

tests/torch/dump_lenet.lua writes model.safetensors (lunet's parameters) and
lunet_logits.safetensors (test images, labels, and lunet's logits for them). This script
parses both files itself (8-byte little-endian header length, JSON header, F32 data: no
safetensors package), checks that the parameter names and shapes are exactly those of the
reference torch model (../shared/reference/torch_lenet.py, class LeNet5), loads them with
load_state_dict(strict=True), runs the model in eval mode on the stored images and asserts
that max |logits_torch - logits_lunet| <= --tol and that the argmax agrees on every image.

Run it with Debian's python (/usr/bin/python3, python3-torch). Exit status: 0 when the
models agree, 1 when they do not, 2 for a missing or malformed input file or a bad option,
77 when torch cannot be imported (the test is skipped).
"""
import argparse
import array
import gzip
import json
import math
import os
import struct
import sys
import tempfile

SKIP_STATUS = 77
SKIP_MESSAGE = "skipped: python3-torch is not installed (apt-get install python3-torch)"
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_REFERENCE = os.path.join(CHECKOUT, "..", "shared", "reference")


class InputError(Exception):
    """A missing or malformed input file (exit status 2)."""


class Mismatch(Exception):
    """lunet and torch disagree (exit status 1)."""


# ---- safetensors ---------------------------------------------------------------------------

def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def read_safetensors(path):
    """Returns ({name: (shape, array('f'))}, {metadata key: value}) for an all-F32 file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    if len(data) < 8:
        raise InputError(f"{path}: {len(data)} bytes, expected at least 8 (the header length)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8:
        raise InputError(f"{path}: the header length is {header_len} bytes, "
                         f"but only {len(data) - 8} bytes follow it")
    try:
        header = json.loads(data[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{path}: the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise InputError(f"{path}: the header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InputError(f"{path}: __metadata__ must map strings to strings, got {metadata!r}")
    body = data[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        where = f"{path}: tensor '{name}'"
        if not isinstance(info, dict):
            raise InputError(f"{where} must be an object with dtype, shape and data_offsets, got {info!r}")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype != "F32":
            raise InputError(f"{where} has dtype {dtype}, expected F32")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise InputError(f"{where}: shape must be a list of non-negative integers, got {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) for o in offsets) or not 0 <= offsets[0] <= offsets[1]):
            raise InputError(f"{where}: data_offsets must be [begin, end] with 0 <= begin <= end, "
                             f"got {offsets!r}")
        begin, end = offsets
        if end > len(body):
            raise InputError(f"{where}: data_offsets {offsets} end past the data section "
                             f"({len(body)} bytes)")
        if end - begin != 4 * _numel(shape):
            raise InputError(f"{where}: shape {shape} needs {4 * _numel(shape)} bytes of F32, "
                             f"data_offsets {offsets} give {end - begin}")
        values = array.array("f")
        values.frombytes(body[begin:end])
        if sys.byteorder == "big":
            values.byteswap()
        tensors[name] = (shape, values)
    return tensors, metadata


def encode_safetensors(tensors, metadata=None, header_override=None):
    """Bytes of a safetensors file: tensors {name: (shape, values)}, all F32 (self-test)."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (shape, values) in tensors.items():
        blob = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = header_override if header_override is not None else json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


# ---- checks that need no torch ---------------------------------------------------------------

def check_state_dict(found, expected, path):
    """found, expected: {name: shape}. Raises Mismatch naming every difference."""
    problems = [f"missing tensor '{k}' (shape {expected[k]})" for k in expected if k not in found]
    problems += [f"unexpected tensor '{k}' (shape {found[k]})" for k in found if k not in expected]
    problems += [f"'{k}' has shape {found[k]}, torch expects {expected[k]}"
                 for k in expected if k in found and list(found[k]) != list(expected[k])]
    if problems:
        raise Mismatch(f"{path} does not match torch's LeNet5 state dict: " + "; ".join(problems))


def check_logits_file(tensors, path, num_classes=10):
    """Returns n after checking images [n,1,28,28], logits [n,num_classes] and labels [n]."""
    for name in ("images", "logits", "labels"):
        if name not in tensors:
            raise InputError(f"{path} holds no tensor '{name}' (it has {sorted(tensors)})")
    images, logits, labels = tensors["images"][0], tensors["logits"][0], tensors["labels"][0]
    if len(images) != 4 or images[1:] != [1, 28, 28] or images[0] < 1:
        raise InputError(f"{path}: 'images' has shape {images}, expected [N, 1, 28, 28]")
    n = images[0]
    if logits != [n, num_classes]:
        raise InputError(f"{path}: 'logits' has shape {logits}, expected [{n}, {num_classes}]")
    if labels != [n]:
        raise InputError(f"{path}: 'labels' has shape {labels}, expected [{n}]")
    return n


def _argmax(row):
    best = 0
    for j in range(1, len(row)):
        if row[j] > row[best]:
            best = j
    return best


def compare_logits(torch_rows, lunet_rows, tol):
    """Both lists of rows. Returns the max absolute difference; raises Mismatch."""
    worst, where = 0.0, None
    for i, (a, b) in enumerate(zip(torch_rows, lunet_rows)):
        for j, (x, y) in enumerate(zip(a, b)):
            d = abs(x - y)
            if math.isnan(d):
                raise Mismatch(f"image {i}, class {j}: torch {x:.7g}, lunet {y:.7g}: a NaN is not a logit")
            if d > worst:
                worst, where = d, (i, j, x, y)
    if worst > tol:
        i, j, x, y = where
        raise Mismatch(f"max |logits_torch - logits_lunet| = {worst:.3g} exceeds the tolerance {tol:g} "
                       f"(image {i}, class {j}: torch {x:.7g}, lunet {y:.7g})")
    differ = [(i, _argmax(a), _argmax(b)) for i, (a, b) in enumerate(zip(torch_rows, lunet_rows))
              if _argmax(a) != _argmax(b)]
    if differ:
        i, ct, cl = differ[0]
        raise Mismatch(f"the argmax differs on {len(differ)} of {len(torch_rows)} images "
                       f"(first: image {i}, torch class {ct}, lunet class {cl})")
    return worst


def _read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    if len(data) < 4:
        raise InputError(f"{path}: {len(data)} bytes, too short for an IDX file")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def _find_idx(mnist_dir, name):
    for candidate in (os.path.join(mnist_dir, name + ".gz"), os.path.join(mnist_dir, name)):
        if os.path.exists(candidate):
            return candidate
    raise InputError(f"MNIST not found in {mnist_dir}: looked for {name}.gz or {name}")


def check_images(images, labels, n, mnist_dir, mean, std, tol=1e-5):
    """The stored images and labels are MNIST's first n test images, (b/255 - mean)/std."""
    dims, pixels = _read_idx(_find_idx(mnist_dir, "t10k-images-idx3-ubyte"))
    _, label_bytes = _read_idx(_find_idx(mnist_dir, "t10k-labels-idx1-ubyte"))
    if len(dims) != 3 or dims[1:] != (28, 28) or dims[0] < n or len(pixels) < n * 784 or len(label_bytes) < n:
        raise InputError(f"{mnist_dir}: the test images have shape {list(dims)}, "
                         f"expected at least [{n}, 28, 28] with labels")
    worst, where = 0.0, 0
    for k in range(n * 784):
        d = abs((pixels[k] / 255.0 - mean) / std - images[k])
        if math.isnan(d):
            raise Mismatch(f"the stored image {k // 784} has a NaN at pixel {k % 784}")
        if d > worst:
            worst, where = d, k
    if worst > tol:
        raise Mismatch(f"the stored images are not MNIST's normalised with mean {mean} and std {std}: "
                       f"image {where // 784}, pixel {where % 784} differs by {worst:.3g} (tolerance {tol:g})")
    for i in range(n):
        if labels[i] != label_bytes[i]:
            raise Mismatch(f"the stored label of test image {i} is {labels[i]:g}, MNIST says {label_bytes[i]}")
    return worst


# ---- torch -----------------------------------------------------------------------------------

def import_torch():
    """torch, or exit with SKIP_STATUS after printing why."""
    try:
        import torch
    except ImportError as e:
        print(SKIP_MESSAGE)
        print(f"  ({sys.executable}: {e})")
        sys.exit(SKIP_STATUS)
    return torch


def import_reference(reference_dir):
    path = os.path.join(reference_dir, "torch_lenet.py")
    if not os.path.exists(path):
        raise InputError(f"the reference model {path} does not exist (pass --reference DIR, "
                         f"the folder of torch_lenet.py)")
    sys.path.insert(0, os.path.abspath(reference_dir))
    from torch_lenet import LeNet5
    return LeNet5


def to_torch(torch, shape, values):
    return torch.frombuffer(values, dtype=torch.float32).reshape(shape).clone()


def torch_logits(torch, LeNet5, model_tensors, model_path, images):
    """Loads the parameters into LeNet5 (strict) and returns (float32 logits, float64 logits)."""
    model = LeNet5()
    expected = {k: list(v.shape) for k, v in model.state_dict().items()}
    check_state_dict({k: shape for k, (shape, _) in model_tensors.items()}, expected, model_path)
    model.load_state_dict({k: to_torch(torch, s, v) for k, (s, v) in model_tensors.items()}, strict=True)
    model.eval()
    with torch.no_grad():
        y32 = model(images)
        y64 = model.double()(images.double())
    return y32, y64


# ---- self-test of the checks above -----------------------------------------------------------

def self_test():
    checks = [0]

    def expect(kind, text, fn, *args):
        try:
            fn(*args)
        except kind as e:
            if text not in str(e):
                raise AssertionError(f"expected a {kind.__name__} containing {text!r}, got {e!r}")
            checks[0] += 1
            return
        raise AssertionError(f"expected a {kind.__name__} containing {text!r}, got no error")

    def ok(cond, what):
        if not cond:
            raise AssertionError(what)
        checks[0] += 1

    with tempfile.TemporaryDirectory() as tmp:
        def write(name, blob):
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(blob)
            return path

        # a valid file round-trips, values and metadata
        good = write("good.st", encode_safetensors(
            {"a": ([2, 3], [1.5, -2, 0, 1e-30, 3.25, 7]), "b": ([1], [42])}, {"format": "pt"}))
        t, meta = read_safetensors(good)
        ok(t["a"][0] == [2, 3] and list(t["a"][1]) == [1.5, -2, 0, array.array("f", [1e-30])[0], 3.25, 7]
           and t["b"] == ([1], array.array("f", [42])) and meta == {"format": "pt"}, "round trip")
        # every malformed-file error
        expect(InputError, "cannot read", read_safetensors, os.path.join(tmp, "absent.st"))
        expect(InputError, "3 bytes, expected at least 8", read_safetensors, write("short.st", b"abc"))
        expect(InputError, "the header length is 1000 bytes, but only 2 bytes follow",
               read_safetensors, write("len.st", struct.pack("<Q", 1000) + b"{}"))
        expect(InputError, "the header is not valid JSON", read_safetensors,
               write("json.st", encode_safetensors({}, header_override=b"{not json")))
        expect(InputError, "the header must be a JSON object, got list", read_safetensors,
               write("list.st", encode_safetensors({}, header_override=b"[1, 2]")))
        expect(InputError, "__metadata__ must map strings to strings", read_safetensors,
               write("meta.st", encode_safetensors({}, {"epoch": 3})))

        def with_header(name, info, body=b"\0" * 8):
            text = json.dumps({"x": info}).encode("utf-8")
            return write(name, struct.pack("<Q", len(text)) + text + body)
        expect(InputError, "tensor 'x' has dtype F16, expected F32", read_safetensors,
               with_header("f16.st", {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}))
        expect(InputError, "tensor 'x' must be an object", read_safetensors, with_header("obj.st", [1]))
        expect(InputError, "shape must be a list of non-negative integers, got [-1]", read_safetensors,
               with_header("shape.st", {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}))
        expect(InputError, "data_offsets must be [begin, end]", read_safetensors,
               with_header("offs.st", {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}))
        expect(InputError, "data_offsets [0, 16] end past the data section (8 bytes)", read_safetensors,
               with_header("past.st", {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}))
        expect(InputError, "shape [3] needs 12 bytes of F32, data_offsets [0, 8] give 8", read_safetensors,
               with_header("size.st", {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}))

        # the state dict must match torch's names and shapes exactly
        want = {"conv1.weight": [6, 1, 5, 5], "fc3.bias": [10]}
        check_state_dict({"conv1.weight": [6, 1, 5, 5], "fc3.bias": [10]}, want, "m")
        checks[0] += 1
        expect(Mismatch, "missing tensor 'fc3.bias' (shape [10])", check_state_dict,
               {"conv1.weight": [6, 1, 5, 5]}, want, "m")
        expect(Mismatch, "unexpected tensor '1.weight'", check_state_dict,
               {"conv1.weight": [6, 1, 5, 5], "fc3.bias": [10], "1.weight": [3]}, want, "m")
        expect(Mismatch, "'fc3.bias' has shape [9], torch expects [10]", check_state_dict,
               {"conv1.weight": [6, 1, 5, 5], "fc3.bias": [9]}, want, "m")

        # the logits file must hold images, logits and labels of matching shapes
        shapes = {"images": [4, 1, 28, 28], "logits": [4, 10], "labels": [4]}
        ok(check_logits_file({k: (s, None) for k, s in shapes.items()}, "f") == 4, "logits file shapes")
        expect(InputError, "f holds no tensor 'logits'", check_logits_file,
               {k: (s, None) for k, s in shapes.items() if k != "logits"}, "f")
        expect(InputError, "'images' has shape [4, 28, 28], expected [N, 1, 28, 28]", check_logits_file,
               dict({k: (s, None) for k, s in shapes.items()}, images=([4, 28, 28], None)), "f")
        expect(InputError, "'logits' has shape [4, 9], expected [4, 10]", check_logits_file,
               dict({k: (s, None) for k, s in shapes.items()}, logits=([4, 9], None)), "f")
        expect(InputError, "'labels' has shape [3], expected [4]", check_logits_file,
               dict({k: (s, None) for k, s in shapes.items()}, labels=([3], None)), "f")

        # the comparison: within the tolerance, beyond it, NaN, and a flipped argmax
        a = [[0.0, 1.0, 2.0], [3.0, 1.0, 0.5]]
        ok(compare_logits(a, [[0.0, 1.0, 2.00005], [3.0, 1.0, 0.5]], 1e-4) == abs(2.0 - 2.00005),
           "compare within tolerance")
        expect(Mismatch, "max |logits_torch - logits_lunet| = 0.5 exceeds the tolerance 0.0001 "
               "(image 1, class 2: torch 0.5, lunet 1)", compare_logits, a, [[0.0, 1.0, 2.0], [3.0, 1.0, 1.0]], 1e-4)
        expect(Mismatch, "image 1, class 1: torch 1, lunet nan: a NaN is not a logit", compare_logits, a,
               [[0.0, 1.0, 2.0], [3.0, float("nan"), 0.5]], 1e-4)
        expect(Mismatch, "the argmax differs on 1 of 2 images (first: image 0, torch class 2, lunet class 1)",
               compare_logits, [[0.0, 1.99995, 2.0], [3.0, 1.0, 0.5]], [[0.0, 2.0, 1.99995], [3.0, 1.0, 0.5]],
               1e-4)

        # the stored images against MNIST files (two 28x28 test images)
        mnist = os.path.join(tmp, "mnist")
        os.mkdir(mnist)
        pixels = bytes((7 * k) % 256 for k in range(2 * 784))
        with gzip.open(os.path.join(mnist, "t10k-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 28, 28) + pixels)
        with open(os.path.join(mnist, "t10k-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">BBBBI", 0, 0, 8, 1, 2) + bytes([3, 9]))
        norm = array.array("f", [(b / 255.0 - 0.1307) / 0.3081 for b in pixels])
        ok(check_images(norm, [3, 9], 2, mnist, 0.1307, 0.3081) < 1e-6, "images match MNIST")
        bad = array.array("f", norm)
        bad[784 + 5] += 0.01
        expect(Mismatch, "image 1, pixel 5 differs by 0.01", check_images, bad, [3, 9], 2, mnist, 0.1307, 0.3081)
        bad[784 + 5] = float("nan")
        expect(Mismatch, "the stored image 1 has a NaN at pixel 5", check_images, bad, [3, 9], 2, mnist,
               0.1307, 0.3081)
        expect(Mismatch, "the stored label of test image 1 is 8, MNIST says 9", check_images,
               norm, [3, 8], 2, mnist, 0.1307, 0.3081)
        expect(InputError, "expected at least [3, 28, 28]", check_images, norm, [3, 9, 0], 3, mnist,
               0.1307, 0.3081)
        expect(InputError, "MNIST not found in", check_images, norm, [3, 9], 2, tmp, 0.1307, 0.3081)
        no_torch_checks = checks[0]

        # with torch: a torch-made LeNet5 written by encode_safetensors loads back exactly
        try:
            import torch
        except ImportError as e:
            print(f"self-test: {no_torch_checks} checks of the parser and comparisons passed")
            print(SKIP_MESSAGE)
            print(f"  ({sys.executable}: {e}; the checks with torch were not run)")
            return SKIP_STATUS
        LeNet5 = import_reference(DEFAULT_REFERENCE)
        torch.manual_seed(0)
        source = LeNet5().eval()
        sd = {k: (list(v.shape), v.flatten().tolist()) for k, v in source.state_dict().items()}
        path = write("torch.st", encode_safetensors(sd))
        tensors, _ = read_safetensors(path)
        x = torch.randn(3, 1, 28, 28)
        y32, y64 = torch_logits(torch, LeNet5, tensors, path, x)
        with torch.no_grad():
            ok(torch.equal(y32, source(x)), "a torch model round-trips through safetensors exactly")
        ok((y64 - y32.double()).abs().max().item() < 1e-4, "float64 and float32 torch logits agree")
        renamed = dict(tensors)
        renamed["1.weight"] = renamed.pop("conv1.weight")
        expect(Mismatch, "missing tensor 'conv1.weight' (shape [6, 1, 5, 5]); unexpected tensor '1.weight'",
               torch_logits, torch, LeNet5, renamed, path, x)
        wrong = dict(tensors, **{"fc3.bias": ([9], array.array("f", [0] * 9))})
        expect(Mismatch, "'fc3.bias' has shape [9], torch expects [10]", torch_logits, torch, LeNet5, wrong, path, x)
    print(f"self-test: {checks[0]} checks passed (torch {torch.__version__})")
    return 0


# ---- main ------------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="compare_lenet.py",
        description="Loads lunet's LeNet-5 (model.safetensors) into PyTorch's LeNet5 and checks that "
                    "torch's logits on the stored images equal lunet's (lunet_logits.safetensors), "
                    "both written by tests/torch/dump_lenet.lua. Exit status 0: they agree; 1: they "
                    "differ; 2: bad input; 77: torch is not installed (skipped).")
    ap.add_argument("--dir", metavar="DIR", default=os.path.join(CHECKOUT, "runs", "torch-lenet"),
                    help="folder with model.safetensors and lunet_logits.safetensors "
                         "(default: %(default)s, dump_lenet.lua's default --out)")
    ap.add_argument("--model", metavar="FILE", help="the model file (default: DIR/model.safetensors)")
    ap.add_argument("--logits", metavar="FILE", help="the logits file (default: DIR/lunet_logits.safetensors)")
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="largest allowed |logits_torch - logits_lunet| (default: %(default)g)")
    ap.add_argument("--mnist", metavar="DIR",
                    help="also check that the stored images and labels are the first MNIST test images "
                         "from DIR, normalised with the file's normalize_mean and normalize_std")
    ap.add_argument("--min-accuracy", type=float, default=0.0, metavar="A",
                    help="fail unless torch's accuracy on the stored labels is at least A, "
                         "in 0..1 (default: %(default)g)")
    ap.add_argument("--reference", metavar="DIR", default=DEFAULT_REFERENCE,
                    help="folder of torch_lenet.py, the reference model (default: %(default)s)")
    ap.add_argument("--self-test", action="store_true",
                    help="check this script's own error paths on crafted files, then exit")
    args = ap.parse_args(argv)
    if not args.tol >= 0:
        ap.error(f"--tol must be >= 0, got {args.tol:g}")
    if not 0 <= args.min_accuracy <= 1:
        ap.error(f"--min-accuracy must be in 0..1, got {args.min_accuracy:g}")
    args.model = args.model or os.path.join(args.dir, "model.safetensors")
    args.logits = args.logits or os.path.join(args.dir, "lunet_logits.safetensors")
    return args


def run(args):
    model_tensors, _ = read_safetensors(args.model)
    stored, meta = read_safetensors(args.logits)
    n = check_logits_file(stored, args.logits)
    images, labels, lunet_logits = stored["images"][1], stored["labels"][1], stored["logits"][1]
    if args.mnist:
        try:
            mean, std = float(meta["normalize_mean"]), float(meta["normalize_std"])
        except (KeyError, ValueError):
            raise InputError(f"{args.logits}: --mnist needs the metadata normalize_mean and normalize_std, "
                             f"got {meta}") from None
        diff = check_images(images, labels, n, args.mnist, mean, std)
        print(f"images: the first {n} MNIST test images, (b/255 - {mean:g})/{std:g}, max diff {diff:.2g}")

    torch = import_torch()
    LeNet5 = import_reference(args.reference)
    torch.manual_seed(0)
    x = to_torch(torch, [n, 1, 28, 28], images)
    y32, y64 = torch_logits(torch, LeNet5, model_tensors, args.model, x)
    lunet_rows = [list(lunet_logits[i * 10:(i + 1) * 10]) for i in range(n)]
    diff = compare_logits(y32.tolist(), lunet_rows, args.tol)
    diff64 = max(abs(a - b) for ra, rb in zip(y64.tolist(), lunet_rows) for a, b in zip(ra, rb))
    correct = sum(1 for i in range(n) if _argmax(lunet_rows[i]) == labels[i])
    print(f"torch {torch.__version__}, LeNet5 from {os.path.normpath(os.path.join(os.path.abspath(args.reference), 'torch_lenet.py'))}; "
          f"{len(model_tensors)} tensors loaded with strict=True")
    print(f"max |logits_torch - logits_lunet| = {diff:.3g} over {n} images "
          f"(float64 torch: {diff64:.3g}; tolerance {args.tol:g})")
    print(f"argmax agrees on {n} of {n} images; accuracy on their labels {100 * correct / n:.2f}%")
    if correct / n < args.min_accuracy:
        raise Mismatch(f"accuracy {correct / n:.4f} is below --min-accuracy {args.min_accuracy:g}: "
                       f"the model was not trained, or images and labels do not belong together")
    return 0


def main(argv):
    args = parse_args(argv)
    if args.self_test:
        return self_test()
    try:
        return run(args)
    except InputError as e:
        print(f"compare_lenet: {e}", file=sys.stderr)
        return 2
    except Mismatch as e:
        print(f"compare_lenet: FAILED: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
