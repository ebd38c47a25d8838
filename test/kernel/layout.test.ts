// host/kernel/layout.ts mirrors assembly/util/layout.ts by hand (the host cannot import
// AssemblyScript). Here every mirrored constant is read out of the assembly source and
// compared, and the host's region formulas are held against the module's own size
// exports, so a layout change on one side without the other fails.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ABI_VERSION, AnomalyKind, Flags, Header, HOST_REGION_BYTES, LossKind, OptimizerKind, SetpointSlot, Status,
  loadKernel, modelBlockBytes, regions,
} from "../../host/kernel/index.js";

const source = readFileSync(new URL("../../assembly/util/layout.ts", import.meta.url), "utf8");
const assembly = new Map([...source.matchAll(/^export const (\w+): \w+ = (-?\d+);/gm)].map((m) => [m[1]!, Number(m[2])]));

describe("the host's layout is the module's", () => {
  it("header offsets, enums, flags, statuses, the ABI version and the setpoint slots", () => {
    const header: Record<keyof typeof Header, string> = {
      m: "H_M", n: "H_N", loss: "H_LOSS", optimizer: "H_OPTIMIZER", flags: "H_FLAGS", lr: "H_LR", l2: "H_L2", delta: "H_DELTA",
      beta1: "H_BETA1", beta2: "H_BETA2", eps: "H_EPS", badIndex: "H_BAD_INDEX", step: "H_STEP", count: "H_COUNT", lossOut: "H_LOSS_OUT",
      version: "H_VERSION", anomalyOut: "H_ANOMALY_OUT", anomalyCap: "H_ANOMALY_CAP", anomalyCount: "H_ANOMALY_COUNT",
      anomalyExcluded: "H_ANOMALY_EXCLUDED", anomalyResidual: "H_A_RESIDUAL", anomalyMargin: "H_A_MARGIN", anomalyStuck: "H_A_STUCK",
      anomalyWarmup: "H_A_WARMUP", bytes: "HEADER_BYTES",
    };
    const pairs: [string, number][] = [
      ...Object.entries(header).map(([field, name]) => [name, Header[field as keyof typeof Header]] as [string, number]),
      ...Object.entries(LossKind).map(([k, v]) => [`LOSS_${k.toUpperCase()}`, v] as [string, number]),
      ...Object.entries(OptimizerKind).map(([k, v]) => [`OPT_${k.toUpperCase()}`, v] as [string, number]),
      ...Object.entries(Flags).map(([k, v]) => [`FLAG_${k.toUpperCase()}`, v] as [string, number]),
      ...Object.entries(AnomalyKind).map(([v, k]) => [`ANOMALY_${k.toUpperCase()}`, Number(v)] as [string, number]),
      ["STATUS_OK", Status.ok], ["STATUS_NONFINITE_X", Status.nonFiniteX], ["STATUS_NONFINITE_Y", Status.nonFiniteY], ["STATUS_DIVERGED", Status.diverged],
      ["ABI_VERSION", ABI_VERSION], ["HOST_REGION_BYTES", HOST_REGION_BYTES],
      ...Object.entries(SetpointSlot).map(([k, v]) => [`SP_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`, v] as [string, number]),
    ];
    for (const [name, value] of pairs) expect(assembly.get(name), name).toBe(value);
    // and nothing in the header table of the assembly is missing from the host's
    const mirrored = new Set(pairs.map(([name]) => name));
    for (const name of assembly.keys()) if (/^H_/.test(name)) expect(mirrored.has(name), name).toBe(true);
  });

  it("region formulas give the module's model_bytes, and the anomaly state ends where the host region begins", async () => {
    const kernel = await loadKernel(readFileSync(new URL("../../build/gradline.wasm", import.meta.url)));
    for (let m = 1; m <= 40; m += 3) {
      for (let n = 1; n <= 12; n += 2) {
        expect(modelBlockBytes(m, n), `(${m}, ${n})`).toBe(kernel.exports.model_bytes(m, n));
        const r = regions(m, n);
        expect(r.theta).toBe(Header.bytes);
        expect(r.host + HOST_REGION_BYTES).toBe(kernel.exports.model_bytes(m, n));
      }
    }
  });
});
