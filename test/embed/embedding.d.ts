// Types of embedding.js, for the TypeScript test that checks its reports.
export declare const M: number;
export declare const N: number;
export declare function samples(seed: number, rows: number, spread?: boolean): { x: Float32Array; y: Float32Array };
export declare const workloads: {
  fit: { seed: number; rows: number; steps: number; lr: number };
  stream: { seed: number; rows: number; batches: number; steps: number; lr: number; outlier: { batch: number; row: number; value: number } };
  sharded: { seed: number; rows: number; shardRows: number; lr: number };
};
export declare function streamBatches(): { x: Float32Array; y: Float32Array }[];
export declare const ADAM: { beta1: number; beta2: number; eps: number };
export declare const ANOMALY: { residual: number; margin: number; stuck: number; warmup: number };

/** Float32 values as their u32 bit patterns. */
type Bits = number[];
export interface EmbeddingReport {
  fit: { params: Bits; loss: number; steps: number };
  stream: { params: Bits; excluded: number; flagged: number[] };
  sharded: { params: Bits; singleBlock: Bits; workerBlock: Bits; step: number };
}
export interface EmbeddingWorker {
  request(message: unknown): Promise<number>;
  terminate(): void;
}
export declare function runEmbedding(wasm: unknown, startWorker?: (url: URL) => Promise<EmbeddingWorker>): Promise<EmbeddingReport>;
