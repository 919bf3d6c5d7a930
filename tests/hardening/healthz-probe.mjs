// Probes GET /healthz every 250 ms from its own process (so a busy attacker in the test
// process cannot delay the probe) and prints one JSON line per probe: { ok, ms, status }.
const url = process.argv[2];
for (;;) {
  const t0 = performance.now();
  let line;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    line = { ok: res.status === 200, status: res.status, ms: Math.round(performance.now() - t0) };
  } catch (error) {
    line = { ok: false, status: String(error?.cause?.code ?? error?.name ?? error), ms: Math.round(performance.now() - t0) };
  }
  process.stdout.write(`${JSON.stringify(line)}\n`);
  await new Promise((resolve) => setTimeout(resolve, 250));
}
