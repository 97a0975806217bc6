// Sampling text: the token-by-token stream against LanguageModel.forward over evaluation segments
// (EGRU restarting its internal state every segment, GRU and LSTM carrying theirs), the sampler's
// distribution (temperature, greedy, top-K), and `egru generate` on a run directory built here.

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { LanguageModel, type LmState } from "../../packages/egru/src/nn/language-model.js";
import { LmStream, sampleToken } from "../../packages/egru/src/nn/lm-stream.js";
import { promptIds } from "../../packages/cli/src/cli/generate.js";
import { LM_RUN_WORDS, lmRunDir, runEgru } from "../helpers.js";

const V = 13,
  E = 5,
  H = 7;

function model(cell: "egru" | "gru" | "lstm"): LanguageModel {
  return new LanguageModel({
    cell,
    vocab: V,
    embedding: E,
    hidden: H,
    layers: 3,
    seed: 11,
    dropoutEmbedding: 0.3,
    dropoutForward: 0.3,
    dropoutOutput: 0.3,
    dropConnect: 0.3,
    egru: { thresholdMode: "clamp", thresholdMean: 0.05, weightGain: 2 },
  });
}

test("the token stream's logits equal evaluation's over bptt-long segments (EGRU restarts h and the trace, keeps y; GRU, LSTM carry all)", () => {
  const rng = new Rng(2);
  const n = 17,
    S = 5;
  const tokens = Int32Array.from({ length: n }, () => rng.int(V));
  for (const cell of ["egru", "gru", "lstm"] as const) {
    const m = model(cell).eval();
    const want = new Float32Array(n * V);
    let state: LmState | null = null;
    for (let t = 0; t < n; t += S) {
      const T = Math.min(S, n - t);
      const r = m.forward(tokens.subarray(t, t + T), T, 1, state);
      want.set(r.logits, t * V);
      state = r.state;
    }
    const s = new LmStream(m, { segment: S });
    let worst = 0;
    for (let t = 0; t < n; t++) {
      const got = s.feed(tokens[t]);
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(got[v] - want[t * V + v]));
    }
    assert.ok(worst < 1e-5, `${cell}: largest difference ${worst}`);
    if (cell === "egru") {
      const sp = s.layerSparsity();
      assert.ok(
        sp.every((x) => x > 0 && x < 1),
        `EGRU layers are neither silent nor dense: ${sp}`,
      );
      // without restarts the stream is a different computation after the first segment
      const free = new LmStream(m, { segment: 0 });
      let differs = false;
      for (let t = 0; t < n; t++) {
        const got = free.feed(tokens[t]);
        if (t >= S && got.some((v, i) => v !== want[t * V + i])) differs = true;
        if (t < S)
          assert.ok(
            got.every((v, i) => Math.abs(v - want[t * V + i]) < 1e-5),
            "the first segment is the same",
          );
      }
      assert.ok(differs, "segment 0 never restarts the internal state");
    } else {
      // segments change nothing for GRU and LSTM
      assert.deepEqual(
        new LmStream(m, { segment: 0 }).feedAll(tokens),
        new LmStream(m, { segment: S }).feedAll(tokens),
      );
    }
  }
});

test("sampleToken draws from softmax(logits / T), greedy at T = 0, only the top K with topK", () => {
  const logits = Float32Array.from([0.5, 2, -1, 1.2, 0]);
  const p = (temp: number): number[] => {
    const e = Array.from(logits, (l) => Math.exp(l / temp));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  };
  const N = 20000;
  for (const temp of [1, 0.5, 2]) {
    const counts = new Array<number>(logits.length).fill(0);
    for (let i = 0; i < N; i++) counts[sampleToken(logits, temp, (i + 0.5) / N)]++; // a uniform grid: counts are exact up to ±1
    p(temp).forEach((q, v) =>
      assert.ok(Math.abs(counts[v] / N - q) < 2 / N, `T=${temp} token ${v}: ${counts[v] / N} vs ${q}`),
    );
  }
  assert.equal(sampleToken(logits, 0, 0.99), 1);
  const top2 = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < N; i++) top2[sampleToken(logits, 1, (i + 0.5) / N, 2)]++;
  assert.deepEqual([top2[0], top2[2], top2[4]], [0, 0, 0]);
  const q = Math.exp(2) / (Math.exp(2) + Math.exp(1.2));
  assert.ok(Math.abs(top2[1] / N - q) < 2 / N);
  assert.throws(() => sampleToken(logits, -1, 0.5), /temperature/);
  assert.throws(() => sampleToken(logits, Number.NaN, 0.5), /temperature/);
});

test("prompt words: a leading <eos>, line breaks as <eos>, unknown words as <unk> with a warning, or an error without <unk>", () => {
  const ids = new Map([
    ["<eos>", 0],
    ["the", 1],
    ["<unk>", 2],
    ["cat", 3],
  ]);
  const warnings: string[] = [];
  assert.deepEqual(
    promptIds(" the  cat\nzebra the", ids, (m) => warnings.push(m)),
    [0, 1, 3, 0, 2, 1],
  );
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /"zebra"/);
  assert.deepEqual(
    promptIds("", ids, () => {}),
    [0],
  );
  ids.delete("<unk>");
  assert.throws(() => promptIds("zebra", ids, () => {}), /zebra/);
});

const egru = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = runEgru(args, 60_000);
  return { status: r.code, stdout: r.out, stderr: r.err };
};

test("egru generate: streams words from a run directory, reproducible by seed, greedy at temperature 0; clear errors", () => {
  const { dir, model: m } = lmRunDir({ cell: "egru", hidden: 9, layers: 2, thresholdMean: 0.05 });
  const words = LM_RUN_WORDS;

  const a = egru("generate", dir, "--prompt", "the cat", "--tokens", "30", "--seed", "3", "--json", "--quiet");
  assert.equal(a.status, 0, String(a.stderr));
  const out = JSON.parse(String(a.stdout)) as { tokens: string[]; layerSparsity: number[]; text: string };
  assert.equal(out.tokens.length, 30);
  assert.ok(out.tokens.every((w) => words.includes(w)));
  assert.equal(out.layerSparsity.length, 2);
  const again = JSON.parse(
    String(egru("generate", dir, "--prompt", "the cat", "--tokens", "30", "--seed", "3", "--json", "--quiet").stdout),
  ) as { tokens: string[] };
  assert.deepEqual(again.tokens, out.tokens, "the same seed gives the same words");

  // greedy: the most likely word after the prompt, from the library directly
  const s = new LmStream(m, { segment: 4 });
  const first = sampleToken(s.feedAll([0, 1, 3]), 0, 0);
  const g = egru("generate", dir, "--prompt", "the cat", "--tokens", "1", "--temperature", "0", "--json", "--quiet");
  assert.deepEqual((JSON.parse(String(g.stdout)) as { tokens: string[] }).tokens, [words[first]]);

  const text = egru("generate", dir, "--prompt", "the zebra", "--tokens", "5");
  assert.equal(text.status, 0);
  assert.match(String(text.stdout), /^the <unk>/);
  assert.match(String(text.stderr), /"zebra" is not in the vocabulary/);

  const missing = egru("generate", join(dir, "nope"));
  assert.equal(missing.status, 2);
  assert.match(String(missing.stderr), /does not exist/);
  assert.equal(egru("generate", dir, "--temperature", "-1").status, 2);
  assert.equal(egru("generate", dir, "--tokens", "0").status, 2);
});
