// The language-model presets (presets/*.json): each parses, and builds a model with the parameter
// count the spec's formula gives (docs/paper-setups.md#parameter-counts); the GRU and LSTM baselines match their EGRU within 0.1 %;
// the paper-size baselines train with AWD's WeightDrop (row masks) and AR/TAR, ptb-small's and the EGRU presets without.

import assert from "node:assert/strict";
import { test } from "node:test";
import { loadPresets } from "../../packages/cli/src/node/presets.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import { buildLanguageModel } from "../../packages/cli/src/train/build.js";
import { parameterCount } from "../../packages/cli/src/train/build.js";

const VOCAB: Record<string, number> = { ptb: 10_000, "wikitext-2": 33_278 };
const egru = (i: number, h: number): number => 3 * (i * h + h * h + 2 * h) + h;

/** The spec's formula for a 3-layer EGRU LM: egru(E,H) + egru(H,H) + egru(H,E) + V·E + V. */
const formula = (E: number, H: number, V: number): number => egru(E, H) + egru(H, H) + egru(H, E) + V * E + V;

const presets = loadPresets();
const lm = Object.keys(presets).filter((k) => /^(ptb|wikitext-2)-/.test(k));

test("the paper's recipes give the spec's parameter counts", () => {
  const want: Record<string, number> = {
    "ptb-v0.2": 31_699_150,
    "wikitext-2-v0.2": 49_180_928,
    "ptb-iclr-1350": 32_562_548,
    "ptb-iclr-2000": 55_188_890,
  };
  for (const [name, n] of Object.entries(want)) {
    const c = parseConfig(presets[name], name);
    assert.equal(formula(c.lm.embedding, c.model.hidden, VOCAB[c.task]), n, `${name}: formula`);
    assert.equal(parameterCount(buildLanguageModel(c, VOCAB[c.task])), n, `${name}: built model`);
  }
});

test("every language-model preset builds; GRU and LSTM baselines match their EGRU's size within 0.1 %", () => {
  assert.ok(lm.length >= 15, `${lm.length} presets`);
  const counts: Record<string, number> = {};
  for (const name of lm) {
    const c = parseConfig(presets[name], name);
    counts[name] = parameterCount(buildLanguageModel(c, VOCAB[c.task]));
  }
  for (const name of lm.filter((k) => /-(gru|lstm)$/.test(k))) {
    const base = name.replace(/-(gru|lstm)$/, "");
    const rel = Math.abs(counts[name] - counts[base]) / counts[base];
    assert.ok(rel < 1e-3, `${name}: ${counts[name]} vs ${base}: ${counts[base]}`);
  }
});

test("the paper-size GRU and LSTM baselines have row DropConnect at their EGRU's probability and AR/TAR α 2, β 1; the others not", () => {
  const awd = ["ptb-iclr-1350", "ptb-iclr-2000", "ptb-v0.2", "wikitext-2-v0.2"].flatMap((b) => [
    `${b}-gru`,
    `${b}-lstm`,
  ]);
  for (const name of Object.keys(presets)) {
    const c = parseConfig(presets[name], name);
    if (awd.includes(name)) {
      const egru = parseConfig(presets[name.replace(/-(gru|lstm)$/, "")], name);
      assert.equal(c.model.dropConnect, egru.model.dropConnect, `${name}: the recipe's DropConnect probability`);
      assert.deepEqual(
        [c.model.dropConnectShape, c.lm.arWeight, c.lm.tarWeight, c.lm.arOutput],
        ["row", 2, 1, "dropped"],
        name,
      );
      const model = buildLanguageModel({ ...c, lm: { ...c.lm, embedding: 8 }, model: { ...c.model, hidden: 8 } }, 20);
      assert.ok(
        model.cells.every((cell) => "dropConnectShape" in cell.layer && cell.layer.dropConnectShape === "row"),
        `${name}: every layer draws row masks`,
      );
      assert.deepEqual([model.options.arWeight, model.options.tarWeight], [2, 1], name);
    } else {
      assert.deepEqual([c.model.dropConnectShape, c.lm.arWeight, c.lm.tarWeight], ["element", 0, 0], name);
    }
  }
  assert.ok(
    awd.every((name) => name in presets),
    "every baseline named exists",
  );
});
