// The float64 reference EGRU: naive, loop-by-loop, written for reading, not speed.
// It is the oracle the fast kernels, the layers and the PyTorch fixtures are checked against.
// It takes the layer's raw parameters (thresholds before clamp/sigmoid, the stored R with its
// DropConnect mask) so the layer's own transforms are checked too.
//
// Letters: T steps, B batch, I inputs, H units; gates (z, r, g) in column blocks of 3H.
// Derivations of every backward line: docs/egru-math.md.

import type { EventFunction } from "../kernels/activations.js";

export interface EgruRefProblem {
  T: number;
  B: number;
  I: number;
  H: number;
  x: ArrayLike<number>; // [T, B, I]
  y0: ArrayLike<number>; // [B, H]
  W: ArrayLike<number>; // [I, 3H]
  R: ArrayLike<number>; // [H, 3H] as stored (before DropConnect)
  bx: ArrayLike<number>; // [3H]
  br: ArrayLike<number>; // [3H]
  thr: ArrayLike<number>; // [H] raw threshold parameter
  thresholdMode: "clamp" | "sigmoid";
  dropConnect: { mask: ArrayLike<number>; p: number } | null; // mask [H, 3H] of 0/1
  zoneout: { kind: "none" } | { kind: "train"; mask: ArrayLike<number> } | { kind: "eval"; p: number };
  alpha: number;
  event: EventFunction;
}

export interface EgruRefForward {
  y: Float64Array;
  h: Float64Array;
  o: Float64Array;
  tr: Float64Array; // [T, B, H]
  c: Float64Array;
  z: Float64Array;
  r: Float64Array;
  g: Float64Array;
  qg: Float64Array; // [T, B, H]
  theta: Float64Array; // [H] effective thresholds ϑ
}

export interface EgruRefGrads {
  x: Float64Array;
  y0: Float64Array;
  W: Float64Array;
  R: Float64Array;
  bx: Float64Array;
  br: Float64Array;
  thr: Float64Array;
}

const sig = (v: number): number => 1 / (1 + Math.exp(-v));

/** ϑ from the raw parameter: clamp to [0, 1], or the logistic sigmoid. */
function effectiveThresholds(p: EgruRefProblem): Float64Array {
  const theta = new Float64Array(p.H);
  for (let j = 0; j < p.H; j++) {
    theta[j] = p.thresholdMode === "clamp" ? Math.min(1, Math.max(0, p.thr[j])) : sig(p.thr[j]);
  }
  return theta;
}

/** The recurrent matrix the forward uses: R ⊙ mask / (1 − p) under DropConnect, else R. */
function effectiveR(p: EgruRefProblem): Float64Array {
  const n = p.H * 3 * p.H;
  const R = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    R[i] = p.dropConnect ? (p.R[i] * p.dropConnect.mask[i]) / (1 - p.dropConnect.p) : p.R[i];
  }
  return R;
}

export function egruRefForward(p: EgruRefProblem): EgruRefForward {
  const { T, B, I, H } = p;
  const n = T * B * H;
  const out: EgruRefForward = {
    y: new Float64Array(n),
    h: new Float64Array(n),
    o: new Float64Array(n),
    tr: new Float64Array(n),
    c: new Float64Array(n),
    z: new Float64Array(n),
    r: new Float64Array(n),
    g: new Float64Array(n),
    qg: new Float64Array(n),
    theta: effectiveThresholds(p),
  };
  const R = effectiveR(p);
  const at = (t: number, b: number, j: number): number => (t * B + b) * H + j;

  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        // previous event output, previous internal state, previous trace
        const yPrev = (k: number): number => (t === 0 ? p.y0[b * H + k] : out.y[at(t - 1, b, k)]);
        const hPrev = t === 0 ? 0 : out.h[at(t - 1, b, j)];
        const trPrev = t === 0 ? 0 : out.tr[at(t - 1, b, j)];
        // input and recurrent pre-activations of the three gates of unit j
        const a = [0, 0, 0];
        const q = [0, 0, 0];
        for (let gate = 0; gate < 3; gate++) {
          const col = gate * H + j;
          a[gate] = p.bx[col];
          for (let i = 0; i < I; i++) a[gate] += p.x[(t * B + b) * I + i] * p.W[i * 3 * H + col];
          q[gate] = p.br[col];
          for (let k = 0; k < H; k++) q[gate] += yPrev(k) * R[k * 3 * H + col];
        }
        const z = sig(a[0] + q[0]);
        const r = sig(a[1] + q[1]);
        const g = Math.tanh(a[2] + r * q[2]);
        let c = z * hPrev + (1 - z) * g;
        if (p.zoneout.kind === "train") c = (c - hPrev) * p.zoneout.mask[at(t, b, j)] + hPrev;
        if (p.zoneout.kind === "eval") c = p.zoneout.p * hPrev + (1 - p.zoneout.p) * c;
        const theta = out.theta[j];
        const o = p.event.f(c - theta);
        const idx = at(t, b, j);
        out.z[idx] = z;
        out.r[idx] = r;
        out.g[idx] = g;
        out.qg[idx] = q[2];
        out.c[idx] = c;
        out.o[idx] = o;
        out.y[idx] = c * o;
        out.h[idx] = c - o * theta;
        out.tr[idx] = p.alpha * trPrev + (1 - p.alpha) * c * o;
      }
    }
  }
  return out;
}

