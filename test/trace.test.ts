// Record and replay: a recorded guest run replays with no divergence; a changed result is found
// at its record; corruption and truncation are named by byte offset.
import { readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { loadImage } from "../vmm/image.js";
import { TraceRecorder } from "../vmm/trace/recorder.js";
import { replayTrace } from "../vmm/trace/replay.js";
import { decodeTrace, TraceError } from "../vmm/trace/trace-format.js";
import { Vmm } from "../vmm/vmm.js";

const dir = mkdtempSync(join(tmpdir(), "tmemvm-trace-"));

async function record(image: string, path: string, args: string[] = [], privileged = false): Promise<Uint8Array> {
  const vmm = await Vmm.create({ tmemMiB: 4 });
  const domain = await vmm.boot({ image: loadImage(new URL(`../build/${image}.wasm`, import.meta.url).pathname), args, privileged, console: { stdout: () => {}, stderr: () => {} } });
  const rec = new TraceRecorder(path, { tmemMiB: 4, domains: [{ domid: domain.domid, name: domain.name, layout: domain.layout.name, ramMiB: domain.ram.sizeBytes >> 20, privileged }] });
  domain.observer = rec;
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
    const report = replayTrace(selftest);
    expect(report.divergence).toBeNull();
    expect(report.records).toBeGreaterThan(60);
  });

  it("the demo's run, gets and all, replays with no divergence", async () => {
    const trace = await record("precache", join(dir, "precache.tmtr"), ["64", "8", "3"]);
    expect(replayTrace(trace)).toEqual({ records: decodeTrace(trace).records.length, divergence: null });
  });

  it("the C guest's run replays with no divergence", async () => {
    expect(replayTrace(await record("selftest-c", join(dir, "c.tmtr"))).divergence).toBeNull();
  });

  it("a flipped result byte is reported at that record", () => {
    const { records } = decodeTrace(selftest);
    for (const target of [records[0], records[17], records[records.length - 1]]) {
      const file = selftest.slice();
      // The result is the i32 after kind (1), domid (4) and 12 registers (48) in the body.
      const at = target.offset + 4 + 1 + 4 + 48;
      file[at] ^= 0x01;
      fixCrc(file, target.offset);
      expect(replayTrace(file).divergence).toMatchObject({ record: target.number, offset: target.offset, message: expect.stringMatching(/^result -?\d+, recorded -?\d+$/) });
    }
  });

  it("a changed page byte in a get's recorded output is reported at that record", async () => {
    const trace = await record("precache", join(dir, "precache2.tmtr"), ["64", "8", "2"]);
    const { records } = decodeTrace(trace);
    const get = records.find((r) => r.record.outputs.length > 0)!;
    const file = trace.slice();
    // The last byte of the body is the last byte of the output page.
    const len = new DataView(file.buffer).getUint32(get.offset, true);
    file[get.offset + 4 + len - 1] ^= 0xff;
    fixCrc(file, get.offset);
    expect(replayTrace(file).divergence).toMatchObject({ record: get.number, message: expect.stringMatching(/guest memory at 0x[0-9a-f]+ is/) });
  });
});

describe("damaged traces", () => {
  const fails = (file: Uint8Array, message: RegExp, offset?: number) => {
    let err: unknown;
    try {
      replayTrace(file);
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
    fails(file, new RegExp(`checksum mismatch in record ${target.number} \\(byte offset ${target.offset}\\)`), target.offset);
  });

  it("truncation anywhere is named with its byte offset", () => {
    for (const cut of [3, 14, 200, Math.floor(selftest.length / 2), selftest.length - 1, selftest.length - 13]) {
      fails(selftest.subarray(0, cut), /truncated|TMTR magic/);
    }
    const { records } = decodeTrace(selftest);
    // Cut exactly after record 5: whole records, but no end record.
    fails(selftest.subarray(0, records[5].offset), /ends after record 5 without its end record/, records[5].offset);
  });

  it("a corrupted header, wrong magic or unknown version is refused", () => {
    const bad = selftest.slice();
    bad[14] ^= 1;
    fails(bad, /header checksum mismatch/);
    fails(new TextEncoder().encode("NOPE and more bytes here"), /no TMTR magic/, 0);
    const v2 = selftest.slice();
    v2[4] = 2;
    fails(v2, /version 2 is not supported/, 4);
  });
});
