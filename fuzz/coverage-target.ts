// The coverage-guided fuzzer's target: one input (bytes) becomes one case, run through the same
// oracles as every other hypercall fuzzer (CaseRun.step). Input layout:
//   [0] layout (mod 6)  [1] bit 0 privileged, bit 1 authorised for the shared uuid  [2] capacity
//   then records of 1 + 56 bytes: a control byte choosing the registers, and the struct bytes.
import { HYPERVISOR_tmem_op, TMEM_NEW_POOL, TMEM_PUT_PAGE } from "../hypercall-abi/constants.js";
import { encodeOp } from "../hypercall-abi/op-codec.js";
import { OP_LAYOUTS } from "../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../hypercall-abi/pool-flags.js";
import type { Domain, HypercallObserver } from "../vmm/node.js";
import { CaseRun, FIRST_FRAME, FRAMES_USED, OP_AT, type CaseFailure } from "./case-run.js";

export const LAYOUT_LIST = [...OP_LAYOUTS.values()];
export const RECORD_BYTES = 57;
export const HEADER_BYTES = 3;

/** The hypercalls an input makes when every one runs: the set-up's (setupFor) and one per record. */
export function inputHypercalls(input: Uint8Array): number {
  return input.length < HEADER_BYTES ? 0 : SETUP_HYPERCALLS + Math.floor((input.length - HEADER_BYTES) / RECORD_BYTES);
}

export function runInput(input: Uint8Array, observer?: (domains: Domain[], tmemMiB: number) => HypercallObserver): CaseFailure | null {
  if (input.length < HEADER_BYTES) return null;
  const layout = LAYOUT_LIST[input[0] % LAYOUT_LIST.length];
  const run = new CaseRun(
    { capacityFrames: 4 + (input[2] % 40), domains: [{ layout, privileged: (input[1] & 1) !== 0, authorised: (input[1] & 2) !== 0 }] },
    0,
    observer,
  );
  try {
    return drive(run, input, layout);
  } finally {
    run.release();
  }
}

type Layout = (typeof LAYOUT_LIST)[number];

const RAX = BigInt(HYPERVISOR_tmem_op);
const AT = BigInt(OP_AT);

const SETUP_POOLS = 2;
const SETUP_PUTS = 4;
const SETUP_HYPERCALLS = SETUP_POOLS + SETUP_PUTS;
/** Each layout's set-up structs (two NEW_POOLs, four PUTs), encoded once: every input starts with them. */
const setupStructs = new Map<Layout, Uint8Array[]>();
function setupFor(layout: Layout): Uint8Array[] {
  let structs = setupStructs.get(layout);
  if (!structs) {
    structs = [true, false].map((persistent) =>
      encodeOp(
        {
          cmd: TMEM_NEW_POOL,
          poolId: 0,
          creat: { uuid: [0n, 0n], flags: encodePoolFlags({ persistent, version: layout.specVersion }), arg1: 0 },
        },
        layout,
      ),
    );
    for (let i = 0; i < SETUP_PUTS; i++) {
      const oid = [BigInt(i & 1), 0n, 0n].slice(0, layout.oidWords);
      structs.push(
        encodeOp(
          { cmd: TMEM_PUT_PAGE, poolId: i & 1, gen: { oid, index: i, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: BigInt(FIRST_FRAME + i) } },
          layout,
        ),
      );
    }
    setupStructs.set(layout, structs);
  }
  return structs;
}

const PAGE = 4096;
/**
 * The guest's pages for the set-up and the records' ops to name: zero pages, dense pages of two
 * patterns, and pages all zeros but one byte, by turns; the same for every input (written once).
 */
const setupPages = new Uint8Array(FRAMES_USED * PAGE);
for (let i = 0; i < FRAMES_USED; i++) {
  const page = setupPages.subarray(i * PAGE, i * PAGE + PAGE);
  const kind = i % 4;
  if (kind === 3) page[(i * 373) & (PAGE - 1)] = 1 + i;
  else if (kind > 0) for (let j = 0; j < PAGE; j++) page[j] = ((j + (FIRST_FRAME + i) * PAGE) * (9 + kind)) >>> 3;
}

function drive(run: CaseRun, input: Uint8Array, layout: Layout): CaseFailure | null {
  // Setup as a guest's front ends would: a persistent and an ephemeral pool, a few pages.
  const rax = RAX;
  const at = AT;
  const structs = setupFor(layout);
  for (let i = 0; i < SETUP_POOLS; i++) {
    const f = run.step(0, structs[i], rax, at);
    if (f) return f;
  }
  run.load(0, FIRST_FRAME * PAGE, setupPages);
  for (let i = SETUP_POOLS; i < SETUP_HYPERCALLS; i++) {
    const f = run.step(0, structs[i], rax, at);
    if (f) return f;
  }
  const ramBytes = BigInt(run.doms[0].domain.ram.sizeBytes);
  for (let p = HEADER_BYTES; p + RECORD_BYTES <= input.length; p += RECORD_BYTES) {
    const c = input[p];
    const struct = input.subarray(p + 1, p + RECORD_BYTES);
    let nr = rax;
    let ptr = at;
    switch (c & 7) {
      case 5:
        ptr = ramBytes - BigInt(c >> 3);
        break;
      case 6:
        nr = BigInt(c >> 3) + 30n;
        break;
      case 7:
        ptr = at + BigInt(1 + ((c >> 3) % 3));
        break;
    }
    const f = run.step(0, struct, nr, ptr);
    if (f) return f;
  }
  return run.finish(-1);
}
