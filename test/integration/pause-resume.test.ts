// A run the stop flag ends between slices (how the browser page pauses) leaves its guests
// suspended; clearing the flag and running them again carries on to the same ends, and the
// trace of the whole, with a run event per burst, replays with no divergence.
import { describe, expect, it } from "vitest";
import { Vmm } from "../../vmm/machine/vmm.js";
import { loadImage } from "../../vmm/platform/files.js";
import { MemoryTraceSink } from "../../vmm/trace/trace-sink.js";
import { recordVmm } from "../../vmm/trace/recorder.js";
import { replayTrace } from "../../vmm/trace/replay.js";
import { decodeTrace } from "../../vmm/trace/trace-format.js";
import { imagePath, QUIET } from "../support/paths.js";
import { testKernels } from "../support/kernels.js";

describe("a run stopped between slices, continued", () => {
  it("two interleaved guests paused every 5 slices end as one run does, and the trace replays", async () => {
    const stop = new Int32Array(1);
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 4, stop });
    const sink = new MemoryTraceSink();
    const rec = recordVmm(vmm, sink);
    const image = loadImage(imagePath("precache"));
    for (const seed of ["3", "4"])
      await vmm.boot({ image, ramMiB: 4, args: ["200", "16", "2", "random", seed], interleaved: true, console: QUIET });
    let bursts = 0;
    while (vmm.domains.some((d) => d.state === "created" || d.state === "running")) {
      let slices = 0;
      stop[0] = 0;
      vmm.runAll(
        {
          seed: 7 + bursts,
          quantum: 8,
          onSlice: () => {
            if (++slices === 5) stop[0] = 1;
          },
        },
        vmm.domains.filter((d) => d.state !== "exited" && d.state !== "crashed"),
      );
      bursts++;
      if (bursts === 1) expect(vmm.domains.map((d) => d.state)).toEqual(["running", "running"]);
    }
    expect(bursts).toBeGreaterThan(3);
    expect(vmm.domains.map((d) => [d.state, d.exitCode])).toEqual([
      ["exited", 0],
      ["exited", 0],
    ]);
    rec.close();
    const trace = sink.bytes();
    expect(decodeTrace(trace).entries.filter((e) => e.kind === "event" && e.event.type === "run").length).toBe(bursts);
    expect(replayTrace(trace, testKernels).divergence).toBeNull();
  });

  it("a guest the stop flag reached inside its slice (thrown through its frames) is not continued", async () => {
    const stop = new Int32Array(1);
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 4, stop });
    const image = loadImage(imagePath("precache"));
    for (const seed of ["3", "4"])
      await vmm.boot({ image, ramMiB: 4, args: ["200", "16", "2", "random", seed], interleaved: true, console: QUIET });
    let calls = 0;
    for (const d of vmm.domains)
      d.observer = {
        after: () => {
          if (++calls === 3) stop[0] = 1;
        },
      };
    vmm.runAll({ seed: 1, quantum: 50 });
    stop[0] = 0;
    expect(() =>
      vmm.runAll(
        { seed: 2 },
        vmm.domains.filter((d) => d.state === "running"),
      ),
    ).toThrow(/not ready to run \(running\)/);
  });

  it("a domain still running without a suspended vCPU (booted alone, not interleaved) is refused", async () => {
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 1 });
    const d = await vmm.boot({ image: loadImage(imagePath("selftest")), ramMiB: 4, console: QUIET });
    d.state = "running";
    expect(() => vmm.runAll({}, [d])).toThrow(/not ready to run \(running\)/);
  });
});
