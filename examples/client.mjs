// The client's calls one by one, against a running server (`npm start`):
//   node examples/client.mjs      (GRADLINE_URL, GRADLINE_TOKEN if your server differs)
import { connect } from "gradline/client";

const client = await connect(process.env.GRADLINE_URL ?? "ws://127.0.0.1:8080/", {
  token: process.env.GRADLINE_TOKEN, // undefined: no token
  onStatus: (status, detail) => console.log(status, detail ?? ""),
});
await client.create("line-7", { inputs: 3, outputs: 2, optimizer: { type: "adam", lr: 0.01 } });
const subscription = await client.subscribe(
  "line-7",
  { everySteps: 100, minIntervalMs: 1000 },
  ({ W, b, version }) => console.log(version, W, b), // the current parameters at once, then rate-limited
  {
    onDrift: ({ step, before }) => console.log(`line-7 changed at step ${step} (loss was about ${before})`),
    onDeleted: () => console.log("line-7 was deleted"),
  },
);
const x = new Float32Array([180, 2.1, 0.5, 182, 2.0, 0.6]); // 2 rows × 3 inputs
const y = new Float32Array([0.91, 12.4, 0.93, 12.1]); // 2 rows × 2 outputs
const { loss, step, version } = await client.train("line-7", x, y);
const { y: forecast } = await client.predict("line-7", new Float32Array([181, 2.05, 0.55]));
const { x: settings, reachable } = await client.setpoint("line-7", { target: [0.95, 12], lower: [170, 1.8, 0.4], upper: [190, 2.4, 0.7] });
console.log(`step ${step}, version ${version}, loss ${loss.toFixed(3)}; forecast ${forecast}; setpoint ${settings} (${reachable ? "reachable" : "out of reach"})`);
await subscription.unsubscribe();
client.close();
