// A line controller streaming into gradline: create a model, subscribe to its
// parameters, train on a batch, predict, ask for a setpoint. With `npm start` running:
//   node examples/stream.mjs      (GRADLINE_URL, GRADLINE_TOKEN if your server differs)
import { connect } from "gradline/client";

const client = await connect(process.env.GRADLINE_URL ?? "ws://127.0.0.1:8080/", { token: process.env.GRADLINE_TOKEN });
await client.create("line-7", { inputs: 3, outputs: 2, optimizer: { type: "adam", lr: 0.01 } });
const subscription = await client.subscribe("line-7", { everySteps: 100, minIntervalMs: 1000 }, ({ W, b, version }) => {
  console.log(`parameters, version ${version}: W ${W.length}, b ${b.length} values`); // push them to the line's controller
});

// temperature (°C), pressure (bar), flow (m³/h) → yield (%), purity: 2 rows, row-major
const x = new Float32Array([180, 12, 40, 185, 11.5, 42]);
const y = new Float32Array([91.2, 0.78, 92.0, 0.79]);
const ack = await client.train("line-7", x, y); // { loss, step, version, anomalies, drift? }; send many without awaiting each
console.log(`step ${ack.step}, loss ${ack.loss.toFixed(3)}`);

// a model that has barely trained predicts little: before its first step, from its seeded random start
const { y: forecast } = await client.predict("line-7", new Float32Array([182, 11.8, 41]));
const { x: settings, reachable } = await client.setpoint("line-7", {
  target: [92, 0.8], lower: [160, 8, 30], upper: [200, 14, 50], current: [180, 12, 40], maxMove: [5, 1, 4],
});
console.log(`forecast ${Array.from(forecast, (v) => v.toFixed(2))}; setpoint ${Array.from(settings, (v) => v.toFixed(1))} (target ${reachable ? "reachable" : "out of reach"})`);

await subscription.unsubscribe();
client.close();
