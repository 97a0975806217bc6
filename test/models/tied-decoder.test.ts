// The tied decoder's training path on every kernel set: the resident logits and gradient buffers
// (in the kernels' memory, one pair per result until release, bit-identical to ordinary arrays), and the
// products chosen by the density of the input (event or dense forward and weight gradient, masked
// or dense back-product) against a float64 reference at odd sizes, with one and two threads giving
// the same bits.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import { Embedding } from "../../packages/egru/src/nn/embedding.js";
import { TiedDecoder } from "../../packages/egru/src/nn/tied-decoder.js";
import { KERNEL_SETS } from "../kernel-sets.js";

const N = 9;
const E = 23;
const V = 131;

/** x [N, E] with about `density` of its entries nonzero; dlogits [N, V]; a receive mask [N, E] of about `maskDensity` ones. */
function operands(seed: number, density: number, maskDensity: number) {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: N * E }, () => (rng.uniform() < density ? rng.normal() : 0));
  const dl = Float32Array.from({ length: N * V }, () => rng.normal());
  const mask = Float32Array.from({ length: N * E }, () => (rng.uniform() < maskDensity ? 1 : 0));
  return { x, dl, mask };
}

/** A decoder on kernels (its embedding and bias from fixed seeds), training mode. */
function decoder(kernels: Kernels, inputEvents: boolean): TiedDecoder {
  const emb = new Embedding({ vocab: V, dim: E, rng: new Rng(2) });
  const dec = new TiedDecoder(emb, { inputEvents, kernels });
  const rng = new Rng(5);
  for (let v = 0; v < V; v++) dec.bias[v] = rng.normal(0, 0.1);
  return dec;
}

/** float64 logits, dEmb, dbias and masked dx. */
function reference(dec: TiedDecoder, x: Float32Array, dl: Float32Array, mask: Float32Array) {
  const w = dec.embedding.weights.weight;
  const logits = new Float64Array(N * V);
  const dEmb = new Float64Array(V * E);
  const db = new Float64Array(V);
  const dx = new Float64Array(N * E);
  for (let n = 0; n < N; n++)
    for (let v = 0; v < V; v++) {
      let s = dec.bias[v];
      const g = dl[n * V + v];
      db[v] += g;
      for (let e = 0; e < E; e++) {
        s += x[n * E + e] * w[v * E + e];
        dEmb[v * E + e] += g * x[n * E + e];
        if (mask[n * E + e] !== 0) dx[n * E + e] += g * w[v * E + e];
      }
      logits[n * V + v] = s;
    }
  return { logits, dEmb, db, dx };
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    assert.ok(d <= tol * (1 + Math.abs(want[i])), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

/** One forward and backward; what it computed, copied out. */
function step(dec: TiedDecoder, x: Float32Array, dl: Float32Array, mask: Float32Array, resident: boolean) {
  dec.embedding.grads.weight.fill(0);
  dec.biasGrad.fill(0);
  const r = dec.forward(x, N, resident);
  const logits = Float32Array.from(r.logits);
  const into = r.dlogitsInto;
  if (into) into.set(dl);
  const g = dec.backward(r, into ?? dl, mask);
  dec.release(r);
  return {
    logits,
    dEmb: Float32Array.from(dec.embedding.grads.weight),
    db: Float32Array.from(dec.biasGrad),
    dx: g.dx,
    macs: r.macs.executed + g.macs.executed,
  };
}

for (const kernels of KERNEL_SETS) {
  test(`tied decoder [${kernels.name}]: event input at densities 0.1…0.95 against float64, events and dense alike`, () => {
    for (const [density, maskDensity] of [
      [0.1, 0.2],
      [0.35, 0.5],
      [0.7, 0.9],
      [0.95, 1],
    ]) {
      const { x, dl, mask } = operands(11 + density * 100, density, maskDensity);
      for (const events of [true, false]) {
        const dec = decoder(kernels, events);
        const want = reference(dec, x, dl, mask);
        const got = step(dec, x, dl, mask, true);
        const at = `${events ? "events" : "dense"} ${density}`;
        close(got.logits, want.logits, 1e-5, `logits ${at}`);
        close(got.dEmb, want.dEmb, 1e-5, `dEmb ${at}`);
        close(got.db, want.db, 1e-5, `dbias ${at}`);
        close(got.dx, want.dx, 1e-5, `dx ${at}`);
        // the products chosen: events below the crossover (x for the forward and dEmb, the mask for dx)
        const share = (a: Float32Array) => a.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) / a.length;
        const sparseX = events && share(x) <= kernels.eventCrossover;
        const sparseMask = share(mask) <= kernels.eventCrossover;
        const nz = (a: Float32Array) => share(a) * N * E;
        const want3 = (sparseX ? 2 * nz(x) : 2 * N * E) * V + (sparseMask ? nz(mask) : N * E) * V;
        assert.equal(got.macs, Math.round(want3), `MACs ${at}`);
      }
    }
  });

  test(`tied decoder [${kernels.name}]: resident buffers give the bits of ordinary arrays; one pair per result until release`, () => {
    const { x, dl, mask } = operands(3, 0.3, 0.4);
    for (const events of [true, false]) {
      const a = step(decoder(kernels, events), x, dl, mask, false);
      const dec = decoder(kernels, events);
      const b = step(dec, x, dl, mask, true);
      for (const k of ["logits", "dEmb", "db", "dx"] as const) assert.deepEqual(b[k], a[k], `${k} ${events}`);
      const r1 = dec.forward(x, N, true);
      const r2 = dec.forward(x, N, true);
      const inMemory = kernels.alloc !== undefined;
      assert.equal(r1.dlogitsInto !== null, inMemory, "resident where the kernels have memory");
      assert.ok(r2.logits !== r1.logits && (r2.dlogitsInto !== r1.dlogitsInto || !inMemory), "one pair per result");
      assert.deepEqual(r2.logits, r1.logits);
      assert.equal(dec.forward(x, N).dlogitsInto, null, "not resident unless asked");
      dec.release(r1);
      dec.release(r2);
      dec.release(r1); // a second release does nothing
    }
  });
}

test("tied decoder: one and two threads give the same bits (event and dense choices)", () => {
  const [, one, two] = KERNEL_SETS;
  for (const density of [0.15, 0.8]) {
    const { x, dl, mask } = operands(21, density, 0.5);
    const a = step(decoder(one, true), x, dl, mask, true);
    const b = step(decoder(two, true), x, dl, mask, true);
    for (const k of ["logits", "dEmb", "db", "dx"] as const) assert.deepEqual(b[k], a[k], `${k} ${density}`);
    assert.equal(b.macs, a.macs);
  }
});
