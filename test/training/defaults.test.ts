// One source for each default: the CLI's configuration schema takes the EGRU layer's defaults from
// the library (EGRU_DEFAULTS) and the DVS frame defaults from data/dvs-frames.ts (DEFAULT_FRAMES).

import assert from "node:assert/strict";
import { test } from "node:test";
import { EGRU, EGRU_DEFAULTS } from "../../packages/egru/src/layers/egru.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import { DEFAULT_FRAMES } from "../../packages/cli/src/data/dvs-frames.js";

test("an empty configuration has the EGRU layer's defaults, and so has a layer made with no options", () => {
  const m = parseConfig({}, "test").model;
  const layer = new EGRU({ inputSize: 2, hiddenSize: 3 });
  for (const k of ["thresholdMode", "dampeningFactor", "pseudoDerivativeSupport", "traceDecay", "gradClip"] as const) {
    assert.equal(m[k], EGRU_DEFAULTS[k], `config model.${k}`);
    assert.equal(layer[k], EGRU_DEFAULTS[k], `layer ${k}`);
  }
  assert.equal(m.dropConnect, EGRU_DEFAULTS.dropConnect);
  assert.equal(m.zoneout, EGRU_DEFAULTS.zoneout);
});

test("an empty configuration has the DVS frame defaults, in the config's units (ms)", () => {
  const d = parseConfig({}, "test").dvs;
  assert.equal(d.windowMs * 1000, DEFAULT_FRAMES.windowUs);
  assert.equal(d.frameMs * 1000, DEFAULT_FRAMES.frameUs);
  assert.equal(d.denoiseMs * 1000, DEFAULT_FRAMES.denoiseUs);
  assert.equal(d.size, DEFAULT_FRAMES.size);
  assert.equal(d.pool, DEFAULT_FRAMES.pool);
  assert.equal(d.mergePolarities, DEFAULT_FRAMES.mergePolarities);
  assert.equal(d.scale, DEFAULT_FRAMES.scale);
});
