// A checkpoint's state.json is checked before a run resumes from it: an edit without a matching
// digest is caught by sha256.state; an edit with one (a careful tamperer, or a bug) by the schema and
// by the checks against the run (position within epochs and data, optimizer steps, epoch sums, the
// carried LM state's shapes). Every error names state.json and the field. Sealed safetensors (the
// data's sha256 in the header) catch a flipped byte in best.safetensors or a saved model.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { decodeSafetensors, encodeSafetensors } from "../../packages/egru/src/io/safetensors.js";
import { paramTensors } from "../../packages/egru/src/model/params-io.js";
import { checkSealed, DATA_DIGEST_KEY, sealSafetensors } from "../../packages/egru/src/node/sealed-safetensors.js";
import type { MnistSplit } from "../../packages/cli/src/data/mnist.js";
import { buildCorpus } from "../../packages/cli/src/data/corpus.js";
import { stateDigest } from "../../packages/cli/src/run/checkpoint-state.js";
import { loadCheckpoint, restoreTrainer, saveTrainer } from "../../packages/cli/src/run/checkpoint.js";
import { loadRunWeights } from "../../packages/cli/src/run/run-files.js";
import { buildLmTrainer, buildTrainer } from "../../packages/cli/src/train/build.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import { mnistTask } from "../../packages/cli/src/train/task.js";

const tmp = (): string => mkdtempSync(join(tmpdir(), "egru-state-"));

function toyMnist(n: number, seed: number): MnistSplit {
  const rng = new Rng(seed);
  const images = Uint8Array.from({ length: n * 784 }, () => rng.int(255));
  const labels = Uint8Array.from({ length: n }, () => rng.int(10));
  return { images, labels, count: n };
}

/** Edit a checkpoint's state.json; with `redigest`, record the matching sha256.state as egru would. */
function editState(dir: string, edit: (s: Record<string, any>) => void, redigest: boolean): string {
  const path = join(dir, "ckpt-00000007", "state.json");
  const s = JSON.parse(readFileSync(path, "utf8")) as Record<string, any>;
  edit(s);
  if (redigest) s.sha256.state = stateDigest(s);
  writeFileSync(path, JSON.stringify(s));
  return path;
}

const classifierConfig = parseConfig({ model: { cell: "gru", hidden: 6, readout: "last" }, epochs: 3, batchSize: 16 });
const task = mnistTask("mnist-row", toyMnist(80, 1), toyMnist(10, 2), { validation: 16 });

/** A classifier run's checkpoint at step 7 (epoch 1, batch 3 of 4), in a fresh directory. */
function classifierCheckpoint(): string {
  const dir = tmp();
  const t = buildTrainer(classifierConfig, task);
  t.run({ stop: (p) => p.step === 7 });
  saveTrainer(dir, t, { config: classifierConfig, seconds: 1, kind: {} });
  return dir;
}

/** Load the checkpoint in `dir` into a fresh trainer (what --resume does). */
const resume = (dir: string): void => restoreTrainer(buildTrainer(classifierConfig, task), loadCheckpoint(dir));

test("an intact checkpoint resumes; any edit without the matching digest is caught by sha256.state", () => {
  const dir = classifierCheckpoint();
  assert.doesNotThrow(() => resume(dir));
  const edits: ((s: Record<string, any>) => void)[] = [
    (s) => (s.position.epoch = 7),
    (s) => (s.optimizerStep += 100),
    (s) => (s.config.optimizer.lr = 0.01),
    (s) => (s.seconds = 0),
    (s) => (s.deadLayers.warned[0] = true),
  ];
  for (const e of edits) {
    const d = classifierCheckpoint();
    const path = editState(d, e, false);
    assert.throws(
      () => resume(d),
      (err: Error) =>
        err.message.startsWith(`${path}: sha256.state: expected`) && /edited or is damaged/.test(err.message),
    );
  }
});

test("a checkpoint of an earlier egru (no state digest) is read for its weights but not resumed", () => {
  const dir = classifierCheckpoint();
  editState(dir, (s) => delete s.sha256.state, false);
  assert.throws(
    () => resume(dir),
    /state\.json: sha256\.state: expected the digest .* got none: the checkpoint was written by an earlier egru/,
  );
  assert.equal(loadCheckpoint(dir, false).state.position.step, 7);
});

