// The float64 reference GRU: naive, loop-by-loop, written for reading, not speed.
// It works directly in PyTorch's nn.GRU layout, independently of the kernels and of the layer's
// haste layout, so it checks the layout conversion as well as the math. It is the oracle the
// fast kernels, the layer and the PyTorch fixtures are checked against.
//
// Letters: T steps, B batch, I inputs, H units. PyTorch stores weights "output × input" with row
// blocks ordered (r, z, n):
//   weight_ih [3H, I]   weight_hh [3H, H]   bias_ih [3H]   bias_hh [3H]
// and computes, per step (reset after the product, docs/egru-math.md §4.1):
//   r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))      h′ = (1 − z) ⊙ n + z ⊙ h
// then zoneout on h (train: h_t = (h′ − h)·m + h; eval: h_t = p·h + (1 − p)·h′).
// The two affine maps W_ih x + b_ih and W_hh h + b_hh, with their backward, are written once here
// (affineRef, affineRefBackward) and shared with reference/lstm-ref.ts.

export interface GruRefProblem {
  T: number;
  B: number;
  I: number;
  H: number;
  x: ArrayLike<number>; // [T, B, I]
  h0: ArrayLike<number>; // [B, H]
  weight_ih: ArrayLike<number>; // [3H, I]
  weight_hh: ArrayLike<number>; // [3H, H] as stored (before DropConnect)
  bias_ih: ArrayLike<number>; // [3H]
  bias_hh: ArrayLike<number>; // [3H]
  dropConnect: { mask: ArrayLike<number>; p: number } | null; // mask [3H, H] of 0/1
  zoneout: { kind: "none" } | { kind: "train"; mask: ArrayLike<number> } | { kind: "eval"; p: number };
}

export interface GruRefForward {
  output: Float64Array; // [T, B, H] h_1 … h_T
  hT: Float64Array; // [B, H]
  r: Float64Array;
  z: Float64Array;
  n: Float64Array; // [T, B, H]
  hn: Float64Array; // [T, B, H] W_hn h_{t−1} + b_hn
}

export interface GruRefGrads {
  x: Float64Array;
  h0: Float64Array;
  weight_ih: Float64Array;
  weight_hh: Float64Array;
  bias_ih: Float64Array;
  bias_hh: Float64Array;
}

export interface GruRefUpstream {
  output?: ArrayLike<number>; // [T, B, H]
  hT?: ArrayLike<number>; // [B, H]
}

const sig = (v: number): number => 1 / (1 + Math.exp(-v));

/**
 * w ⊙ mask / (1 − p) under DropConnect, else a copy of w. The same map takes the stored weight_hh to
 * the matrix the forward uses, and the gradient for that matrix back to the stored weight_hh.
 */
export function dropConnectRef(w: ArrayLike<number>, dc: { mask: ArrayLike<number>; p: number } | null): Float64Array {
  const out = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = dc ? (w[i] * dc.mask[i]) / (1 - dc.p) : w[i];
  return out;
}

/**
 * What PyTorch's two affine maps read (the GRU and LSTM references share them): the input, the
 * input weights and both biases from the problem, and the effective weight_hh.
 */
export interface AffineRefInputs {
  B: number;
  I: number;
  H: number;
  x: ArrayLike<number>; // [T, B, I]
  weight_ih: ArrayLike<number>; // [gates·H, I]
  bias_ih: ArrayLike<number>; // [gates·H]
  bias_hh: ArrayLike<number>; // [gates·H]
  Whh: Float64Array; // [gates·H, H] effective weight_hh
}

/** Adjoints of the affine maps' inputs and parameters, accumulated over every (t, b, row). */
export interface AffineRefGrads {
  x: Float64Array;
  weight_ih: Float64Array;
  weight_hh: Float64Array;
  bias_ih: Float64Array;
  bias_hh: Float64Array;
}

/**
 * Row `row` of the gate axis at (t, b): gi = (W_ih x_t + b_ih)[row] and gh = (W_hh h_{t−1} + b_hh)[row],
 * with h_{t−1}[k] = hPrev(k).
 */
export function affineRef(
  a: AffineRefInputs,
  t: number,
  b: number,
  row: number,
  hPrev: (k: number) => number,
): { gi: number; gh: number } {
  let gi = a.bias_ih[row];
  for (let i = 0; i < a.I; i++) gi += a.weight_ih[row * a.I + i] * a.x[(t * a.B + b) * a.I + i];
  let gh = a.bias_hh[row];
  for (let k = 0; k < a.H; k++) gh += a.Whh[row * a.H + k] * hPrev(k);
  return { gi, gh };
}

/** Zeroed adjoint buffers for T steps and `gates` gate blocks. */
export function affineRefGrads(T: number, gates: number, a: AffineRefInputs): AffineRefGrads {
  const { B, I, H } = a;
  return {
    x: new Float64Array(T * B * I),
    weight_ih: new Float64Array(gates * H * I),
    weight_hh: new Float64Array(gates * H * H),
    bias_ih: new Float64Array(gates * H),
    bias_hh: new Float64Array(gates * H),
  };
}

/**
 * Backward of affineRef at (t, b, row), given the adjoints dgi and dgh of its two results: adds to
 * the parameter and input adjoints in g (weight_hh: the effective matrix's) and adds the adjoint of
 * h_{t−1}[k] to hAdj[b·H + k].
 */
