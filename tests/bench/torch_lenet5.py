"""PyTorch reference for the swarmgrad benchmark: the same LeNet-5 (conv 6@5x5 same, 2x2 max
pool, conv 16@5x5 valid, 2x2 max pool, dense 120, 84, 10, ReLU), Adam, float32, training
steps on random data. Prints one JSON line per (threads, batch).

`torch_lenet5.py BUDGET MODEL THREADS BATCH` times one cell instead: MODEL is lenet5,
alexnetSmall (32x32x3) or alexnet (227x227x3), the zoo's layer tables."""
import json, sys, time
import torch
from torch import nn

def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

def alexnet_small():
    # 3x3/2 'same' pools: PyTorch pads both sides by 1 where TensorFlow pads one side; the
    # output sizes and the work are the same.
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1),
        nn.Conv2d(64, 96, 3, padding=1), nn.ReLU(), nn.Conv2d(96, 96, 3, padding=1), nn.ReLU(),
        nn.Conv2d(96, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1), nn.Flatten(),
        nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))

def alexnet():
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))

MODELS = {"lenet5": (lenet5, (1, 28, 28), 10), "alexnetSmall": (alexnet_small, (3, 32, 32), 10), "alexnet": (alexnet, (3, 227, 227), 1000)}

def blas():
    """Which BLAS the process loaded (Debian's torch uses the system libblas.so.3)."""
    try:
        with open("/proc/self/maps") as maps:
            text = maps.read()
    except OSError:
        return "?"
    return "OpenBLAS" if "openblas" in text else "reference BLAS" if "libblas" in text else "?"

def bench(threads, batch, budget, name="lenet5"):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    build, shape, classes = MODELS[name]
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(batch, *shape)
    y = torch.randint(0, classes, (batch,))
    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    for _ in range(3 if batch * shape[1] < 10000 else 1):
        step()
    times = []
    start = time.perf_counter()
    while (time.perf_counter() - start < budget and len(times) < 400) or len(times) < 3:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    return {"backend": f"PyTorch {torch.__version__.split('a')[0]}, {blas()}, {threads} thread{'s' if threads > 1 else ''}",
            "batch": batch, "samplesPerSecond": batch / median, "steps": len(times)}

if __name__ == "__main__":
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
    if len(sys.argv) > 4:
        print(json.dumps(bench(int(sys.argv[3]), int(sys.argv[4]), budget, sys.argv[2])), flush=True)
        sys.exit(0)
    for threads in (1, 2):
        for batch in (64, 256):
            print(json.dumps(bench(threads, batch, budget)), flush=True)
