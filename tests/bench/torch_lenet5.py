"""PyTorch reference for the swarmgrad benchmark: the same LeNet-5 (conv 6@5x5 same, 2x2 max
pool, conv 16@5x5 valid, 2x2 max pool, dense 120, 84, 10, ReLU), Adam, float32, training
steps on random data. Prints one JSON line per (threads, batch)."""
import json, sys, time
import torch
from torch import nn

def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

def blas():
    """Which BLAS the process loaded (Debian's torch uses the system libblas.so.3)."""
    try:
        with open("/proc/self/maps") as maps:
            text = maps.read()
    except OSError:
        return "?"
    return "OpenBLAS" if "openblas" in text else "reference BLAS" if "libblas" in text else "?"

def bench(threads, batch, budget):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = lenet5()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    for _ in range(3):
        step()
    times = []
    start = time.perf_counter()
    while (time.perf_counter() - start < budget and len(times) < 400) or len(times) < 5:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    return {"backend": f"PyTorch {torch.__version__.split('a')[0]}, {blas()}, {threads} thread{'s' if threads > 1 else ''}",
            "batch": batch, "samplesPerSecond": batch / median, "steps": len(times)}

if __name__ == "__main__":
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
    for threads in (1, 2):
        for batch in (64, 256):
            print(json.dumps(bench(threads, batch, budget)), flush=True)
