// Scalar activation functions and the event (spike) function pair used by EGRU.
//
// The event nonlinearity o = f(c − ϑ) is a pair { f, df }:
//   - heaviside: f = H(x) (1 if x > 0, else 0, so H(0) = 0) and df = the triangular
//     pseudo-derivative γ·max(0, 1 − s·|x|) of the EGRU paper (the surrogate gradient);
//   - smooth: f = σ(κx) and df = κ·σ(κx)(1 − σ(κx)), its exact derivative. With it the whole
//     layer is differentiable, so its hand-written backward can be checked by finite differences.

/** Logistic sigmoid, written to stay finite for large |x|. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Heaviside step with H(0) = 0, as the official kernels. */
export function heaviside(x: number): number {
  return x > 0 ? 1 : 0;
}

/** Triangular pseudo-derivative γ·max(0, 1 − s·|x|): peak γ at 0, half-width 1/s. */
export function triangle(x: number, gamma: number, s: number): number {
  const v = 1 - s * Math.abs(x);
  return v > 0 ? gamma * v : 0;
}

/** The event nonlinearity and the derivative used for it in backward. */
export interface EventFunction {
  /** "heaviside" for the real model, "smooth" for gradient checks. */
  readonly kind: "heaviside" | "smooth";
  /** Forward value o = f(x), x = c − ϑ. */
  f(x: number): number;
  /** Derivative used in backward: the surrogate for heaviside, the exact one for smooth. */
  df(x: number): number;
  /** heaviside: γ and s of the triangle γ·max(0, 1 − s|x|) (kernels that inline df read them). */
  readonly gamma?: number;
  readonly support?: number;
}

/** H(x) forward, γ·max(0, 1 − s|x|) backward (EvNN's SpikeFunction). Defaults γ = 0.7, s = 1. */
export function heavisideEvent(gamma = 0.7, s = 1.0): EventFunction {
  return {
    kind: "heaviside",
    gamma,
    support: s,
    f: heaviside,
    df: (x: number) => triangle(x, gamma, s),
  };
}

/** σ(κx) forward, κσ(κx)(1 − σ(κx)) backward: a smooth stand-in for the step, for tests. */
export function smoothEvent(kappa = 4): EventFunction {
  return {
    kind: "smooth",
    f: (x: number) => sigmoid(kappa * x),
    df: (x: number) => {
      const v = sigmoid(kappa * x);
      return kappa * v * (1 - v);
    },
  };
}
