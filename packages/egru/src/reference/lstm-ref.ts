// The float64 reference LSTM: naive, loop-by-loop, written for reading, not speed.
// PyTorch's nn.LSTM layout and equations (docs/egru-math.md §5), independent of the kernels:
//   weight_ih [4H, I]   weight_hh [4H, H]   bias_ih [4H]   bias_hh [4H]    row blocks (i, f, g, o)
//   P = W_ih x + b_ih + W_hh h + b_hh
//   i = σ(P_i)  f = σ(P_f)  g = tanh(P_g)  o = σ(P_o)
//   c′ = f ⊙ c + i ⊙ g      h′ = o ⊙ tanh(c′)
// DropConnect (optional) multiplies weight_hh by a 0/1 mask [4H, H] and scales by 1/(1 − p).

import { affineRef, affineRefBackward, affineRefGrads, dropConnectRef, type AffineRefInputs } from "./gru-ref.js";

export interface LstmRefProblem {
  T: number;
  B: number;
  I: number;
  H: number;
  x: ArrayLike<number>; // [T, B, I]
  h0: ArrayLike<number>; // [B, H]
  c0: ArrayLike<number>; // [B, H]
  weight_ih: ArrayLike<number>; // [4H, I]
  weight_hh: ArrayLike<number>; // [4H, H] as stored (before DropConnect)
  bias_ih: ArrayLike<number>; // [4H]
  bias_hh: ArrayLike<number>; // [4H]
  dropConnect: { mask: ArrayLike<number>; p: number } | null; // mask [4H, H] of 0/1
}

export interface LstmRefForward {
  output: Float64Array; // [T, B, H] h_1 … h_T
  c: Float64Array; // [T, B, H] c_1 … c_T
  hT: Float64Array; // [B, H]
  cT: Float64Array; // [B, H]
  i: Float64Array;
  f: Float64Array;
  g: Float64Array;
  o: Float64Array; // [T, B, H] gates
}

export interface LstmRefGrads {
  x: Float64Array;
  h0: Float64Array;
  c0: Float64Array;
  weight_ih: Float64Array;
  weight_hh: Float64Array;
  bias_ih: Float64Array;
  bias_hh: Float64Array;
}

export interface LstmRefUpstream {
  output?: ArrayLike<number>; // [T, B, H]
  hT?: ArrayLike<number>; // [B, H]
  cT?: ArrayLike<number>; // [B, H]
}

const sig = (v: number): number => 1 / (1 + Math.exp(-v));

export function lstmRefForward(p: LstmRefProblem): LstmRefForward {
  const { T, B, H } = p;
  const n = T * B * H;
  const out: LstmRefForward = {
    output: new Float64Array(n),
    c: new Float64Array(n),
    hT: new Float64Array(B * H),
    cT: new Float64Array(B * H),
    i: new Float64Array(n),
    f: new Float64Array(n),
    g: new Float64Array(n),
    o: new Float64Array(n),
  };
  const aff: AffineRefInputs = { ...p, Whh: dropConnectRef(p.weight_hh, p.dropConnect) };
  const at = (t: number, b: number, j: number): number => (t * B + b) * H + j;

  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      const hPrevOf = (k: number): number => (t === 0 ? p.h0[b * H + k] : out.output[at(t - 1, b, k)]);
      for (let j = 0; j < H; j++) {
        // P = W_ih x + b_ih + W_hh h + b_hh at the four gate rows (i, f, g, o) of unit j
        const P = [0, 1, 2, 3].map((gate) => {
          const { gi, gh } = affineRef(aff, t, b, gate * H + j, hPrevOf);
          return gi + gh;
        });
        const ig = sig(P[0]);
        const fg = sig(P[1]);
        const gg = Math.tanh(P[2]);
        const og = sig(P[3]);
        const cPrev = t === 0 ? p.c0[b * H + j] : out.c[at(t - 1, b, j)];
        const c = fg * cPrev + ig * gg;
        const idx = at(t, b, j);
        out.i[idx] = ig;
        out.f[idx] = fg;
        out.g[idx] = gg;
        out.o[idx] = og;
        out.c[idx] = c;
        out.output[idx] = og * Math.tanh(c);
      }
    }
  }
  out.hT.set(out.output.subarray((T - 1) * B * H));
  out.cT.set(out.c.subarray((T - 1) * B * H));
  return out;
}

/** Backpropagation through time, one node at a time, in reverse. */
export function lstmRefBackward(p: LstmRefProblem, f: LstmRefForward, up: LstmRefUpstream): LstmRefGrads {
  const { T, B, H } = p;
  const aff: AffineRefInputs = { ...p, Whh: dropConnectRef(p.weight_hh, p.dropConnect) };
  const at = (t: number, b: number, j: number): number => (t * B + b) * H + j;
  const g = affineRefGrads(T, 4, aff);

  // Adjoints of h_t and c_t from everything after step t (at t = T − 1: the final-state gradients).
  let hAdj = new Float64Array(B * H);
  let cAdj = new Float64Array(B * H);
  if (up.hT) for (let i = 0; i < B * H; i++) hAdj[i] = up.hT[i];
  if (up.cT) for (let i = 0; i < B * H; i++) cAdj[i] = up.cT[i];

  for (let t = T - 1; t >= 0; t--) {
    const hAdjPrev = new Float64Array(B * H);
    const cAdjPrev = new Float64Array(B * H);
    for (let b = 0; b < B; b++) {
      const hPrevOf = (k: number): number => (t === 0 ? p.h0[b * H + k] : f.output[at(t - 1, b, k)]);
      for (let j = 0; j < H; j++) {
        const idx = at(t, b, j);
        const ig = f.i[idx];
        const fg = f.f[idx];
        const gg = f.g[idx];
        const og = f.o[idx];
        const tc = Math.tanh(f.c[idx]);
        const cPrev = t === 0 ? p.c0[b * H + j] : f.c[at(t - 1, b, j)];
        const dH = (up.output ? up.output[idx] : 0) + hAdj[b * H + j];
        // h = o·tanh(c)
        const dO = tc * dH;
        const dC = cAdj[b * H + j] + og * (1 - tc * tc) * dH;
        // c = f·c_prev + i·g
        cAdjPrev[b * H + j] += fg * dC;
        const dI = gg * dC;
        const dF = cPrev * dC;
        const dG = ig * dC;
        const dP = [ig * (1 - ig) * dI, fg * (1 - fg) * dF, (1 - gg * gg) * dG, og * (1 - og) * dO];
        // P = gi + gh: both affine maps get the same adjoint
        for (let gate = 0; gate < 4; gate++) {
          affineRefBackward(aff, t, b, gate * H + j, hPrevOf, dP[gate], dP[gate], g, hAdjPrev);
        }
      }
    }
    hAdj = hAdjPrev; // at t = 0 these are the adjoints of h0 and c0
    cAdj = cAdjPrev;
  }

  return { ...g, h0: hAdj, c0: cAdj, weight_hh: dropConnectRef(g.weight_hh, p.dropConnect) }; // back through DropConnect
}
