"""bench/torch_cuda.py: the PyTorch reference LeNet-5 on a GPU, to set beside lunet on the same card.

    python3 bench/torch_cuda.py --torch-script ../shared/reference/torch_lenet.py --data DIR

The model, the data loading and the training loop are those of the reference script
(../shared/reference/torch_lenet.py, imported from --torch-script), so that lunet is compared
with the same network, optimiser (SGD, momentum 0.9, lr 0.01) and batch sizes. What differs
from the CPU reference: the tensors live on the device, TF32 is off (lunet computes in plain
float32), and every timing ends with a device synchronisation, since CUDA work is
asynchronous. --device cpu runs the same code on the CPU (a smoke test without a GPU).

Prints 'RESULT kind=train batch=B img_per_s=X', 'RESULT kind=infer batch=1000 img_per_s=X'
and 'RESULT kind=sgemm n=1024 gflops=X' lines (medians of --reps repetitions), and an INFO
line naming torch's version and the device.
"""
import argparse
import importlib.util
import os
import statistics
import sys
import time

torch = F = None   # imported in main(), after the arguments: --help works without torch


def load_reference(path):
    spec = importlib.util.spec_from_file_location("torch_lenet_reference", path)
    if spec is None:
        sys.exit(f"torch_cuda.py: cannot load the reference script {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def positive_ints(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got '{text}'")
    return values


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_rate(ref, x, y, batch, images, device):
    """Images per second of SGD steps over `images` images (after a warm-up), as the reference trains."""
    model = ref.LeNet5().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    n = x.shape[0]
    perm = torch.randperm(n, device=device)

    def steps(count, start):
        for s in range(count):
            i = ((start + s) * batch) % (n - batch + 1)
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            if (s + 1) % 100 == 0:
                loss.item()   # the reference reads the loss back every 100 batches

    steps(20, 0)   # warm-up: cuDNN's algorithm choice, the allocator
    sync(device)
    count = max(1, images // batch)
    t0 = time.perf_counter()
    steps(count, 20)
    sync(device)
    return count * batch / (time.perf_counter() - t0)


def infer_rate(ref, x, device, batch=1000):
    model = ref.LeNet5().to(device).eval()
    with torch.no_grad():
        model(x[:batch])
        sync(device)
        t0 = time.perf_counter()
        for i in range(0, x.shape[0], batch):
            model(x[i:i + batch])
        sync(device)
    return x.shape[0] / (time.perf_counter() - t0)


def sgemm_gflops(device, n=1024, reps=20):
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    torch.mm(a, b)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    sync(device)
    return 2.0 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--torch-script", required=True, help="the reference, ../shared/reference/torch_lenet.py")
    ap.add_argument("--data", required=True, help="MNIST folder (the four IDX .gz files)")
    ap.add_argument("--device", default="cuda", help="torch device (default: cuda; cpu for a smoke test)")
    ap.add_argument("--batches", type=positive_ints, default=[16, 64, 256], help="training batch sizes")
    ap.add_argument("--images", type=int, default=60000, help="images per timed training repetition")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each measurement (median reported)")
    a = ap.parse_args()
    if a.images < 1 or a.reps < 1:
        sys.exit("torch_cuda.py: --images and --reps must be positive")
    if not os.path.isfile(a.torch_script):
        sys.exit(f"torch_cuda.py: the reference script {a.torch_script} does not exist")
    if not os.path.isfile(os.path.join(a.data, "train-images-idx3-ubyte.gz")):
        sys.exit(f"torch_cuda.py: MNIST not found in {a.data} (looked for train-images-idx3-ubyte.gz)")
    global torch, F
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as error:
        sys.exit(f"torch_cuda.py: cannot import torch ({error}) with {sys.executable}")
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_cuda.py: torch sees no CUDA device (pass --device cpu for a smoke test)")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)

    ref = load_reference(a.torch_script)
    xtr, ytr, xte, _ = ref.load(a.data)
    xtr, ytr, xte = xtr.to(device), ytr.to(device), xte.to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"INFO torch={torch.__version__} device={name.replace(' ', '_')} tf32=off", flush=True)

    for batch in a.batches:
        rates = [train_rate(ref, xtr, ytr, batch, a.images, device) for _ in range(a.reps)]
        print(f"RESULT kind=train batch={batch} img_per_s={statistics.median(rates):.0f}", flush=True)
    rates = [infer_rate(ref, xte, device) for _ in range(a.reps)]
    print(f"RESULT kind=infer batch=1000 img_per_s={statistics.median(rates):.0f}", flush=True)
    rates = [sgemm_gflops(device) for _ in range(a.reps)]
    print(f"RESULT kind=sgemm n=1024 gflops={statistics.median(rates):.1f}", flush=True)


if __name__ == "__main__":
    main()
