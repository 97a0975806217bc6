// The messages between the page (main.ts) and its training worker (worker.ts), the settings the
// page reads from its address (?steps=…&stream=…&delay=…) and hands to the worker, and what the
// page keeps of the run for its test.

/** What the worker is asked to do. */
export interface RunSettings {
  /** Training steps (batches). */
  steps: number;
  /** Examples per batch. */
  batch: number;
  /** EGRU units. */
  hidden: number;
  /** Adam learning rate. */
  lr: number;
  /** Held-out digits streamed after training. */
  stream: number;
  /** Milliseconds between streamed rows (so a person can follow them). */
  delay: number;
  /** Draw the event raster every this many steps. */
  rasterEvery: number;
  seed: number;
}

export const DEFAULT_SETTINGS: RunSettings = {
  steps: 300,
  batch: 32,
  hidden: 64,
  lr: 0.01,
  stream: 12,
  delay: 90,
  rasterEvery: 25,
  seed: 1,
};

/** The shipped data file: a header of two uint32 (train and test counts), labels, then 28×28-byte images. */
export const DATA_FILE = "mnist-sample.bin";

export type FromWorker =
  | {
      type: "ready";
      kernels: string;
      crossOriginIsolated: boolean;
      train: number;
      test: number;
      params: number;
      settings: RunSettings;
    }
  | {
      type: "step";
      step: number;
      loss: number;
      accuracy: number;
      sparsity: number;
      backwardSparsity: number;
      ms: number;
    }
  | {
      /** The trained-so-far network on held-out digit `example`: its input [T, I] and events [T, H]. */
      type: "raster";
      step: number;
      example: number;
      label: number;
      predicted: number;
      T: number;
      I: number;
      H: number;
      input: Float32Array;
      events: Float32Array;
    }
  | { type: "evaluated"; accuracy: number; loss: number; sparsity: number; examples: number }
  | ({ type: "int8" } & Int8Result)
  | {
      type: "stream-start";
      index: number;
      example: number;
      label: number;
      T: number;
      I: number;
      H: number;
      image: Float32Array;
    }
  | {
      /** One row fed to the stepper: the row, the events it caused, class probabilities from the trace so far. */
      type: "stream-step";
      index: number;
      t: number;
      row: Float32Array;
      events: Float32Array;
      probs: Float32Array;
      predicted: number;
    }
  | {
      type: "stream-end";
      index: number;
      example: number;
      label: number;
      predicted: number;
      /** The whole-sequence forward's prediction for the same digit (the stepper must agree with it). */
      forwardPredicted: number;
      events: number;
      macsExecuted: number;
      macsDense: number;
    }
  | { type: "done"; streamed: number; correct: number; agreed: number }
  | { type: "error"; message: string };

export type ToWorker = { type: "start"; settings: RunSettings };

/**
 * The trained model with int8 weights (quantize(), saved and loaded back in the worker) on the
 * held-out digits: its accuracy, how many of its predictions equal the float32 model's, the sizes.
 */
export interface Int8Result {
  weightFormat: string;
  accuracy: number;
  agreed: number;
  examples: number;
  bytes: number;
  float32Bytes: number;
}

/** Everything the worker reported, as plain data: the page keeps it on window.egruPage (its test reads it). */
export interface PageState {
  settings: RunSettings;
  kernels: string | null;
  crossOriginIsolated: boolean | null;
  steps: { step: number; loss: number; accuracy: number; sparsity: number; backwardSparsity: number; ms: number }[];
  rasters: number;
  evaluated: { accuracy: number; loss: number; sparsity: number; examples: number } | null;
  int8: Int8Result | null;
  /** Rows fed to the stepper, and the finished digits. */
  streamedSteps: number;
  streamed: { example: number; label: number; predicted: number; forwardPredicted: number; events: number }[];
  done: { streamed: number; correct: number; agreed: number } | null;
  errors: string[];
}
