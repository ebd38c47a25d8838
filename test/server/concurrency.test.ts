// Many clients training many models at once through the real server and pool: each
// model's acks come in order and its parameters equal one thread's replay of its
// batches, bit for bit, whatever the interleaving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, createEngine, startServer, type GradlineServer } from "../../host/index.js";
import { normals, rng } from "../helpers/random.js";

describe("server concurrency", () => {
  let server: GradlineServer;
  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 2, logger: false });
  });
  afterAll(() => server.close());

  it("8 clients × 2 models, pipelined, with a data-parallel batch among them", async () => {
    const shapes = [[3, 5], [16, 4], [7, 2], [64, 16]] as const;
    const plans = Array.from({ length: 16 }, (_, k) => {
      const [inputs, outputs] = shapes[k % shapes.length]!;
      const r = rng(100 + k);
      const config = { inputs, outputs, optimizer: k % 2 ? ("adam" as const) : ("sgd" as const), standardize: k % 3 !== 0, seed: k };
      const batches = Array.from({ length: 40 }, (_, i) => {
        const rows = i === 20 && k === 3 ? 3000 : 1 + ((i * 37 + k) % 90);
        return { x: normals(r, rows * inputs), y: normals(r, rows * outputs) };
      });
      return { name: `c${k >> 1}-m${k & 1}`, config, batches };
    });
    const clients = await Promise.all(Array.from({ length: 8 }, () => connect(server.url)));

    await Promise.all(plans.map(async (plan, k) => {
      const client = clients[k >> 1]!;
      await client.create(plan.name, plan.config);
      const acks = await Promise.all(plan.batches.map(({ x, y }) => client.train(plan.name, x, y)));
      expect(acks.map((a) => a.step)).toEqual(plan.batches.map((_, i) => i + 1));
    }));

    const engine = await createEngine({ workers: 0 });
    for (const [k, plan] of plans.entries()) {
      const reference = engine.createModel(plan.config);
      for (const { x, y } of plan.batches) reference.train(x, y);
      const remote = await clients[k >> 1]!.params(plan.name);
      const local = reference.params();
      expect(Array.from(remote.W), plan.name).toEqual(Array.from(local.W));
      expect(Array.from(remote.b), plan.name).toEqual(Array.from(local.b));
      reference.dispose();
    }
    engine.close();
    for (const client of clients) client.close();
  });
});
