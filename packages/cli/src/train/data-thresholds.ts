// A new run's data-dependent threshold init (model.thresholdInit "data"): the trainer's first
// training batches (its thresholdBatches()) through egru's initThresholdsFromData, and the metrics
// record that says what it did. The run life calls it before the first step, never on a resume.

import {
  initThresholdsFromData,
  type Network,
  type ThresholdBatch,
  type ThresholdGranularity,
  type ThresholdInitResult,
} from "egru";

export interface DataThresholds {
  result: ThresholdInitResult;
  /** Batches measured. */
  batches: number;
  /** The "thresholdInit" record of metrics.jsonl (step 0): target, per-layer activity, mean threshold, units at the range's bound. */
  record: Record<string, unknown>;
}

/** Set the model's EGRU thresholds from the trainer's first batches so that about `target` of the units are active. */
export function thresholdsFromData(
  trainer: { model: Network; thresholdBatches(): ThresholdBatch[] },
  target: number,
  per?: ThresholdGranularity,
): DataThresholds {
  const batches = trainer.thresholdBatches();
  const result = initThresholdsFromData(trainer.model, batches, target, { per });
  return {
    result,
    batches: batches.length,
    record: {
      type: "thresholdInit",
      step: 0,
      target: result.target,
      per: result.per,
      batches: batches.length,
      positions: result.positions,
      layerActivity: result.layers.map((l) => l.activity),
      layerThresholdMean: result.layers.map((l) => l.thresholds.mean),
      layerAtBound: result.layers.map((l) => l.atBound),
    },
  };
}
