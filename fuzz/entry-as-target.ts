// The exported entry (fuzz-target.ts) in the shape the coverage engine loads (coverage-target.ts's
// exports), so the project's own engine can drive `fuzz(data)` exactly as an outside engine
// would: an input fails when, and only when, the entry throws.
import type { Domain, HypercallObserver } from "../vmm/node.js";
import type { CaseFailure } from "./case-run.js";
import { runInput as runCase } from "./coverage-target.js";
import { fuzz } from "./fuzz-target.js";

export { HEADER_BYTES, LAYOUT_LIST, RECORD_BYTES } from "./coverage-target.js";

export function runInput(input: Uint8Array, observer?: (domains: Domain[], tmemMiB: number) => HypercallObserver): CaseFailure | null {
  // Recording a failing input's trace needs the observer, which the entry does not take.
  if (observer) return runCase(input, observer);
  try {
    fuzz(input);
    return null;
  } catch (e) {
    const hypercall = (e as { hypercall?: unknown }).hypercall;
    return {
      case: 0,
      op: typeof hypercall === "number" ? hypercall : -1,
      message: `fuzz(data) threw: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
}
