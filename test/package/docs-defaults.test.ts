// The README states the defaults from their one source: EGRU's (EGRU_DEFAULTS, in the
// implementation notes) and the DVS frames' (DEFAULT_FRAMES, in the event-camera section). A
// changed default without the README changed with it fails here.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { EGRU_DEFAULTS } from "../../packages/egru/src/layers/egru.js";
import { DEFAULT_FRAMES } from "../../packages/cli/src/data/dvs-frames.js";
import { ROOT } from "../helpers.js";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");

/** The number the README gives after `label` (e.g. "α = "), from the first place it matches. */
function stated(pattern: RegExp): number {
  const m = readme.match(pattern);
  assert.ok(m, `README.md: nothing matches ${pattern}`);
  return Number(m[1]);
}

test("the README's implementation notes give EGRU_DEFAULTS", () => {
  assert.equal(stated(/α = ([\d.]+) by default/), EGRU_DEFAULTS.traceDecay, "trace decay α");
  assert.equal(stated(/γ = ([\d.]+), s = [\d.]+ by default/), EGRU_DEFAULTS.dampeningFactor, "dampening γ");
  assert.equal(stated(/γ = [\d.]+, s = ([\d.]+) by default/), EGRU_DEFAULTS.pseudoDerivativeSupport, "support s");
  assert.equal(stated(/init with mean m = ([\d.]+)/), EGRU_DEFAULTS.thresholdMean.clamp, "clamp threshold mean");
  assert.equal(stated(/θ ~ N\(μ, √2\), μ = ([\d.-]+)/), EGRU_DEFAULTS.thresholdMean.sigmoid, "sigmoid logit mean");
  assert.equal(
    stated(/`gradClip` \(EvNN's `grad_clip`; default ([\d.]+) = off\)/),
    EGRU_DEFAULTS.gradClip,
    "clip inside backward",
  );
  assert.match(
    readme,
    new RegExp(`\\| thresholds \\| per unit; \`${EGRU_DEFAULTS.thresholdMode}\``),
    "default mode first",
  );
});

test("the README's event-camera section gives DEFAULT_FRAMES", () => {
  assert.equal(stated(/([\d.]+) s windows \(`windowMs`/) * 1e6, DEFAULT_FRAMES.windowUs, "window");
  assert.equal(stated(/frames of ([\d.]+) ms \(`frameMs`/) * 1e3, DEFAULT_FRAMES.frameUs, "frame length");
  const frames = DEFAULT_FRAMES.windowUs / DEFAULT_FRAMES.frameUs;
  assert.equal(stated(/`frameMs`: (\d+) frames/), frames, "frames per window");
  assert.equal(stated(/pooled from (\d+)×\d+ to/), DEFAULT_FRAMES.sensor, "sensor side");
});
