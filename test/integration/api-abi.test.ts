// The API as an ABI tester's front door, used only through the package's exports (`tmemvm`, the
// built entry resolved through package.json's exports map): the golden ops gcc recorded from
// Xen's headers replayed as raw struct bytes at odd guest addresses in every layout, each result
// and every guest frame checked; structs straddling the end of RAM or beyond it; typed errors.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type * as Tmemvm from "tmemvm";
import { buildModule, HYPERCALL_IMPORT, OP } from "../support/wasm-builder.js";

const { abi, boot, emptyMachine, DomainNotFound, GuestAddressError, GuestFrameError, RegisterValueError } = (await import(
  /* @vite-ignore */ "tmemvm"
)) as typeof Tmemvm;

const recorded = JSON.parse(readFileSync(new URL("../fixtures/tmem-structs.json", import.meta.url), "utf8")) as {
  layouts: Record<string, { sizeof: number; vectors: { name: string; hex: string }[] }>;
};
const layouts = Object.keys(recorded.layouts);

/** The result each recorded op gets from an unprivileged guest (see semantics/generations), and the set-up it needs. */
function documented(name: string, layout: string): [number, "pools" | "fresh"] {
  const v1 = !layout.startsWith("xen-4.0-legacy");
  const withCtrl = !layout.startsWith("xen-4.12-oid3");
  switch (name) {
    case "new_pool private ephemeral 4K v1":
    case "new_pool private persistent 4K v1":
    case "new_pool shared ephemeral with uuid":
      return [v1 ? 0 : -abi.EPERM, "fresh"];
    case "put_page":
    case "flush_page":
    case "flush_object":
    case "destroy_pool":
      return [1, "pools"];
    case "get_page":
      return [-abi.EEMPTY, "pools"];
    case "put_page negative pool id":
      return [-abi.ENODEV, "pools"];
    case "auth (privileged)":
    case "restore_new (privileged)":
    case "control list all clients":
      return [withCtrl ? -abi.EPERM : -abi.EOPNOTSUPP, "pools"];
    case "read with offsets (legacy cmd 8)":
      return [withCtrl ? -abi.EEMPTY : -abi.ENOSYS, "pools"];
    default:
      throw new Error(`no documented result for ${name}`);
  }
}

const RAM_MIB = 4;
const PUT_FRAME = 499; // the recorded put's cmfn
const GET_FRAME = 512; // the recorded get's cmfn
const STRUCT_AT = 0x30007; // odd, and in no frame the ops name
const patterns = new Map<number, Uint8Array>();
/** Frame `pfn`'s own bytes (a copy), so that a frame written to the wrong place shows. */
const pattern = (pfn: number): Uint8Array => {
  let p = patterns.get(pfn);
  if (!p) patterns.set(pfn, (p = Uint8Array.from({ length: abi.TMEM_PAGE_SIZE }, (_, i) => (i * 31 + pfn) & 0xff)));
  return p.slice();
};

/** A machine with one image-less domain of `layout`, its RAM patterned, and 16 persistent pools if asked. */
async function tester(layout: string, setup: "pools" | "fresh") {
  const vm = await emptyMachine({ tmemFrames: 40 });
  const d = vm.addDomain({ name: "t", layout, ramMiB: RAM_MIB });
  expect(d).toMatchObject({ domid: 1, layout, frames: RAM_MIB * 256, ramBytes: RAM_MIB << 20, hasImage: false });
  const spec = abi.opLayout(layout)!;
  if (setup === "pools") {
    const flags = abi.encodePoolFlags({ persistent: true, version: spec.specVersion });
    for (let i = 0; i < 16; i++) {
      vm.writeMemory("t", 0x5001 + i, abi.encodeOp({ cmd: abi.TMEM_NEW_POOL, poolId: 0, creat: { uuid: [0n, 0n], flags, arg1: 0 } }, spec));
      expect(vm.hypercallRaw("t", abi.HYPERVISOR_tmem_op, [0x5001 + i])).toBe(i);
    }
  }
  for (let pfn = 0; pfn < d.frames; pfn++) vm.writeFrame("t", pfn, pattern(pfn));
  return vm;
}

/** Every frame of the domain equals its pattern, except those in `changed`. */
function expectFrames(vm: Tmemvm.Machine, changed: Map<number, Uint8Array>): void {
  const frames = vm.domain("t").frames;
  let differing = 0;
  for (let pfn = 0; pfn < frames; pfn++) {
    const want = changed.get(pfn) ?? pattern(pfn);
    if (Buffer.compare(vm.readFrame("t", pfn), want) !== 0) differing++;
  }
  expect(differing).toBe(0);
}

