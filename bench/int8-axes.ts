// The two int8 scale axes on a trained model: for every matrix quantize() makes int8, the round-trip
// error of its weights with one scale per output unit and with one per input unit — the relative
// Frobenius error ‖W − dequantised(W)‖ / ‖W‖ — and the total over the model's int8 weights. The task metric of either axis comes from `egru eval RUN_DIR --weights int8
// --scale-axis output|input` (README.md, "int8 weights").
//
//   node --conditions=egru-source --import tsx bench/int8-axes.ts RUN_DIR [--json]

import { loadModel } from "../packages/egru/src/node.js";
import { dequantizeMatrix, quantizeMatrix, SCALE_AXES, type ScaleAxis } from "../packages/egru/src/kernels/int8.js";
import { int8Layers } from "../packages/egru/src/model/int8-network.js";
import { transpose } from "../packages/egru/src/core/buffer.js";

export interface AxisRow {
  matrix: string;
  K: number;
  N: number;
  axis: ScaleAxis;
  /** ‖W − dequantised‖_F / ‖W‖_F */
  relError: number;
  /** Squared norms, for totals. */
  errSq: number;
  normSq: number;
}

/** The round-trip errors of one [K, N] matrix on both axes. */
export function axisRows(matrix: string, w: Float32Array, K: number, N: number): AxisRow[] {
  return SCALE_AXES.map((axis) => {
    const d = dequantizeMatrix(quantizeMatrix(w, K, N, axis));
    let errSq = 0;
    let normSq = 0;
    for (let i = 0; i < w.length; i++) {
      errSq += (w[i] - d[i]) ** 2;
      normSq += w[i] ** 2;
    }
    return { matrix, K, N, axis, relError: Math.sqrt(errSq / normSq), errSq, normSq };
  });
}

function main(): void {
  const args = process.argv.slice(2);
  const dir = args.find((a) => !a.startsWith("--"));
  if (!dir) {
    process.stderr.write("usage: node --conditions=egru-source --import tsx bench/int8-axes.ts RUN_DIR [--json]\n");
    process.exit(2);
  }
  const model = loadModel(dir);
  const rows: AxisRow[] = [];
  int8Layers(model).forEach((layer, l) => {
    for (const [name, slot] of Object.entries(layer.int8Slots())) {
      const w = layer.weights[name];
      const kn = slot.transposed ? transpose(w, slot.N, slot.K) : w;
      rows.push(...axisRows(`${l}:${layer.constructor.name}.${name}`, kn, slot.K, slot.N));
    }
  });
  if (args.includes("--json")) {
    for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const pct = (v: number): string => `${(100 * v).toFixed(3)} %`;
  process.stdout.write(
    `${"matrix".padEnd(34)} ${"[K, N]".padEnd(14)} ${SCALE_AXES.map((a) => `per ${a}`.padStart(12)).join(" ")}\n`,
  );
  for (let i = 0; i < rows.length; i += SCALE_AXES.length) {
    const r = rows[i];
    const errs = rows.slice(i, i + SCALE_AXES.length).map((x) => pct(x.relError).padStart(12));
    process.stdout.write(`${r.matrix.padEnd(34)} ${`[${r.K}, ${r.N}]`.padEnd(14)} ${errs.join(" ")}\n`);
  }
  const total = SCALE_AXES.map((axis) => {
    const rs = rows.filter((r) => r.axis === axis);
    return pct(Math.sqrt(rs.reduce((s, r) => s + r.errSq, 0) / rs.reduce((s, r) => s + r.normSq, 0))).padStart(12);
  });
  process.stdout.write(`${"all weights".padEnd(34)} ${"".padEnd(14)} ${total.join(" ")}\n`);
}

if (process.argv[1]?.endsWith("int8-axes.ts")) main();
