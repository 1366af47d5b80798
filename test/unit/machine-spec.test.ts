// The machine spec's one table: every key checked once, the same message for the same mistake from
// a flag, a config file, the API and the page, each named as its author wrote it.
import { describe, expect, it } from "vitest";
import { checkSpec, fileSource, keyName, objectSource, parseTimedAction, type SpecOrigin } from "../../vmm/spec/machine-spec.js";
import { GUEST_KEYS, MACHINE_KEYS, parseWhole, ruleOf, type NumberKey } from "../../vmm/spec/spec-keys.js";
import { SpecError } from "../../vmm/spec/spec-error.js";

/** The error `f` throws, which must be a SpecError. */
function specError(f: () => unknown): SpecError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SpecError);
    return e as SpecError;
  }
  throw new Error("no SpecError was thrown");
}

const guestKeys: NumberKey[] = ["ramMiB", "weight", "capMiB"];
const machineKeys: NumberKey[] = ["tmemMiB", "seed", "quantum"];
const flags: Partial<Record<NumberKey, string>> = {
  ramMiB: "--mem",
  weight: "--weight",
  tmemMiB: "--tmem",
  seed: "--seed",
  quantum: "--quantum",
};

/** A raw spec with `value` at `key` (a guest's key in its second guest). */
function rawWith(key: NumberKey, value: unknown): Record<string, unknown> {
  const guests: Record<string, unknown>[] = [
    { image: "selftest", name: "a" },
    { image: "selftest", name: "b" },
  ];
  if (guestKeys.includes(key)) return { guests: guests.map((g, i) => (i === 1 ? { ...g, [key]: value } : g)) };
  return { guests, [key]: value };
}
const pathOf = (key: NumberKey) => (guestKeys.includes(key) ? `guests[1].${key}` : key);

const sources: [string, SpecOrigin, (key: NumberKey) => string][] = [
  ["a config file", fileSource("cfg.json"), (k) => `cfg.json: ${pathOf(k)}`],
  ["the API", objectSource("spec"), (k) => `spec.${pathOf(k)}`],
  ["the page", objectSource("page"), (k) => `page.${pathOf(k)}`],
];