describe.each(layouts)("the recorded ops of %s as raw bytes at an odd address", (layout) => {
  it.each(recorded.layouts[layout].vectors.map((v) => [v.name, v.hex] as const))("%s", async (name, hex) => {
    const [want, setup] = documented(name, layout);
    const vm = await tester(layout, setup);
    const bytes = Uint8Array.from(Buffer.from(hex, "hex"));
    expect(bytes.length).toBe(recorded.layouts[layout].sizeof);
    vm.writeMemory("t", STRUCT_AT, bytes);
    const usedBefore = vm.tmemState().usedFrames;
    expect(vm.hypercallRaw("t", abi.HYPERVISOR_tmem_op, [BigInt(STRUCT_AT)])).toBe(want);
    // Only the struct's bytes differ from the pattern; the op wrote no frame.
    const structFrame = STRUCT_AT >>> 12;
    const withStruct = pattern(structFrame);
    withStruct.set(bytes, STRUCT_AT & 0xfff);
    expectFrames(vm, new Map([[structFrame, withStruct]]));
    expect(vm.tmemState().usedFrames).toBe(usedBefore + (name === "put_page" ? 1 : 0));
  });

  it("put_page then get_page (both recorded) bring frame 499's bytes into frame 512, and nothing else changes", async () => {
    const vm = await tester(layout, "pools");
    const hexOf = (n: string) => Uint8Array.from(Buffer.from(recorded.layouts[layout].vectors.find((v) => v.name === n)!.hex, "hex"));
    const put = hexOf("put_page");
    const get = hexOf("get_page");
    vm.writeMemory("t", STRUCT_AT, put);
    expect(vm.hypercallRaw("t", 38, [STRUCT_AT])).toBe(1);
    vm.writeMemory("t", STRUCT_AT + 0x1000 + 2, get);
    expect(vm.hypercallRaw("t", 38n, [STRUCT_AT + 0x1000 + 2, 0, 0, 0, 0])).toBe(1);
    const s1 = pattern(STRUCT_AT >>> 12);
    s1.set(put, STRUCT_AT & 0xfff);
    const s2 = pattern((STRUCT_AT >>> 12) + 1);
    s2.set(get, (STRUCT_AT & 0xfff) + 2);
    expectFrames(
      vm,
      new Map([
        [STRUCT_AT >>> 12, s1],
        [(STRUCT_AT >>> 12) + 1, s2],
        [GET_FRAME, pattern(PUT_FRAME)],
      ]),
    );
    const client = vm.tmemState().clients[0];
    expect(client).toMatchObject({ domid: 1, persistentPages: 1, puts: 1, gets: 1, hits: 1 });
  });
});

describe("structs and memory at the end of RAM and beyond", () => {
  const layout = "xen-4.12-oid3/x86_64";
  const size = recorded.layouts[layout].sizeof;

  it("a struct straddling the end of RAM, just past it, above 4 GiB or at 2^64-1 gets -EFAULT and changes nothing", async () => {
    const vm = await tester(layout, "pools");
    const ram = BigInt(RAM_MIB << 20);
    const before = vm.tmemState();
    for (const at of [ram - BigInt(size) + 1n, ram - 1n, ram, ram + 4096n, (1n << 32n) + 0x1000n, (1n << 64n) - 1n, -1n]) {
      expect(vm.hypercallRaw("t", abi.HYPERVISOR_tmem_op, [at]), `struct at 0x${at.toString(16)}`).toBe(-abi.EFAULT);
    }
    // The last whole struct in RAM is read (pool 0's put of frame 0: 1).
    const last = ram - BigInt(size);
    vm.writeMemory(
      "t",
      last,
      abi.encodeOp(
        { cmd: abi.TMEM_PUT_PAGE, poolId: 0, gen: { oid: [1n, 0n, 0n], index: 0, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 0n } },
        abi.opLayout(layout)!,
      ),
    );
    expect(vm.hypercallRaw("t", abi.HYPERVISOR_tmem_op, [last])).toBe(1);
    expect(vm.tmemState().usedFrames).toBe(before.usedFrames + 1);
    // A hypercall number with high bits set is not tmem_op.
    expect(vm.hypercallRaw("t", (1n << 32n) | 38n, [0x1000])).toBe(-abi.ENOSYS);
  });

  it("reads and writes outside RAM fail as typed errors carrying the address; nothing is written", async () => {
    const vm = await emptyMachine({ tmemFrames: 4 });
    vm.addDomain({ name: "t", ramMiB: 1 });
    const end = 1 << 20;
    vm.writeMemory("t", end - 3, Uint8Array.of(1, 2, 3));
    expect(vm.readMemory("t", end - 3, 3)).toEqual(Uint8Array.of(1, 2, 3));
    const refused = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e;
      }
      throw new Error("not refused");
    };
    const straddle = refused(() => vm.writeMemory("t", end - 2, Uint8Array.of(9, 9, 9)));
    expect(straddle).toBeInstanceOf(GuestAddressError);
    expect(straddle).toMatchObject({ address: BigInt(end - 2), length: 3, ramBytes: end });
    expect(vm.readMemory("t", end - 3, 3)).toEqual(Uint8Array.of(1, 2, 3));
    expect(refused(() => vm.readMemory("t", 1n << 40n, 1))).toMatchObject({ address: 1n << 40n, length: 1 });
    expect(refused(() => vm.readMemory("t", -1n, 1))).toMatchObject({ address: (1n << 64n) - 1n });
    const frame = refused(() => vm.readFrame("t", 256));
    expect(frame).toBeInstanceOf(GuestFrameError);
    expect(frame).toMatchObject({ pfn: 256n, address: 256n << 12n });
    expect(refused(() => vm.writeFrame("t", 1n << 52n, new Uint8Array(4096)))).toMatchObject({ pfn: 1n << 52n });
    expect(vm.readFrame("t", 0).every((b) => b === 0)).toBe(true);
    expect(refused(() => vm.hypercallRaw("t", 38, [1n << 64n]))).toBeInstanceOf(RegisterValueError);
    expect(refused(() => vm.hypercallRaw("t", 38, [0, 0, 0, 0, 0, 0]))).toBeInstanceOf(RangeError);
    const missing = refused(() => vm.readMemory("nobody", 0, 1));
    expect(missing).toBeInstanceOf(DomainNotFound);
    expect(missing).toMatchObject({ ref: "nobody" });
  });
});

