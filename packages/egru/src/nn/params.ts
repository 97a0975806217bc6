// Named parameters with their gradients and optimizer group, gathered from layers.

import type { WeightedLayer } from "../layers/weighted-layer.js";

/** "threshold": EGRU thresholds, which get their own learning-rate multiplier and no weight decay. */
export type ParamGroup = "default" | "threshold";

export interface Param {
  /** Unique name, e.g. "cells.0.recurrent_kernel". */
  name: string;
  value: Float32Array;
  grad: Float32Array;
  group: ParamGroup;
}

/** The parameters of a layer under a name prefix (EGRU's "thr" goes to the threshold group). */
export function layerParams(prefix: string, layer: WeightedLayer): Param[] {
  return Object.keys(layer.weights).map((k) => ({
    name: `${prefix}.${k}`,
    value: layer.weights[k],
    grad: layer.grads[k],
    group: k === "thr" ? "threshold" : "default",
  }));
}

/** Total number of parameter values. */
export function countParams(params: Param[]): number {
  return params.reduce((s, p) => s + p.value.length, 0);
}
