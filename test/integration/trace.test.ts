// Record and replay: a recorded guest run replays with no divergence; a changed result is found
// at its record; corruption, truncation and other format versions are named by byte offset.
import { readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { loadImage, traceFile } from "../../vmm/platform/files.js";
import { replayTrace } from "../../vmm/trace/replay.js";
import { decodeTrace, encodeEnd, HYPERCALL_RESULT_AT, TraceError, TRACE_VERSION } from "../../vmm/trace/trace-format.js";
import { Vmm } from "../../vmm/machine/vmm.js";
import { expectReplays } from "../support/replay-check.js";
import { imagePath, QUIET } from "../support/paths.js";
import { recordVmm } from "../../vmm/trace/recorder.js";
import { testKernels } from "../support/kernels.js";
import { rewriteTrace } from "../support/trace-rewrite.js";

const dir = mkdtempSync(join(tmpdir(), "tmemvm-trace-"));

async function record(image: string, path: string, args: string[] = [], privileged = false): Promise<Uint8Array> {
  const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 4 });
  const rec = recordVmm(vmm, traceFile(path));
  const domain = await vmm.boot({ image: loadImage(imagePath(image)), args, privileged, console: QUIET });
  expect(vmm.run(domain)).toBe(0);
  expect(rec.close()).toBe(domain.hypercalls);
  return new Uint8Array(readFileSync(path)); // a copy: Buffer.slice would alias
}

/** Rewrites the CRC of the record at `offset`, as a tool that edits a trace would. */
function fixCrc(file: Uint8Array, offset: number): void {
  const v = new DataView(file.buffer, file.byteOffset);
  const len = v.getUint32(offset, true);
  v.setUint32(offset + 4 + len, crc32(file.subarray(offset + 4, offset + 4 + len)) >>> 0, true);
}

let selftest: Uint8Array;
beforeAll(async () => {
  selftest = await record("selftest", join(dir, "selftest.tmtr"));
});

describe("record then replay", () => {
  it("the self-test guest's run replays with no divergence", () => {
    const report = expectReplays(selftest);
    expect(report.records).toBeGreaterThan(60);
  });

  it("the demo's run, gets and all, replays with no divergence", async () => {
    const trace = await record("precache", join(dir, "precache.tmtr"), ["64", "8", "3"]);
    expect(replayTrace(trace, testKernels)).toMatchObject({
      records: decodeTrace(trace).records.length,
      divergence: null,
      endedEarly: null,
    });
  });

  it("the C guest's run replays with no divergence", async () => {
    expectReplays(await record("selftest-c", join(dir, "c.tmtr")));
  });

  it("a flipped result byte is reported at that record", () => {
    const { records } = decodeTrace(selftest);
    for (const target of [records[0], records[17], records[records.length - 1]]) {
      const file = selftest.slice();
      const at = target.offset + HYPERCALL_RESULT_AT;
      file[at] ^= 0x01;
      fixCrc(file, target.offset);
      expect(replayTrace(file, testKernels).divergence).toMatchObject({
        record: target.number,
        offset: target.offset,
        message: expect.stringMatching(/^result -?\d+, recorded -?\d+$/),
      });
    }
  });

  it("a changed page byte in a get's recorded output is reported at that record", async () => {
    // The pages written inline (a get's output is otherwise a reference to the put that stored it).
    const trace = rewriteTrace(await record("precache", join(dir, "precache2.tmtr"), ["64", "8", "2"]));
    const { records } = decodeTrace(trace);
    const get = records.find((r) => r.record.outputs.length > 0)!;
    const file = trace.slice();
    // The last byte of the body is the last byte of the output page.
    const len = new DataView(file.buffer).getUint32(get.offset, true);
    file[get.offset + 4 + len - 1] ^= 0xff;
    fixCrc(file, get.offset);
    expect(replayTrace(file, testKernels).divergence).toMatchObject({
      record: get.number,
      message: expect.stringMatching(/guest memory at 0x[0-9a-f]+ is/),
    });
  });

  it("a get's output that names another page than the one it returned is reported at that record", async () => {
    const trace = await record("precache", join(dir, "precache3.tmtr"), ["64", "8", "2"]);
    const { records } = decodeTrace(trace);
    const get = records.find((r) => r.record.outputs.length > 0 && refAt(trace, r.offset) >= 0)!;
    const returned = get.record.outputs[0]!.bytes;
    const other = records.find(
      (r) => r.number < get.number && r.record.inputs.length === 2 && !sameBytes(r.record.inputs[1]!.bytes, returned),
    )!;
    const file = trace.slice();
    const at = refAt(trace, get.offset);
    new DataView(file.buffer).setUint32(at, other.number, true);
    file[at + 4] = 0; // its inputs
    file[at + 5] = 1; // the page after the struct
    fixCrc(file, get.offset);
    expect(replayTrace(file, testKernels).divergence).toMatchObject({
      record: get.number,
      message: expect.stringMatching(/guest memory at 0x[0-9a-f]+ is/),
    });
  });
});

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