describe("several image-less domains, each with its layout and privilege, and a tmem of a few frames", () => {
  it("a 4-frame tmem holds four persistent pages and refuses the fifth with -ENOMEM", async () => {
    const vm = await emptyMachine({ tmemFrames: 4 });
    expect(vm.list().capacityFrames).toBe(4);
    vm.addDomain({ name: "a", layout: "xen-4.1-oid3/x86_32" });
    vm.addDomain({ name: "dom0", layout: "xen-4.0-legacy/x86_64", privileged: true });
    expect(vm.domains.map((d) => [d.domid, d.name, d.layout, d.privileged])).toEqual([
      [1, "a", "xen-4.1-oid3/x86_32", false],
      [2, "dom0", "xen-4.0-legacy/x86_64", true],
    ]);
    const a = abi.opLayout("xen-4.1-oid3/x86_32")!;
    vm.writeMemory(
      "a",
      0x101,
      abi.encodeOp(
        { cmd: abi.TMEM_NEW_POOL, poolId: 0, creat: { uuid: [0n, 0n], flags: abi.encodePoolFlags({ persistent: true }), arg1: 0 } },
        a,
      ),
    );
    expect(vm.hypercallRaw("a", 38, [0x101])).toBe(0);
    for (let i = 0; i < 5; i++) {
      vm.writeFrame("a", 10 + i, pattern(i));
      vm.writeMemory(
        "a",
        0x203,
        abi.encodeOp(
          {
            cmd: abi.TMEM_PUT_PAGE,
            poolId: 0,
            gen: { oid: [1n, 0n, 0n], index: i, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: BigInt(10 + i) },
          },
          a,
        ),
      );
      expect(vm.hypercallRaw("a", 38, [0x203])).toBe(i < 4 ? 1 : -abi.ENOMEM);
    }
    expect(vm.tmemState()).toMatchObject({ usedFrames: 4 });
    // The privileged legacy domain may list clients (TMEMC_LIST); the unprivileged one may not.
    const l = abi.opLayout("xen-4.0-legacy/x86_64")!;
    const list = abi.encodeOp(
      { cmd: abi.TMEM_CONTROL, poolId: 0, ctrl: { subop: abi.TMEMC_LIST, cliId: -1, arg1: 4096, arg2: 0, oid: [0n], buf: 0x3000n } },
      l,
    );
    vm.writeMemory("dom0", 0x1001, list);
    expect(vm.hypercallRaw("dom0", 38, [0x1001])).toBeGreaterThanOrEqual(0);
    expect(new TextDecoder().decode(vm.readMemory("dom0", 0x3000, 64))).toMatch(/^G=/);
    expect(() => vm.addDomain({ name: "a" })).toThrow(/exists already/);
    expect(() => vm.addDomain({ name: "b", layout: "xen-9" })).toThrow(/unknown layout/);
    await expect(emptyMachine({ tmemFrames: 4, tmemMiB: 1 })).rejects.toThrow(/not both/);
    await expect(emptyMachine({ tmemFrames: 2.5 })).rejects.toThrow(/0\.\.\d+ frames, got 2.5/);
  });
});

