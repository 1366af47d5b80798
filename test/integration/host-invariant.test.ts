// The error classes at the machine's edge: a host invariant that breaks inside the hypercall
// import stops the VMM (exit 70 from the CLI), it is never reported as the guest's crash.
import { describe, expect, it } from "vitest";
import { classifyError } from "../../cli/error-report.js";
import { ConfigError } from "../../cli/run-config.js";
import { HostInvariantError } from "../../vmm/machine/host-fault.js";
import { loadImage } from "../../vmm/platform/files.js";
import { Vmm } from "../../vmm/machine/vmm.js";
import { imagePath, QUIET } from "../support/paths.js";
import { testKernels } from "../support/kernels.js";

async function pair(): Promise<{ vmm: Vmm; a: Awaited<ReturnType<Vmm["boot"]>>; b: Awaited<ReturnType<Vmm["boot"]>> }> {
  const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 1 });
  const a = await vmm.boot({
    image: loadImage(imagePath("precache")),
    name: "a",
    ramMiB: 4,
    interleaved: true,
    args: ["400", "16", "3", "random"],
    console: QUIET,
  });
  const b = await vmm.boot({
    image: loadImage(imagePath("preswap")),
    name: "b",
    ramMiB: 4,
    interleaved: true,
    args: ["300", "32", "3000", "run"],
    console: QUIET,
  });
  return { vmm, a, b };
}

describe("a broken host invariant", () => {
  it("thrown by host code inside a hypercall stops every guest: none is marked crashed, nothing runs on", async () => {
    const { vmm, a, b } = await pair();
    let calls = 0;
    // The test double: host code in a's hypercall path that fails on its 50th call.
    a.observer = {
      before: () => {
        if (++calls === 50) throw new TypeError("planted");
      },
    };
    let thrown: unknown = null;
    try {
      vmm.runAll({ seed: 3, quantum: 8 });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(HostInvariantError);
    expect((thrown as Error).message).toBe("broken host invariant in the hypercall of domain a: TypeError: planted");
    for (const d of [a, b]) {
      expect(d.state).toBe("running");
      expect(d.crash).toBeNull();
      expect(vmm.tmem.findClient(d.domid)).toBeDefined(); // a crash would have destroyed the client
    }
    const before = b.hypercalls;
    expect(() => vmm.runAll({}, [])).toThrow(HostInvariantError);
    expect(b.hypercalls).toBe(before);
  });

  it("is reported as an internal error with exit status 70, not as a guest's crash", () => {
    const e = new HostInvariantError("broken host invariant in the hypercall of domain a: TypeError: planted");
    expect(classifyError(e)).toEqual({
      status: 70,
      message: "internal error: broken host invariant in the hypercall of domain a: TypeError: planted",
      internal: true,
    });
  });
});

describe("the classifier", () => {
  it("takes a RangeError from host code for a bug, not for a usage error", () => {
    expect(classifyError(new RangeError("offset is out of bounds"))).toEqual({
      status: 70,
      message: "internal error: offset is out of bounds",
      internal: true,
    });
  });

  it("takes the input errors for usage errors: one line, exit 64", () => {
    expect(classifyError(new ConfigError("x.json: no such file"))).toEqual({
      status: 64,
      message: "x.json: no such file",
      internal: false,
    });
  });

  it("takes a Wasm trap in host code inside the import (a host kernel's) for the host's, not the guest's", async () => {
    const { vmm, a, b } = await pair();
    let calls = 0;
    a.observer = {
      before: () => {
        if (++calls === 50) throw new WebAssembly.RuntimeError("unreachable");
      },
    };
    expect(() => vmm.runAll({ seed: 3, quantum: 8 })).toThrow(HostInvariantError);
    expect(a.state).not.toBe("crashed");
    expect(b.state).not.toBe("crashed");
  });
});
