// Timing by interleaved rounds, for any JavaScript runtime (no Node built-ins):
// every task runs once per round, rounds in turn, and a task's time is the
// median of its round medians. On a shared machine a load burst then spoils one
// round of a task, not its whole measurement.
import { Bench, type Fn, type FnReturnedObject, type Task } from "tinybench";
import { median } from "./stats.js";

/** Median ms per call of one task, and the spread of its round medians relative to that. */
export interface Timing {
  ms: number;
  spread: number;
}

export interface RoundOptions {
  rounds: number;
  /** tinybench's options for each round. */
  bench: { time: number; iterations: number; warmupTime: number; warmupIterations: number };
}

/** How many consecutive calls make a sample of about `sampleMs`. */
function repsFor(call: () => void, sampleMs: number): number {
  call();
  let runs = 0;
  let elapsed = 0;
  const start = performance.now();
  do {
    call();
    runs++;
    elapsed = performance.now() - start;
  } while (elapsed < 20 * sampleMs);
  return Math.max(1, Math.round((sampleMs * runs) / elapsed));
}

/**
 * A tinybench task timing enough calls per sample to last about `sampleMs`
 * and reporting the time of one: a browser's clock is coarse (5 µs or more),
 * and single calls of a few µs would be noise.
 */
export function batched(call: () => void, sampleMs: number): Fn {
  const reps = repsFor(call, sampleMs);
  return () => {
    const start = performance.now();
    for (let i = 0; i < reps; i++) call();
    const total = performance.now() - start;
    return { overriddenDuration: total / reps, overriddenIterationCost: total } satisfies FnReturnedObject;
  };
}

function p50Ms(task: Task): number {
  const result = task.result;
  if (result.state !== "completed") throw new Error(`${task.name} did not complete (${result.state})`);
  return result.latency.p50;
}

/** Runs the tasks in `options.rounds` interleaved rounds. */
export async function measureRounds(tasks: ReadonlyMap<string, Fn>, options: RoundOptions): Promise<Map<string, Timing>> {
  const rounds = new Map([...tasks.keys()].map((name) => [name, [] as number[]]));
  for (let r = 0; r < options.rounds; r++) {
    const bench = new Bench({ ...options.bench, throws: true });
    for (const [name, fn] of tasks) bench.add(name, fn);
    await bench.run();
    for (const task of bench.tasks) rounds.get(task.name)?.push(p50Ms(task));
  }
  return new Map(
    [...rounds].map(([name, ms]) => {
      const mid = median(ms);
      return [name, { ms: mid, spread: (Math.max(...ms) - Math.min(...ms)) / mid }];
    }),
  );
}