export interface EgruRefUpstream {
  y?: ArrayLike<number>;
  h?: ArrayLike<number>;
  o?: ArrayLike<number>;
  tr?: ArrayLike<number>; // [T, B, H]
}

/** Backpropagation through time, one node at a time, in reverse. */
export function egruRefBackward(p: EgruRefProblem, f: EgruRefForward, up: EgruRefUpstream): EgruRefGrads {
  const { T, B, I, H } = p;
  const G = 3 * H;
  const R = effectiveR(p);
  const at = (t: number, b: number, j: number): number => (t * B + b) * H + j;
  const upv = (a: ArrayLike<number> | undefined, i: number): number => (a ? a[i] : 0);

  const gx = new Float64Array(T * B * I);
  const gy0 = new Float64Array(B * H);
  const gW = new Float64Array(I * G);
  const gReff = new Float64Array(H * G);
  const gbx = new Float64Array(G);
  const gbr = new Float64Array(G);
  const gTheta = new Float64Array(H);

  // Adjoints flowing backwards in time into y_t, h_t and tr_t from step t+1.
  let yAdj = new Float64Array(B * H);
  let hAdj = new Float64Array(B * H);
  let trAdj = new Float64Array(B * H);

  for (let t = T - 1; t >= 0; t--) {
    const yAdjPrev = new Float64Array(B * H);
    const hAdjPrev = new Float64Array(B * H);
    const trAdjPrev = new Float64Array(B * H);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        const idx = at(t, b, j);
        const theta = f.theta[j];
        const c = f.c[idx];
        const o = f.o[idx];
        const z = f.z[idx];
        const r = f.r[idx];
        const g = f.g[idx];
        const hPrev = t === 0 ? 0 : f.h[at(t - 1, b, j)];
        // total adjoints of this step's outputs
        const dTr = upv(up.tr, idx) + trAdj[b * H + j];
        trAdjPrev[b * H + j] = p.alpha * dTr; // tr_t = α tr_{t−1} + (1−α) y_t
        const dY = upv(up.y, idx) + yAdj[b * H + j] + (1 - p.alpha) * dTr;
        const dH = upv(up.h, idx) + hAdj[b * H + j];
        // o = f(c − ϑ); y = c·o; h = c − o·ϑ
        const dO = upv(up.o, idx) + c * dY - theta * dH;
        const dPre = dO * p.event.df(c - theta); // adjoint of c − ϑ through o
        gTheta[j] += -dPre - o * dH;
        let dC = dPre + o * dY + dH;
        // zoneout (c after zoneout = mix of the gated value and h_{t−1})
        if (p.zoneout.kind === "train") {
          const m = p.zoneout.mask[idx];
          hAdjPrev[b * H + j] += (1 - m) * dC;
          dC = m * dC;
        } else if (p.zoneout.kind === "eval") {
          hAdjPrev[b * H + j] += p.zoneout.p * dC;
          dC = (1 - p.zoneout.p) * dC;
        }
        // c = z·h_{t−1} + (1 − z)·g
        hAdjPrev[b * H + j] += z * dC;
        const dZ = (hPrev - g) * dC;
        const dG = (1 - z) * dC;
        // g = tanh(a_g + r·q_g)
        const dAg = (1 - g * g) * dG;
        const dR = dAg * f.qg[idx];
        const dQg = dAg * r;
        // z = σ(a_z + q_z), r = σ(a_r + q_r)
        const dAz = z * (1 - z) * dZ;
        const dAr = r * (1 - r) * dR;
        const dA = [dAz, dAr, dAg];
        const dQ = [dAz, dAr, dQg];
        for (let gate = 0; gate < 3; gate++) {
          const col = gate * H + j;
          gbx[col] += dA[gate];
          gbr[col] += dQ[gate];
          for (let i = 0; i < I; i++) {
            const xi = (t * B + b) * I + i;
            gx[xi] += dA[gate] * p.W[i * G + col];
            gW[i * G + col] += p.x[xi] * dA[gate];
          }
          for (let k = 0; k < H; k++) {
            const yPrev = t === 0 ? p.y0[b * H + k] : f.y[at(t - 1, b, k)];
            gReff[k * G + col] += yPrev * dQ[gate];
            if (t === 0) gy0[b * H + k] += dQ[gate] * R[k * G + col];
            else yAdjPrev[b * H + k] += dQ[gate] * R[k * G + col];
          }
        }
      }
    }
    yAdj = yAdjPrev;
    hAdj = hAdjPrev; // at t = 0 this reaches h_0 = 0, a constant: dropped
    trAdj = trAdjPrev;
  }

  // Back through the parameter transforms.
  const gR = new Float64Array(H * G);
  for (let i = 0; i < H * G; i++) {
    gR[i] = p.dropConnect ? (gReff[i] * p.dropConnect.mask[i]) / (1 - p.dropConnect.p) : gReff[i];
  }
  const gThr = new Float64Array(H);
  for (let j = 0; j < H; j++) {
    // clamp is applied to the parameter in place, outside the graph: the gradient passes through
    gThr[j] = p.thresholdMode === "clamp" ? gTheta[j] : gTheta[j] * f.theta[j] * (1 - f.theta[j]);
  }
  return { x: gx, y0: gy0, W: gW, R: gR, bx: gbx, br: gbr, thr: gThr };
}
