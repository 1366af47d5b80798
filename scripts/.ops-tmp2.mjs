import { loadImage } from "../dist/vmm/platform/files.js";
import { Vmm } from "../dist/vmm/machine/vmm.js";
import { pageScanFor } from "../dist/vmm/store/kernels.js";
const resident = +(process.argv[2] ?? 1024), N = 50000, REPS = 2;
const vmm = await Vmm.create({ tmemMiB: Math.ceil(((resident + N + 1024) * 4096 * 2) / (1 << 20)) });
const img = loadImage(new URL("../build/bench.wasm", import.meta.url).pathname);
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (let k = 0; k < 4; k++) {
  const lines = [];
  const domain = await vmm.boot({ image: img, ramMiB: 8, args: [String(resident), String(N), String(REPS)], console: { stdout: (t) => lines.push(t), stderr: () => {} } });
  vmm.run(domain);
  const rows = lines.join("").trim().split("\n").map((l) => JSON.parse(l)).filter((r) => r.rep > 0);
  const store = vmm.tmem.store; const ram = domain.ram.bytes; const src = ram.subarray(64 * 4096, 65 * 4096);
  const frames = []; for (let i = 0; i < N; i++) frames.push(store.alloc());
  const scan = pageScanFor(domain.ram.memory);
  let t = process.hrtime.bigint(); for (let i = 0; i < N; i++) store.copyIn(frames[i], src); const bare = Number(process.hrtime.bigint() - t) / N;
  t = process.hrtime.bigint(); let z = 0; for (let i = 0; i < N; i++) { z += scan.isZero(64 * 4096) ? 1 : 0; store.copyIn(frames[i], src); } const withScan = Number(process.hrtime.bigint() - t) / N;
  t = process.hrtime.bigint(); for (let i = 0; i < N; i++) store.copyIn(frames[i], src); const bare2 = Number(process.hrtime.bigint() - t) / N;
  for (const f of frames) store.free(f);
  vmm.destroy?.(domain);
  console.log(rows.map((r) => `${r.op} ${(r.ns / r.n).toFixed(0)}`).join(" "), `| bare ${bare.toFixed(0)} +scan ${withScan.toFixed(0)} bare2 ${bare2.toFixed(0)}`);
}