describe("the key table", () => {
  it("gives every number key a range, and the run's flags their keys", () => {
    for (const key of [...guestKeys, ...machineKeys]) expect(ruleOf(key).max).toBeGreaterThan(ruleOf(key).min);
    expect(GUEST_KEYS.ramMiB.flag).toBe("--mem");
    expect(MACHINE_KEYS.tmemMiB.flag).toBe("--tmem");
  });

  for (const key of [...guestKeys, ...machineKeys]) {
    const { min, max } = ruleOf(key);
    for (const bad of [min - 1, max + 1, 1.5]) {
      it(`${key} = ${bad}: the same message from a flag, a config file, the API and the page`, () => {
        const problem = `must be a whole number ${min}..${max}${ruleOf(key).unit ? ` (${ruleOf(key).unit})` : ""}${ruleOf(key).nullable ? " or null" : ""}, got ${bad}`;
        for (const [, origin, name] of sources) {
          const e = specError(() => checkSpec(rawWith(key, bad), origin));
          expect(e.message).toBe(`${name(key)} ${problem}`);
          expect([e.source, e.key, e.value]).toEqual([origin.name, pathOf(key), bad]);
        }
        const flag = flags[key];
        if (flag && Number.isInteger(bad) && bad >= 0)
          expect(specError(() => parseWhole(String(bad), ruleOf(key), flag, "", flag)).message).toBe(`${flag} ${problem}`);
      });
    }
  }

  it("refuses a number given as text, NaN and hex alike, naming what it got", () => {
    expect(specError(() => checkSpec({ guests: [{ image: "x" }], tmemMiB: "8" }, objectSource("spec"))).message).toBe(
      'spec.tmemMiB must be a whole number 0..1048576 (MiB), got "8"',
    );
    expect(specError(() => checkSpec({ guests: [{ image: "x", ramMiB: NaN }] }, objectSource("spec"))).message).toBe(
      "spec.guests[0].ramMiB must be a whole number 1..4095 (MiB), got NaN",
    );
    expect(specError(() => checkSpec({ guests: [{ image: "x" }], seed: "0x10" }, fileSource("c.json"))).message).toBe(
      'c.json: seed must be a whole number 0..4294967295, got "0x10"',
    );
    expect(specError(() => parseWhole("0x10", ruleOf("seed"), "--seed", "", "--seed")).message).toBe(
      "--seed must be a whole number 0..4294967295, got 0x10",
    );
    expect(specError(() => parseTimedAction("10:weight a 0x10", "--control", "", "--control")).message).toMatch(
      /^--control "10:weight a 0x10": control action weight: WEIGHT 0x10 is not a whole number$/,
    );
    expect(specError(() => parseTimedAction("0x10:list", "--control", "", "--control")).message).toBe(
      '--control "0x10:list": AT must be a whole number 0..9007199254740991, got 0x10',
    );
  });

  it("refuses unknown keys, in the machine, a guest and a control action", () => {
    expect(specError(() => checkSpec({ guests: [{ image: "x" }], tmem: 8 }, objectSource("spec"))).message).toMatch(
      /^spec\.tmem is not a key of a machine; its keys: guests, tmemMiB, tmemFrames, seed, quantum, control, record, domains$/,
    );
    const e = specError(() => checkSpec({ guests: [{ image: "x", mem: 8 }] }, fileSource("c.json")));
    expect(e.message).toMatch(
      /^c\.json: guests\[0\]\.mem is not a key of a guest; its keys: image, name, ramMiB, layout, privileged, weight, capMiB, compress, args, restore, save$/,
    );
    expect([e.key, e.value]).toEqual(["guests[0].mem", 8]);
    expect(
      specError(() => checkSpec({ guests: [{ image: "x" }], control: [{ at: 1, action: "list", when: 2 }] }, objectSource("spec"))).message,
    ).toMatch(/^spec\.control\[0\]\.when is not a key of a control action/);
  });

  it("refuses two guests of the same name, where a second one used to be renamed silently", () => {
    const e = specError(() =>
      checkSpec(
        {
          guests: [
            { image: "x", name: "a" },
            { image: "y", name: "a" },
          ],
        },
        fileSource("c.json"),
      ),
    );
    expect(e.message).toBe('c.json: guests[1].name is "a", the name of guests[0] already: names must be distinct');
  });

  it("checks the types of the other keys", () => {
    expect(specError(() => checkSpec({ guests: [{ image: "x", args: [1, 2] }] }, objectSource("spec"))).message).toBe(
      "spec.guests[0].args must be an array of strings, got [1,2]",
    );
    expect(specError(() => checkSpec({ guests: [{ image: "x", compress: "yes" }] }, objectSource("spec"))).message).toBe(
      'spec.guests[0].compress must be true or false, got "yes"',
    );
    expect(specError(() => checkSpec({ guests: [{ image: "x", layout: "xen-9/x86_64" }] }, objectSource("spec"))).message).toMatch(
      /^spec\.guests\[0\]\.layout names an unknown layout xen-9\/x86_64; one of: /,
    );
    expect(specError(() => checkSpec({ guests: [] }, objectSource("spec"))).message).toBe(
      "spec.guests must be an array of at least one guest, got []",
    );
    expect(specError(() => checkSpec({ guests: [{ name: "a" }] }, objectSource("spec"))).message).toMatch(
      /^spec\.guests\[0\]\.image is required/,
    );
  });

  it("reads a config's compress, and domains as the older name of guests", () => {
    const spec = checkSpec({ domains: [{ image: "x", compress: true, capMiB: null }] }, fileSource("c.json"));
    expect(spec.guests[0]).toMatchObject({ image: "x", compress: true, capMiB: null, layout: "xen-4.12-oid3/x86_64" });
    expect(specError(() => checkSpec({ guests: [{ image: "x" }], domains: [{ image: "y" }] }, fileSource("c.json"))).message).toMatch(
      /^c\.json: domains is the older name of guests/,
    );
  });

  it("fills in the defaults and parses control actions in words and as objects", () => {
    const spec = checkSpec(
      { guests: [{ image: "x", name: "web" }], control: ["5:freeze web", { at: 7, action: "weight", args: ["web", 3] }] },
      objectSource("spec"),
    );
    expect(spec).toMatchObject({ tmemMiB: 64, seed: 1, quantum: 64 });
    expect(spec.control).toEqual([
      { action: "freeze", domain: "web", at: 5 },
      { action: "weight", domain: "web", weight: 3, at: 7 },
    ]);
  });

  it("names a key a flag overrode by the flag", () => {
    const origin: SpecOrigin = { ...fileSource("c.json"), flags: { ramMiB: "--mem" } };
    expect(keyName(origin, "guests[2].ramMiB")).toBe("--mem");
    expect(keyName(origin, "guests[2].weight")).toBe("c.json: guests[2].weight");
  });
});
