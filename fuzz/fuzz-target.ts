// The hypercall boundary as a fuzz target in libFuzzer's entry shape, for fuzzing infrastructure
// that is not ours (Jazzer.js, or any engine that calls a function with one byte buffer):
// `import { fuzz } from "tmemvm/fuzz-target"`. One buffer is one case of the coverage target
// (coverage-target.ts: a layout, a privilege byte, then raw structs with their register variants;
// any bytes are an input), run through the same oracles as every tmemvm fuzzer (CaseRun). It
// throws only when an oracle fails, which is what such engines take for a finding.
import { runInput } from "./coverage-target.js";

export class FuzzTargetFailure extends Error {
  override readonly name = "FuzzTargetFailure";
  constructor(
    readonly hypercall: number,
    readonly oracle: string,
  ) {
    super(`tmemvm: hypercall ${hypercall} of the input: ${oracle}`);
  }
}

/** Runs one input through the hypercall boundary; throws a FuzzTargetFailure if an oracle fails. */
export function fuzz(data: Uint8Array): void {
  const f = runInput(data);
  if (f) throw new FuzzTargetFailure(f.op, f.message);
}
