// A model in a pool: its queue of accepted operations, and reads against its last
// committed block. Training, restores and settled snapshots go through the engine,
// which schedules them; reads run on the calling thread.
import type { Model, Params, Gradient } from "../engine/model.js";
import type { Samples } from "../base/samples.js";
import type { TrainResult } from "../engine/step.js";
import type { ResolvedModelOptions } from "../engine/options.js";
import type { SetpointRequest, SetpointResult } from "../engine/setpoint.js";
import type { Pending } from "./pending.js";
import type { PoolEngine } from "./pool.js";

export class PoolModel {
  readonly inputs: number;
  readonly outputs: number;
  /** @internal Accepted operations not yet started, in arrival order. */
  readonly queue: Pending[] = [];
  /** @internal Accepted steps and restores not yet finished (queued or running). */
  pendingSteps = 0;
  /** @internal Work of this model is running. */
  busy = false;
  /** @internal In the engine's ready list. */
  ready = false;
  /** @internal */
  disposed = false;
  /** @internal Buffers handed out by stageBatch and not yet trained on: start → rows and size. */
  readonly staged = new Map<number, { rows: number; bytes: number }>();

  /** @internal Use engine.createModel or engine.restoreModel. */
  constructor(
    private readonly engine: PoolEngine,
    /** @internal The model as last committed; reads go here. */
    readonly committed: Model,
    /** @internal The other block: runs train on it, then it becomes the committed one. */
    public spare: number,
  ) {
    this.inputs = committed.inputs;
    this.outputs = committed.outputs;
  }

  get options(): ResolvedModelOptions {
    return this.committed.options;
  }

  /** Steps accepted for this model and not yet finished. */
  get queueDepth(): number {
    return this.pendingSteps;
  }

  /** Queues one optimiser step; resolves when it is applied, in arrival order. */
  train(x: Samples, y: Samples): Promise<TrainResult> {
    try {
      return this.engine.submitStep(this, x, y);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Zero-copy input: views of a new batch buffer in the shared memory. Fill
   * them and pass them to train(), which takes the buffer instead of copying
   * (a decoder can write a message's floats straight into them). One train()
   * per staged batch; unused staged buffers are freed with the model.
   */
  stageBatch(rows: number): { x: Float32Array; y: Float32Array } {
    return this.engine.stageBatch(this, rows);
  }

  /** Replaces the state by a snapshot, after every step accepted before it. */
  restore(bytes: Uint8Array): Promise<void> {
    try {
      return this.engine.submitRestore(this, this.committed.decodeFor(bytes));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // Reads run on the calling thread against the last committed state.
  evaluate(x: Samples, y: Samples): number {
    return this.committed.evaluate(x, y);
  }
  gradient(x: Samples, y: Samples): Gradient {
    return this.committed.gradient(x, y);
  }
  predict(x: Samples): Float32Array {
    return this.committed.predict(x);
  }
  params(): Params {
    return this.committed.params();
  }
  progress(): { step: number; version: number } {
    return this.committed.progress();
  }
  setpoint(request: SetpointRequest): SetpointResult {
    return this.committed.setpoint(request);
  }
  /** The last committed state; steps still queued or running are not in it (see settledSnapshot). */
  snapshot(): Uint8Array {
    return this.committed.snapshot();
  }

  /** A snapshot taken after every step accepted before this call, and before any accepted after it. */
  settledSnapshot(): Promise<Uint8Array> {
    try {
      return this.engine.submitSnapshot(this);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Frees the model. Queued steps fail with E_DISPOSED; a running one finishes first. */
  dispose(): void {
    this.engine.dispose(this);
  }
}
