// The control actions' one type: words -> action -> trace -> action, and the ranges checked once.
import { describe, expect, it } from "vitest";
import {
  actionFromTrace,
  actionText,
  checkAction,
  ControlError,
  parseAction,
  traceArgs,
  type ControlAction,
} from "../../vmm/host/control-action.js";

const WORDS: [string, string[]][] = [
  ["freeze", ["web"]],
  ["thaw", ["web"]],
  ["destroy", ["web"]],
  ["flush", ["12"]],
  ["weight", ["web", "4"]],
  ["cap", ["web", "3"]],
  ["cap", ["web", "none"]],
  ["compress", ["web", "on"]],
  ["compress", ["web", "off"]],
  ["auth", ["web", "0x1f,7"]],
  ["deauth", ["web", "1,0xffffffffffffffff"]],
  ["save", ["web", "out/web.tmsv"]],
  ["list", []],
];

describe("control actions", () => {
  it.each(WORDS)("%s %j: its words, and the trace's record of it, give the same action back", (name, args) => {
    const a = parseAction(name, args);
    const [again, ...rest] = actionText(a).split(" ");
    expect(parseAction(again, rest)).toEqual(a);
    const fromTrace = actionFromTrace(a.action, 5, traceArgs(a));
    expect(fromTrace).toEqual("domain" in a ? { ...a, domain: 5 } : a);
  });

  it.each([
    ["weight", ["web", "1000001"], "control action weight: WEIGHT must be a whole number 0..1000000"],
    ["cap", ["web", "1048577"], "control action cap: MIB must be a whole number 0..1048576"],
    ["weight", ["web", "lots"], "control action weight: WEIGHT lots is not a whole number"],
    ["compress", ["web", "yes"], "control action compress takes on or off"],
    ["auth", ["web", "1"], "control action auth: the uuid 1 is not LO,HI (two 64-bit numbers)"],
    ["freeze", [], "control action freeze takes DOMAIN"],
    ["restore", ["web", "x"], /^unknown control action "restore"/],
  ] as const)("%s %j is refused: %s", (name, args, message) => {
    expect(() => parseAction(name, [...args])).toThrow(ControlError);
    expect(() => parseAction(name, [...args])).toThrow(message);
  });

  it("checks an action a program built by hand with the same ranges", () => {
    const bad: ControlAction = { action: "weight", domain: "web", weight: -1 };
    expect(() => checkAction(bad)).toThrow("control action weight: WEIGHT must be a whole number 0..1000000");
    expect(checkAction({ action: "cap", domain: 1, capMiB: null })).toEqual({ action: "cap", domain: 1, capMiB: null });
  });

  it("a trace naming an action there is none of gives null", () => {
    expect(actionFromTrace("frob", 1, [])).toBeNull();
  });
});
