// temp driver (not committed)
import { loadImage } from "../dist/vmm/platform/files.js";
import { Vmm } from "../dist/vmm/machine/vmm.js";
const resident = +(process.argv[2] ?? 1024), N = +(process.argv[3] ?? 50000), REPS = +(process.argv[4] ?? 5);
const capacityMiB = Math.ceil(((resident + N + 1024) * 4096) / (1 << 20));
const vmm = await Vmm.create({ tmemMiB: capacityMiB });
const lines = [];
const domain = await vmm.boot({ image: loadImage(new URL("../build/bench.wasm", import.meta.url).pathname), ramMiB: 8, args: [String(resident), String(N), String(REPS)], console: { stdout: (t) => lines.push(t), stderr: (t) => process.stderr.write(t) } });
const c0 = process.cpuUsage();
vmm.run(domain);
const c1 = process.cpuUsage(c0);
const rows = lines.join("").trim().split("\n").map((l) => JSON.parse(l));
const by = {};
for (const r of rows) if (r.rep > 0) (by[r.op] ??= []).push(r.ns / r.n);
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(resident, Object.entries(by).map(([k, v]) => `${k} ${med(v).toFixed(0)}`).join("  "), `cpu ${(c1.user / 1e3).toFixed(0)}ms`);
