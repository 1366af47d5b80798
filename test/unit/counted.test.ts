import { describe, expect, it } from "vitest";
import { counted } from "../../vmm/spec/counted.js";

describe("counted", () => {
  it("says one thing in the singular and any other count in the plural", () => {
    expect(counted(1, "pool")).toBe("1 pool");
    expect(counted(0, "pool")).toBe("0 pools");
    expect(counted(2, "persistent page")).toBe("2 persistent pages");
    expect(counted(3, "entry", "entries")).toBe("3 entries");
  });
});