describe("runs that end early: a timeout, an AbortSignal, a hang, and stepwise runs", () => {
  // Guests built byte by byte: one that makes hypercalls for ever, one that loops with none, one that returns at once.
  const hypercallLoop = buildModule({
    funcImports: [HYPERCALL_IMPORT],
    startBody: [OP.loop, OP.void, ...new Array(12).fill([OP.i32Const, 0]).flat(), OP.call, 0, OP.drop, OP.br, 0, OP.end],
  });
  const spinning = buildModule({ startBody: [OP.loop, OP.void, OP.br, 0, OP.end] });
  const returning = buildModule({ startResults: ["i32"], startBody: [OP.i32Const, 3] });
  const guest = (name: string, image: Uint8Array) => ({ image, name, ramMiB: 1 });

  it("a timeout stops a plain guest at its next hypercall", async () => {
    const vm = await boot(guest("loop", hypercallLoop), { tmemFrames: 4 });
    const r = await vm.run({ timeout: 200 });
    expect(r.stopped).toBe("timeout");
    expect(r.ok).toBe(false);
    expect(r.guests[0]).toMatchObject({ state: "running", exitCode: null, crash: null });
    expect(r.guests[0].hypercalls).toBeGreaterThan(0);
  });

  it("a timeout pauses a suspendable guest, which a later step carries on exactly N hypercalls", async () => {
    const vm = await boot(guest("loop", hypercallLoop), { tmemFrames: 4, suspendable: true });
    const r = await vm.run({ timeout: 100 });
    expect(r.stopped).toBe("timeout");
    const made = r.guests[0].hypercalls;
    const s = await vm.step({ hypercalls: 5 });
    expect(s).toMatchObject({ end: "hypercalls", hypercalls: 5 });
    expect(s.guests[0].hypercalls).toBe(made + 5);
  });

  it("an AbortSignal stops a run; one aborted before the run starts stops it at once", async () => {
    const vm = await boot([guest("a", hypercallLoop), guest("b", hypercallLoop)], { tmemFrames: 4 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const r = await vm.run({ signal: ac.signal });
    expect(r.stopped).toBe("aborted");
    expect(r.guests.every((g) => g.state === "running" && g.hypercalls > 0)).toBe(true);
    const before = r.guests.map((g) => g.hypercalls);
    expect((await vm.run({ signal: AbortSignal.abort() })).stopped).toBe("aborted");
    expect(vm.guests.map((g) => g.hypercalls)).toEqual(before);
  });

  it("a guest looping with no hypercall is ended by the watchdog under a timeout, and the process goes on", async () => {
    const vm = await boot(guest("spin", spinning), { tmemFrames: 4 });
    let timerFired = false;
    setTimeout(() => (timerFired = true), 0);
    const r = await vm.run({ timeout: 100, hangAfter: 300 });
    expect(r.stopped).toBe("hung");
    expect(r.guests[0]).toMatchObject({ state: "crashed", exitCode: null });
    expect(r.guests[0].crash).toMatch(/ended by the watchdog/);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(timerFired).toBe(true);
  });

  it("a guest looping with no hypercall is ended under an AbortSignal too; the other guest is left suspended", async () => {
    const vm = await boot([guest("loop", hypercallLoop), guest("spin", spinning)], { tmemFrames: 4, seed: 3 });
    const ac = new AbortController();
    const r = await vm.run({ signal: ac.signal, hangAfter: 300 });
    expect(r.stopped).toBe("hung");
    expect(r.guests.map((g) => [g.name, g.state])).toEqual([
      ["loop", "running"],
      ["spin", "crashed"],
    ]);
    // The looping guest goes on in a step.
    expect(await vm.step({ hypercalls: 3 })).toMatchObject({ end: "hypercalls", hypercalls: 3 });
  });

  it("steps stop after N hypercalls of all guests, or when a guest ends; a plain guest cannot step", async () => {
    const vm = await boot([guest("a", hypercallLoop), guest("b", hypercallLoop), guest("ret", returning)], {
      tmemFrames: 4,
      seed: 9,
      quantum: 4,
    });
    let total = 0;
    for (const n of [1, 7, 30]) {
      const s = await vm.step({ hypercalls: n });
      total += n;
      if (s.end === "domain-ended") {
        expect(s.guests.find((g) => g.name === "ret")).toMatchObject({ state: "exited", exitCode: 3 });
        total -= n - s.hypercalls;
      } else expect(s).toMatchObject({ end: "hypercalls", hypercalls: n });
      expect(s.guests.reduce((m, g) => m + g.hypercalls, 0)).toBe(total);
    }
    expect(vm.guests.find((g) => g.name === "ret")!.state).toBe("exited");
    const plain = await boot(guest("loop", hypercallLoop), { tmemFrames: 4 });
    await expect(plain.step({ hypercalls: 1 })).rejects.toThrow(/suspendable/);
    await expect(vm.step({ hypercalls: 0 })).rejects.toThrow(RangeError);
  });
});