test("edits with a matching digest are refused by field: schema, position, steps, sums", () => {
  const cases: [(s: Record<string, any>) => void, RegExp][] = [
    [(s) => (s.position = null), /: position: expected a valid checkpoint state/],
    [(s) => (s.position.batch = -3), /: position/],
    [(s) => (s.position.batch = 1.5), /: position/],
    [(s) => (s.position.batch = 1e9), /: position\.batch: expected at most 4 \(batches per epoch\), got 1000000000$/],
    [(s) => (s.position.epoch = 7), /: position\.epoch: expected at most 3 \(the run's epochs\), got 7$/],
    [(s) => (s.position.step = 9), /: position\.step: expected 7 \(epoch 1 × 4 batches \+ batch 3\), got 9$/],
    [(s) => (s.optimizerStep += 100), /: optimizerStep: expected 7 \(one optimizer step per training step\), got 107$/],
    [(s) => (s.sums.loss = null), /: sums: expected a valid checkpoint state/],
    [(s) => (s.sums.seen = 5), /: sums\.seen: expected 48 /],
    [(s) => (s.sums.correct = 49), /: sums\.correct: expected a count of at most 48/],
    [(s) => (s.rng = [0, 0, 0, 1.5]), /: rng/],
    [(s) => (s.seconds = -1), /: seconds/],
    [(s) => (s.extra = 1), /: \(the whole file\): expected a valid checkpoint state \(Unrecognized key: "extra"\)/],
  ];
  for (const [edit, re] of cases) {
    const dir = classifierCheckpoint();
    const path = editState(dir, edit, true);
    assert.throws(
      () => resume(dir),
      (e: Error) => e.message.startsWith(path) && re.test(e.message),
      `${edit}: ${re}`,
    );
  }
});

test("a language model's resume state: row within the streams, token sums, and the carried state's shapes", () => {
  const words = Array.from({ length: 400 }, (_, i) => `w${(i * 7) % 13}`).join(" ");
  const corpus = buildCorpus({ train: words, valid: words.slice(0, 200), test: words.slice(0, 200) });
  const c = parseConfig({
    task: "ptb",
    model: { cell: "lstm", hidden: 5, layers: 2 },
    lm: { embedding: 4, bptt: 5, randomBptt: false },
    batchSize: 3,
    epochs: 2,
  });
  const dir = tmp();
  const t = buildLmTrainer(c, corpus);
  const rows = t.rows; // (400 + 1 tokens with <eos>) / 3 streams
  t.run({ stop: (p) => p.step === 7 });
  assert.equal(t.position.epoch, 0);
  const kind = {
    lm: { bpttRng: t.bpttRng.getState(), hidden: t.hidden?.map((l) => l.map((a) => Array.from(a))) ?? null },
  };
  saveTrainer(dir, t, { config: c, seconds: 1, kind });
  const again = (): void => restoreTrainer(buildLmTrainer(c, corpus), loadCheckpoint(dir));
  assert.doesNotThrow(again);
  const cases: [(s: Record<string, any>) => void, RegExp][] = [
    [(s) => (s.position.row = rows + 5), new RegExp(`: position\\.row: expected at most ${rows - 1} `)],
    [(s) => (s.position.step = 40), /: position\.step: expected between 1 and 35 for epoch 0, row 35, got 40$/],
    [(s) => (s.sums.tokens = 1), /: sums\.tokens: expected 105 \(row 35 × 3 streams\), got 1$/],
    [
      (s) => s.lm.hidden[1].pop(),
      /: lm\.hidden: expected arrays of lengths \[\[15,15\],\[12,12\]\], got \[\[15,15\],\[12\]\]$/,
    ],
    [
      (s) => (s.lm.hidden[0][0][2] = "x"),
      /: lm\.hidden\.0\.0\.2: expected a valid checkpoint state \(.*expected number.*\), got "x"$/,
    ],
  ];
  for (const [edit, re] of cases) {
    const d = tmp();
    saveTrainer(d, t, { config: c, seconds: 1, kind });
    const path = editState(d, edit, true);
    assert.throws(
      () => restoreTrainer(buildLmTrainer(c, corpus), loadCheckpoint(d)),
      (e: Error) => e.message.startsWith(path) && re.test(e.message),
      `${re} (${(() => {
        try {
          restoreTrainer(buildLmTrainer(c, corpus), loadCheckpoint(d));
        } catch (e) {
          return (e as Error).message;
        }
      })()})`,
    );
  }
});

test("sealed safetensors: the data's sha256 in the header; a flipped data byte is named, unsealed files still read", () => {
  const tensors = { w: { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } };
  const sealed = sealSafetensors(tensors, { format: "x" });
  const { tensors: back, metadata } = decodeSafetensors(sealed, "f");
  assert.deepEqual(Array.from(back.w.data), [1, 2, 3, 4, 5, 6]);
  assert.match(metadata[DATA_DIGEST_KEY], /^[0-9a-f]{64}$/);
  assert.equal(metadata.format, "x");
  assert.doesNotThrow(() => checkSealed(sealed, "f"));
  const flipped = sealed.slice();
  flipped[flipped.length - 3] ^= 0x10;
  assert.throws(
    () => checkSealed(flipped, "best.safetensors"),
    /^ValueError: best\.safetensors: data_sha256: expected [0-9a-f]{64} \(recorded in the header\), got [0-9a-f]{64}: the weights were changed/,
  );
  assert.doesNotThrow(() => checkSealed(encodeSafetensors(tensors), "plain")); // no digest: the decoder's checks only
});

test("a run's best.safetensors is sealed: loadRunWeights names a flipped byte instead of loading other weights", () => {
  const dir = tmp();
  const t = buildTrainer(classifierConfig, task);
  const best = join(dir, "best.safetensors");
  writeFileSync(best, sealSafetensors(paramTensors(t.model), { format: "egru-model-1" }));
  assert.equal(loadRunWeights(t.model, dir), best);
  const bytes = readFileSync(best);
  bytes[bytes.length - 1] ^= 1;
  writeFileSync(best, bytes);
  assert.throws(() => loadRunWeights(t.model, dir), /best\.safetensors: data_sha256: expected/);
});
