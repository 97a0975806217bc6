// EGRU against the PyTorch fixtures of tools/gen_fixtures.py
// (generated with: /usr/bin/python3 tools/gen_fixtures.py, Debian python3-torch 1.13, float64 autograd).
// The float64 reference must agree to rounding (1e-10); the float32 layer to float32 accuracy, on
// every kernel set (TypeScript, WebAssembly SIMD, WebAssembly on two threads).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { egruRefBackward, egruRefForward } from "../../packages/egru/src/reference/egru-ref.js";
import { fixtureMasks, layerFromFixture, problemFromFixture, type EgruFixture } from "../egru-cases.js";
import { assertClose, FIXTURES, fixtureNames, loadFixture } from "../helpers.js";
import { describeOnKernelSets } from "../kernel-sets.js";

const manifest = loadFixture("MANIFEST");
const names = fixtureNames("egru-");

test("fixture manifest is the expected format", () => {
  assert.equal(manifest.magic, "egru-fixtures");
  assert.equal(
    manifest.version,
    1,
    "fixtures are of another version: regenerate with /usr/bin/python3 tools/gen_fixtures.py",
  );
  assert.ok(names.length >= 9, `expected ≥ 9 EGRU fixtures, found ${names.length}`);
  for (const { name, sha256 } of manifest.files as { name: string; sha256: string }[]) {
    const bytes = readFileSync(join(FIXTURES, name));
    const digest = createHash("sha256").update(bytes).digest("hex");
    assert.equal(digest, sha256, `${name} differs from the generated file: regenerate, do not edit by hand`);
  }
});

for (const name of names) {
  const f = loadFixture(name) as EgruFixture;
  describe(`fixture ${name}`, () => {
    test("float64 reference matches PyTorch outputs and every gradient (tol 1e-10)", () => {
      const p = problemFromFixture(f);
      const fwd = egruRefForward(p);
      const tol = { atol: 1e-10, rtol: 1e-10 };
      assertClose(fwd.y, f.outputs.y, { ...tol, name: "y" });
      assertClose(fwd.h, f.outputs.h, { ...tol, name: "h" });
      assert.deepEqual(Array.from(fwd.o), f.outputs.o, "o");
      assertClose(fwd.tr, f.outputs.trace, { ...tol, name: "trace" });
      const g = egruRefBackward(p, fwd, { y: f.upstream.y, h: f.upstream.h, o: f.upstream.o, tr: f.upstream.trace });
      assertClose(g.x, f.grads.x, { ...tol, name: "dx" });
      assertClose(g.y0, f.grads.y0, { ...tol, name: "dy0" });
      assertClose(g.W, f.grads.kernel, { ...tol, name: "dkernel" });
      assertClose(g.R, f.grads.recurrent_kernel, { ...tol, name: "drecurrent_kernel" });
      assertClose(g.bx, f.grads.bias, { ...tol, name: "dbias" });
      assertClose(g.br, f.grads.recurrent_bias, { ...tol, name: "drecurrent_bias" });
      assertClose(g.thr, f.grads.thr, { ...tol, name: "dthr" });
    });
  });
}

describeOnKernelSets("float32 layer matches PyTorch outputs and every gradient", (kernels) => {
  for (const name of names) {
    const f = loadFixture(name) as EgruFixture;
    test(`fixture ${name}`, () => {
      const layer = layerFromFixture(f, kernels);
      assert.equal(layer.kernels, kernels);
      const { T, B } = f.dims;
      const r = layer.forward({ x: f.inputs.x, T, B, y0: f.inputs.y0, masks: fixtureMasks(f) });
      // Outputs are O(1) and pass through ≤ 9 steps of float32 arithmetic (≈ 6e-8 relative each):
      // 1e-5 absolute leaves two orders of margin; the fixtures keep |c − ϑ| ≥ 1e-3 so no event flips.
      const out = { atol: 1e-5, rtol: 1e-4 };
      assertClose(r.y, f.outputs.y, { ...out, name: "y" });
      assertClose(r.h, f.outputs.h, { ...out, name: "h" });
      assert.deepEqual(Array.from(r.o), f.outputs.o, "o");
      assertClose(r.trace, f.outputs.trace, { ...out, name: "trace" });
      assert.equal(r.stats.events, f.stats.events, "event count");
      assert.ok(Math.abs(r.stats.activitySparsity - f.stats.activitySparsity) < 1e-12, "activity sparsity");
      const d = layer.backward(r, { dy: f.upstream.y, dh: f.upstream.h, do: f.upstream.o, dtrace: f.upstream.trace });
      // Gradients sum O(T·B) float32 products of magnitude up to ~10 (s = 3.6 makes the surrogate
      // steep): 1e-4 absolute plus 1e-3 relative is float32 accuracy with margin, not slack.
      const gt = { atol: 1e-4, rtol: 1e-3 };
      assertClose(d.dx, f.grads.x, { ...gt, name: "dx" });
      assertClose(d.dy0, f.grads.y0, { ...gt, name: "dy0" });
      for (const k of ["kernel", "recurrent_kernel", "bias", "recurrent_bias", "thr"] as const) {
        assertClose(layer.grads[k], f.grads[k], { ...gt, name: `d${k}` });
      }
    });
  }
});

test("the no-event fixture has no events and y ≡ 0", () => {
  const f = loadFixture("egru-clamp-eval-noevents") as EgruFixture;
  const fwd = egruRefForward(problemFromFixture(f));
  assert.ok(fwd.o.every((v) => v === 0));
  assert.ok(fwd.y.every((v) => v === 0));
});