export function affineRefBackward(
  a: AffineRefInputs,
  t: number,
  b: number,
  row: number,
  hPrev: (k: number) => number,
  dgi: number,
  dgh: number,
  g: AffineRefGrads,
  hAdj: Float64Array,
): void {
  const { B, I, H } = a;
  g.bias_ih[row] += dgi;
  g.bias_hh[row] += dgh;
  for (let i = 0; i < I; i++) {
    const xi = (t * B + b) * I + i;
    g.x[xi] += dgi * a.weight_ih[row * I + i];
    g.weight_ih[row * I + i] += dgi * a.x[xi];
  }
  for (let k = 0; k < H; k++) {
    g.weight_hh[row * H + k] += dgh * hPrev(k);
    hAdj[b * H + k] += dgh * a.Whh[row * H + k];
  }
}

export function gruRefForward(p: GruRefProblem): GruRefForward {
  const { T, B, H } = p;
  const n = T * B * H;
  const out: GruRefForward = {
    output: new Float64Array(n),
    hT: new Float64Array(B * H),
    r: new Float64Array(n),
    z: new Float64Array(n),
    n: new Float64Array(n),
    hn: new Float64Array(n),
  };
  const aff: AffineRefInputs = { ...p, Whh: dropConnectRef(p.weight_hh, p.dropConnect) };
  const at = (t: number, b: number, j: number): number => (t * B + b) * H + j;

  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      const hPrevOf = (k: number): number => (t === 0 ? p.h0[b * H + k] : out.output[at(t - 1, b, k)]);
      for (let j = 0; j < H; j++) {
        // gi = W_ih x + b_ih and gh = W_hh h + b_hh at the three gate rows (r, z, n) of unit j
        const pr = affineRef(aff, t, b, j, hPrevOf);
        const pz = affineRef(aff, t, b, H + j, hPrevOf);
        const pn = affineRef(aff, t, b, 2 * H + j, hPrevOf);
        const r = sig(pr.gi + pr.gh);
        const z = sig(pz.gi + pz.gh);
        const nn = Math.tanh(pn.gi + r * pn.gh);
        const hPrev = hPrevOf(j);
        let h = (1 - z) * nn + z * hPrev;
        const idx = at(t, b, j);
        if (p.zoneout.kind === "train") h = (h - hPrev) * p.zoneout.mask[idx] + hPrev;
        if (p.zoneout.kind === "eval") h = p.zoneout.p * hPrev + (1 - p.zoneout.p) * h;
        out.r[idx] = r;
        out.z[idx] = z;
        out.n[idx] = nn;
        out.hn[idx] = pn.gh;
        out.output[idx] = h;
      }
    }
  }
  out.hT.set(out.output.subarray((T - 1) * B * H));
  return out;
}

/** Backpropagation through time, one node at a time, in reverse. */
export function gruRefBackward(p: GruRefProblem, f: GruRefForward, up: GruRefUpstream): GruRefGrads {
  const { T, B, H } = p;
  const aff: AffineRefInputs = { ...p, Whh: dropConnectRef(p.weight_hh, p.dropConnect) };
  const at = (t: number, b: number, j: number): number => (t * B + b) * H + j;
  const g = affineRefGrads(T, 3, aff);

  // Adjoint of h_t from everything after step t; at t = T − 1 it starts as the final-state gradient.
  let hAdj = new Float64Array(B * H);
  if (up.hT) for (let i = 0; i < B * H; i++) hAdj[i] = up.hT[i];

  for (let t = T - 1; t >= 0; t--) {
    const hAdjPrev = new Float64Array(B * H);
    for (let b = 0; b < B; b++) {
      const hPrevOf = (k: number): number => (t === 0 ? p.h0[b * H + k] : f.output[at(t - 1, b, k)]);
      for (let j = 0; j < H; j++) {
        const idx = at(t, b, j);
        const r = f.r[idx];
        const z = f.z[idx];
        const nn = f.n[idx];
        const hPrev = hPrevOf(j);
        const dH = (up.output ? up.output[idx] : 0) + hAdj[b * H + j];
        // zoneout: h_t = κ·h′ + (1 − κ)·h_{t−1}
        let dNew = dH;
        if (p.zoneout.kind === "train") {
          const m = p.zoneout.mask[idx];
          hAdjPrev[b * H + j] += (1 - m) * dH;
          dNew = m * dH;
        } else if (p.zoneout.kind === "eval") {
          hAdjPrev[b * H + j] += p.zoneout.p * dH;
          dNew = (1 - p.zoneout.p) * dH;
        }
        // h′ = (1 − z)·n + z·h_{t−1}
        hAdjPrev[b * H + j] += z * dNew;
        const dN = (1 - z) * dNew;
        const dZ = (hPrev - nn) * dNew;
        // n = tanh(gi_n + r·gh_n)
        const dGiN = (1 - nn * nn) * dN;
        const dGhN = r * dGiN;
        const dR = f.hn[idx] * dGiN;
        // r = σ(gi_r + gh_r), z = σ(gi_z + gh_z)
        const dGr = r * (1 - r) * dR;
        const dGz = z * (1 - z) * dZ;
        const dGi = [dGr, dGz, dGiN];
        const dGh = [dGr, dGz, dGhN];
        for (let gate = 0; gate < 3; gate++) {
          affineRefBackward(aff, t, b, gate * H + j, hPrevOf, dGi[gate], dGh[gate], g, hAdjPrev);
        }
      }
    }
    hAdj = hAdjPrev; // at t = 0 this is the adjoint of h0
  }

  return { ...g, h0: hAdj, weight_hh: dropConnectRef(g.weight_hh, p.dropConnect) }; // back through DropConnect
}
