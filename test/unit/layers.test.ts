// The layer rules (.dependency-cruiser.cjs): no import cycles, and no import against the arrows
// between hypercall-abi/, guest/, the layers of vmm/, fuzz/, cli/ and test/. A failure names each import that breaks
// a rule, as `npx depcruise --config .dependency-cruiser.cjs` would.
import { cruise, format, type ICruiseResult, type IViolation } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";
import { beforeAll, describe, expect, it } from "vitest";

/** Every source folder the rules speak of, plus the scripts and the test config (for cycles). */
const ROOTS = ["hypercall-abi", "guest", "vmm", "cli", "fuzz", "test", "scripts", "web/src", "vitest.config.ts"];

let result: ICruiseResult;
let known: IViolation[];

beforeAll(async () => {
  const options = await extractDepcruiseOptions("./.dependency-cruiser.cjs");
  known = options.knownViolations ?? [];
  const tsConfig = extractTSConfig("tsconfig.test.json");
  const out = await cruise(ROOTS, { ...options, validate: true }, {}, { tsConfig });
  result = out.output as ICruiseResult;
  // Cruising the whole tree takes seconds, and far longer on a loaded machine: room, not a time check.
}, 180_000);

const describeViolation = (v: IViolation) => `${v.rule.name}: ${v.from} -> ${v.to}`;

describe("layer rules", () => {
  it("every import follows the rules", async () => {
    const report = await format(result, { outputType: "err" });
    expect(result.summary.error, report.output as string).toBe(0);
    // A rule that matched nothing because the folders moved would pass vacuously.
    expect(result.summary.totalCruised).toBeGreaterThan(100);
  });

  it("lists today's exceptions, each still occurring (delete its entry when the import goes)", () => {
    const ignored = result.summary.violations.filter((v) => v.rule.severity === "ignore").map(describeViolation);
    for (const e of known) console.info(`layer rule exception: ${describeViolation(e)} (${e.comment ?? "no reason given"})`);
    expect(ignored.sort()).toEqual(known.map(describeViolation).sort());
  });
});
