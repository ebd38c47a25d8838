// The shared-memory allocator: alignment, reuse of freed blocks, growth with
// live models intact.
import { describe, expect, it } from "vitest";
import { createEngine } from "../../host/index.js";
import { rng, normals, sameBytes } from "../helpers/random.js";

describe("shared memory", () => {
  it("is a shared WebAssembly.Memory, and blocks are 64-byte aligned and disjoint", async () => {
    const engine = await createEngine({ workers: 0 });
    expect(engine.arena.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    const blocks = [100, 1, 64, 65, 4096, 3].map((size) => ({ at: engine.arena.alloc(size), size }));
    for (const b of blocks) expect(b.at % 64).toBe(0);
    const sorted = [...blocks].sort((a, b) => a.at - b.at);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.at).toBeGreaterThanOrEqual(sorted[i - 1]!.at + sorted[i - 1]!.size);
    expect(Math.min(...blocks.map((b) => b.at))).toBeGreaterThanOrEqual(engine.kernels.heap_base());
    engine.close();
  });

  it("reuses and coalesces freed blocks: creating and disposing models does not grow memory", async () => {
    const engine = await createEngine({ workers: 0 });
    const warm = Array.from({ length: 50 }, (_, i) => engine.createModel({ inputs: 8 + i, outputs: 4 }));
    for (const m of warm) m.dispose();
    const size = engine.arena.byteLength;
    const allocated = engine.arena.allocatedBytes;
    for (let round = 0; round < 20; round++) {
      const models = Array.from({ length: 50 }, (_, i) => engine.createModel({ inputs: 8 + ((i * 7 + round) % 50), outputs: 4 }));
      for (const m of models) m.dispose();
    }
    expect(engine.arena.byteLength).toBe(size);
    expect(engine.arena.allocatedBytes).toBe(allocated);
    // with every block released, the whole memory above heap_base is one free block again
    engine.close();
    expect(engine.arena.allocatedBytes).toBe(0);
    const base = Math.ceil(engine.kernels.heap_base() / 64) * 64;
    expect(engine.arena.alloc(engine.arena.byteLength - base)).toBe(base);
    expect(engine.arena.byteLength).toBe(size);
  });

  it("grows while models are live, and their state survives growth", async () => {
    const engine = await createEngine({ workers: 0 });
    const r = rng(1);
    const model = engine.createModel({ inputs: 4, outputs: 2 });
    for (let i = 0; i < 3; i++) model.train(normals(r, 40), normals(r, 20));
    const before = model.snapshot();
    const size = engine.arena.byteLength;
    const large = engine.createModel({ inputs: 512, outputs: 512 }); // ~3 MiB: forces growth
    expect(engine.arena.byteLength).toBeGreaterThan(size);
    expect(sameBytes(model.snapshot(), before)).toBe(true);
    // a batch far larger than the staging buffer grows memory again, mid-use
    const x = normals(r, 4 * 100_000);
    const y = normals(r, 2 * 100_000);
    expect(model.train(x, y).step).toBe(4);
    large.train(normals(r, 512 * 2), normals(r, 512 * 2));
    expect(large.params().step).toBe(1);
    engine.close();
  });
});

describe("staging after a failed allocation", () => {
  it("a batch too large for memory fails with E_MEMORY and leaves no stale buffers behind", async () => {
    const engine = await createEngine({ workers: 0, maximumMemoryPages: 32 });
    const model = engine.createModel({ inputs: 8, outputs: 2 });
    const r = rng(9);
    const x = normals(r, 16 * 8);
    const y = normals(r, 16 * 2);
    model.train(x, y);
    expect(() => model.train(normals(r, 8 * 200_000), normals(r, 2 * 200_000))).toThrow(/cannot allocate/);
    // a new model can now take the memory the old staging buffers held...
    const neighbour = engine.createModel({ inputs: 64, outputs: 8 });
    const untouched = neighbour.snapshot();
    // ...and training the first model again in its earlier shape must not write there
    expect(model.train(x, y).step).toBe(2);
    expect(sameBytes(neighbour.snapshot(), untouched)).toBe(true);
    engine.close();
  });
});
