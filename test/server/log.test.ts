// The log's budget for the lines anyone can cause (refused upgrades, connections, error
// replies): at most so many of a kind per window, the rest counted and said once.
import { describe, expect, it } from "vitest";
import { LineBudget, lineLogger } from "../../host/server/log.js";

describe("LineBudget", () => {
  it("passes perWindow lines of a kind per window, then holds the rest and says how many once the next window opens", () => {
    const lines: string[] = [];
    let now = 0;
    const budget = new LineBudget(lineLogger((l) => lines.push(l)), 3, 1000, () => now);
    const passed = Array.from({ length: 10 }, () => budget.allow("upgrade-refused"));
    expect(passed).toEqual([true, true, true, false, false, false, false, false, false, false]);
    // another kind has a budget of its own
    expect(budget.allow("error-reply")).toBe(true);
    expect(lines).toEqual([]);
    now = 1000;
    expect(budget.allow("upgrade-refused")).toBe(true);
    expect(lines).toEqual(["7 upgrade-refused line(s) held back in 1 s (more than 3); the metrics count them all"]);
  });
});