describe("damaged traces", () => {
  const fails = (file: Uint8Array, message: RegExp, offset?: number) => {
    let err: unknown;
    try {
      replayTrace(file, testKernels);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TraceError);
    expect((err as Error).message).toMatch(message);
    if (offset !== undefined) expect((err as TraceError).offset).toBe(offset);
  };

  it("a flipped byte without a matching checksum names the record and its offset", () => {
    const { records } = decodeTrace(selftest);
    const target = records[9];
    const file = selftest.slice();
    file[target.offset + 20] ^= 0x40;
    fails(
      file,
      new RegExp(`checksum mismatch in the record after hypercall record ${target.number - 1} \\(byte offset ${target.offset}\\)`),
      target.offset,
    );
  });

  it("truncation anywhere is named with its byte offset", () => {
    for (const cut of [3, 14, 200, Math.floor(selftest.length / 2), selftest.length - 1, selftest.length - 13]) {
      fails(selftest.subarray(0, cut), /truncated|TMTR magic/);
    }
    const { records } = decodeTrace(selftest);
    // Cut exactly after record 5: whole records, but no end record.
    fails(selftest.subarray(0, records[5].offset), /ends after record 5 without its end record/, records[5].offset);
  });

  it("a corrupted header or wrong magic is refused", () => {
    const bad = selftest.slice();
    bad[14] ^= 1;
    fails(bad, /header checksum mismatch/);
    fails(new TextEncoder().encode("NOPE and more bytes here"), /no TMTR magic/, 0);
  });

  it("a trace of another format version is refused, naming both versions", () => {
    expect(TRACE_VERSION).toBe(3);
    // A format-1 header as tmemvm 0.1.0 wrote it: no policy, no control actions.
    const meta = new TextEncoder().encode(
      JSON.stringify({
        tmemMiB: 4,
        domains: [{ domid: 1, name: "selftest", layout: "xen-4.12-oid3/x86_64", ramMiB: 32, privileged: false }],
      }),
    );
    const v1 = new Uint8Array(12 + meta.length + 4);
    const v = new DataView(v1.buffer);
    v1.set(new TextEncoder().encode("TMTR"));
    v.setUint16(4, 1, true);
    v.setUint32(8, meta.length, true);
    v1.set(meta, 12);
    v.setUint32(12 + meta.length, crc32(v1.subarray(0, 12 + meta.length)) >>> 0, true);
    fails(
      v1,
      /^trace made by format 1; this tmemvm reads 2 to 3 \(it lacks the domains' policy and the control actions; record the run again\) \(byte offset 4\)$/,
      4,
    );
    const v4 = selftest.slice();
    v4[4] = 4;
    fails(v4, /^trace made by format 4; this tmemvm reads 2 to 3 \(a newer tmemvm wrote it\)/, 4);
  });

  it("a trace of format 2 (no page references) is still read and replayed", () => {
    const v2 = selftest.slice();
    v2[4] = 2;
    const metaLen = new DataView(v2.buffer).getUint32(8, true);
    new DataView(v2.buffer).setUint32(12 + metaLen, crc32(v2.subarray(0, 12 + metaLen)) >>> 0, true);
    expect(expectReplays(v2).records).toBe(decodeTrace(selftest).records.length);
  });
});

describe("pages written again", () => {
  it("are recorded as references to their first copy: the same records, a fraction of the bytes, the same replay", async () => {
    // 48 file pages read 6 times through an 8-frame cache: each page is put and got back many times.
    const trace = await record("precache", join(dir, "refs.tmtr"), ["32", "4", "4", "random"]);
    const { records } = decodeTrace(trace);
    const inline = rewriteTrace(trace);
    const pages = records.reduce((n, r) => n + [...r.record.inputs, ...r.record.outputs].filter((x) => x.bytes.length === 4096).length, 0);
    expect(pages).toBeGreaterThan(150);
    expect(trace.length).toBeLessThan(inline.length / 4);
    // The same records: decoded and written inline again, the inline trace comes back byte for byte.
    expect(Buffer.from(rewriteTrace(inline)).equals(Buffer.from(inline))).toBe(true);
    expectReplays(trace);
  });

  it("a reference to a record that is not there is named as damage", async () => {
    const trace = await record("precache", join(dir, "refs-bad.tmtr"), ["16", "4", "3", "random"]);
    const { records } = decodeTrace(trace);
    // The first hypercall record holding a reference: point it at itself, not yet decoded.
    const r = records.find((x) => refAt(trace, x.offset) >= 0)!;
    const bad = trace.slice();
    new DataView(bad.buffer).setUint32(refAt(trace, r.offset), r.number, true);
    fixCrc(bad, r.offset);
    let err: unknown;
    try {
      decodeTrace(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TraceError);
    expect((err as TraceError).message).toBe(
      `malformed hypercall record (a region names record ${r.number}'s, which is not there) (byte offset ${r.offset})`,
    );
  });
});

/** The byte offset, in the trace, of the record number of the first reference in the hypercall record at `offset`; -1 if none. */
function refAt(file: Uint8Array, offset: number): number {
  const v = new DataView(file.buffer, file.byteOffset);
  let p = offset + 4 + 58;
  for (let k = 0; k < 2; k++) {
    const n = file[p++]!;
    for (let i = 0; i < n; i++) {
      const len = v.getUint32(p + 8, true);
      if (len & 0x80000000) return p + 12;
      p += 12 + len;
    }
  }
  return -1;
}

describe("the end record", () => {
  it("holds the state tmem ended in; a replay that ends elsewhere is reported at the end record", () => {
    const t = decodeTrace(selftest);
    expect(t.end.reason).toBeNull();
    const state = structuredClone(t.end.state);
    state.usedFrames += 1;
    const hypercalls = t.records.length;
    const planted = Buffer.concat([
      selftest.subarray(0, t.end.offset),
      encodeEnd(hypercalls, t.entries.length - hypercalls, { reason: null, state }),
    ]);
    expect(replayTrace(planted, testKernels).divergence).toMatchObject({
      where: "the end record",
      offset: t.end.offset,
      message: `tmem.usedFrames is ${t.end.state.usedFrames}, recorded ${state.usedFrames}`,
    });
  });
});
