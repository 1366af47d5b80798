// One classifier for every front end (vmm/error-class.ts): the layers' typed errors, front-end
// errors that declare their class, Node's system errors by their code, and the rest as bugs.
import { describe, expect, it } from "vitest";
import { classifyError } from "../../vmm/error-class.js";
import { ControlError } from "../../vmm/host/control-action.js";
import { HostInvariantError } from "../../vmm/machine/host-fault.js";
import { ImageError } from "../../vmm/machine/image.js";
import { OutputWriteError } from "../../vmm/platform/output-file.js";
import { SaveFileError } from "../../vmm/snapshot/save-file.js";
import { TraceError } from "../../vmm/trace/trace-format.js";

const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", syscall: "write" });

describe("classifyError", () => {
  it.each([
    ["an image the VMM refuses", new ImageError("x: needs at least 4096 MiB of RAM"), "usage", "x: needs at least 4096 MiB of RAM"],
    ["a control action that cannot apply", new ControlError("no domain web"), "usage", "no domain web"],
    ["a damaged trace", new TraceError("truncated header", 12), "usage", null],
    ["a damaged save file", new SaveFileError("checksum mismatch", 4), "usage", null],
    [
      "an output that could not be written",
      new OutputWriteError("--save", "db.tmsv", "ENOSPC", enospc),
      "io",
      "cannot write --save db.tmsv: ENOSPC: no space left on device, write",
    ],
    ["a system error", enospc, "io", "cannot write an output: ENOSPC: no space left on device, write"],
    [
      "a trace that could not be written inside a hypercall",
      new HostInvariantError("broken", { cause: new OutputWriteError("--record", "t.tmtr", "ENOSPC", enospc) }),
      "io",
      "cannot write --record t.tmtr: ENOSPC: no space left on device, write",
    ],
    ["a broken host invariant", new HostInvariantError("page index out of step"), "internal", "internal error: page index out of step"],
    [
      "a front-end error that says it is usage",
      Object.assign(new Error("--out x: no such directory"), { errorClass: "usage" }),
      "usage",
      "--out x: no such directory",
    ],
    ["anything else", new RangeError("bad"), "internal", "internal error: bad"],
    ["a thrown non-error", "what", "internal", "internal error: what"],
  ])("%s", (_, e, cls, message) => {
    const v = classifyError(e);
    expect(v.class).toBe(cls);
    if (message !== null) expect(v.message).toBe(message);
  });
});
