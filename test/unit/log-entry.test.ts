// The page's hypercall log names commands and results as a reader of Xen's ABI would: a get's
// result as hit or miss, an error by its errno name, and no invented command for a struct the VMM
// could not read.
import { describe, expect, it } from "vitest";
import { TMEM_GET_PAGE, TMEM_PUT_PAGE } from "../../hypercall-abi/constants.js";
import { commandText, resultText } from "../../web/src/log-entry.js";
import type { LogEntry } from "../../web/src/page-machine.js";

const entry = (cmd: number, result: number, struct: Uint8Array | null = new Uint8Array(72)): LogEntry => ({
  seq: 1,
  domid: 1,
  guest: "g",
  cmd,
  struct,
  layout: "xen-4.12-oid3/x86_64",
  result,
});

describe("the hypercall log's words", () => {
  it("names a get's result hit or miss, and other results by number or errno", () => {
    expect(resultText(entry(TMEM_GET_PAGE, 1))).toBe("hit");
    expect(resultText(entry(TMEM_GET_PAGE, 0))).toBe("miss");
    expect(resultText(entry(TMEM_GET_PAGE, -22))).toBe("-22 (-EINVAL)");
    expect(resultText(entry(TMEM_PUT_PAGE, 1))).toBe("1");
  });

  it("names the command, an unknown one by its number, and none for a struct outside RAM", () => {
    expect(commandText(entry(TMEM_PUT_PAGE, 1))).toBe("TMEM_PUT_PAGE");
    expect(commandText(entry(77, -38))).toBe("command 77 (unknown)");
    expect(commandText(entry(-1, -14, null))).toBe("no struct (pointer outside RAM)");
    expect(resultText(entry(-1, 1, null))).toBe("1");
  });
});
