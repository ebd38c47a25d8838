// The hand-written ack encoder against the generic one: byte-identical frames over
// integer widths (fixint, uint 8/16/32, int 64), integral and fractional losses, and
// names around the fixstr / str 8 boundary.
import { describe, expect, it } from "vitest";
import { decode, encode, encodeAck, encodeName } from "../../host/protocol/codec.js";

describe("codec", () => {
  it("encodeAck writes exactly what encode() writes for the same ack", () => {
    const integers = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40, 2 ** 53 - 1];
    const losses = [0, 0.5, 1, 3, 1e-300, 123_456.789, 2 ** 33, 1e20];
    const names = ["m", "line-7", "x".repeat(31), "y".repeat(32), "z".repeat(128)];
    for (const seq of integers) {
      for (const step of integers) {
        for (const loss of losses) {
          for (const model of names) {
            const generic = Buffer.from(encode({ type: "ack", seq, model, loss, step, version: step + 0 }));
            const fast = Buffer.from(encodeAck(seq, encodeName(model), loss, step, step));
            if (!generic.equals(fast)) expect(fast.toString("hex"), `seq ${seq}, step ${step}, loss ${loss}, name ${model.length}`).toBe(generic.toString("hex"));
          }
        }
      }
    }
    // and it decodes to the ack
    expect(decode(encodeAck(7, encodeName("line-7"), 0.25, 3, 4))).toEqual({ type: "ack", seq: 7, model: "line-7", loss: 0.25, step: 3, version: 4 });
  });
});
