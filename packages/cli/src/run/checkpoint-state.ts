// state.json of a checkpoint, checked before a run resumes from it: the schema of every field, the
// integrity hash that covers the file (sha256.state, over the rest of it), and the checks against the
// run it resumes (position within the epochs and the data, the optimizer's step count, the epoch sums,
// the carried language-model state's shapes, the dead-layer watch's stretches and warnings, the
// configuration in config.json). An edited or damaged
// state.json stops the resume with an error naming the file and the field, before anything trains.

import { createHash } from "node:crypto";
import { ValueError } from "egru";
import { z } from "zod";
import { valueAt } from "../train/config.js";
import type { ResumeShape } from "../train/hooks.js";

export type { ResumeShape };

const whole = z.number().int().nonnegative();
const counted = z.number().int().min(1); // a training step or a layer, counted from 1
const finite = z.number().finite();
const rng = z.tuple([whole, whole, whole, whole]);

/** The fields of state.json (config is checked by parseConfig, and against config.json). */
export const StateSchema = z.strictObject({
  format: z.string(),
  config: z.unknown(),
  position: z.union([
    z.strictObject({ epoch: whole, batch: whole, step: whole }),
    z.strictObject({ epoch: whole, row: whole, step: whole }),
  ]),
  sums: z.union([
    z.strictObject({ loss: finite.nonnegative(), correct: whole, seen: whole }),
    z.strictObject({ loss: finite.nonnegative(), tokens: whole }),
  ]),
  rng,
  optimizerStep: whole,
  seconds: finite.nonnegative(),
  sha256: z.strictObject({ model: z.string(), optimizer: z.string(), state: z.string().optional() }),
  best: z
    .strictObject({
      epoch: finite.nonnegative(),
      accuracy: finite.min(0).max(1).optional(),
      perplexity: finite.min(1).optional(),
      step: whole.optional(),
    })
    .optional(),
  lm: z.strictObject({ bpttRng: rng, hidden: z.array(z.array(z.array(finite))).nullable() }).optional(),
  lastEpoch: z.record(z.string(), z.unknown()).optional(),
  watch: z.strictObject({ best: finite.nullable(), bestEpoch: whole, stale: whole, decays: whole }).optional(),
  deadLayers: z
    .strictObject({
      silentSince: z.array(counted.nullable()),
      warned: z.array(z.boolean()),
      warnings: z.array(
        z.strictObject({ step: counted, layer: counted, silentSince: counted, until: counted.nullable() }),
      ),
    })
    .optional(),
});

export type StateFields = z.infer<typeof StateSchema>;

/** The digest sha256.state records: of state.json's value without sha256.state itself. */
export function stateDigest(state: Record<string, unknown>): string {
  const { state: _, ...files } = (state.sha256 ?? {}) as Record<string, unknown>;
  return createHash("sha256")
    .update(JSON.stringify({ ...state, sha256: files }))
    .digest("hex");
}

/** Check state.json's value (parsed from `path`): its schema, then its digest. Returns it typed. */
export function checkStateFile(value: unknown, path: string, requireDigest = true): z.infer<typeof StateSchema> {
  const digests = (value as { sha256?: Record<string, unknown> } | null)?.sha256;
  const undigested = digests !== null && typeof digests === "object" && digests.state === undefined;
  if (undigested && requireDigest)
    throw new ValueError(
      `${path}: sha256.state`,
      "the digest of the state (recorded by this egru version)",
      "none: the checkpoint was written by an earlier egru, whose state cannot be checked; egru eval and report still read the run, a new run trains",
    );
  const r = StateSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue.path.map(String).join(".");
    const got = valueAt(value, issue.path);
    throw new ValueError(
      `${path}: ${field || "(the whole file)"}`,
      `a valid checkpoint state (${issue.message})`,
      got === undefined ? "nothing" : (JSON.stringify(got) ?? String(got)),
    );
  }
  const want = r.data.sha256.state;
  if (want === undefined) return r.data; // an earlier egru's checkpoint, read for its weights (eval), not resumed
  const have = stateDigest(value as Record<string, unknown>);
  if (want !== have)
    throw new ValueError(
      `${path}: sha256.state`,
      `${have} (the digest of the file's other fields)`,
      `${want}: the file was edited or is damaged; resume from an intact checkpoint or start a new run`,
    );
  return r.data;
}

/** Check a schema-valid state against the run it resumes; errors name `path` and the field. */
export function checkStateAgainstRun(s: z.infer<typeof StateSchema>, path: string, shape: ResumeShape): void {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new ValueError(`${path}: ${field}`, expected, JSON.stringify(got));
  };
  const p = s.position as Record<string, number>;
  if (p.epoch > shape.epochs) fail("position.epoch", `at most ${shape.epochs} (the run's epochs)`, p.epoch);
  if (shape.kind === "classifier") {
    if (!("batch" in p)) fail("position", "a classifier's position { epoch, batch, step }", p);
    if (p.batch > shape.batches) fail("position.batch", `at most ${shape.batches} (batches per epoch)`, p.batch);
    if (p.epoch === shape.epochs && p.batch > 0) fail("position.batch", "0 once every epoch has run", p.batch);
    const step = p.epoch * shape.batches + p.batch;
    if (p.step !== step)
      fail("position.step", `${step} (epoch ${p.epoch} × ${shape.batches} batches + batch ${p.batch})`, p.step);
    const sums = s.sums as Record<string, number>;
    const seen = Math.min(p.batch * shape.batchSize, shape.examples);
    if (sums.seen !== seen)
      fail("sums.seen", `${seen} (the examples of the epoch's first ${p.batch} batches)`, sums.seen);
    if (sums.correct === undefined || sums.correct > seen)
      fail("sums.correct", `a count of at most ${seen}`, sums.correct);
  } else {
    if (!("row" in p)) fail("position", "a language model's position { epoch, row, step }", p);
    const last = shape.rows - 1;
    if (p.row > last) fail("position.row", `at most ${last} (the last row of the training streams)`, p.row);
    if (p.epoch === shape.epochs && p.row > 0) fail("position.row", "0 once every epoch has run", p.row);
    // every step moves on at least one row, at most to the end of the epoch
    const least = p.epoch + (p.row > 0 ? 1 : 0);
    const most = p.epoch * last + p.row;
    if (p.step < least || p.step > most)
      fail("position.step", `between ${least} and ${most} for epoch ${p.epoch}, row ${p.row}`, p.step);
    const sums = s.sums as Record<string, number>;
    const tokens = p.row * shape.streams;
    if (sums.tokens !== tokens) fail("sums.tokens", `${tokens} (row ${p.row} × ${shape.streams} streams)`, sums.tokens);
    const hidden = s.lm?.hidden ?? null;
    if (hidden !== null) {
      const want = shape.zeroState;
      const dims = (h: { length: number }[][]): number[][] => h.map((l) => l.map((a) => a.length));
      if (p.row === 0) fail("lm.hidden", "null at an epoch's start (the state is reset)", "a state");
      if (JSON.stringify(dims(hidden)) !== JSON.stringify(dims(want)))
        fail("lm.hidden", `arrays of lengths ${JSON.stringify(dims(want))}`, dims(hidden));
    }
  }
  if (s.optimizerStep !== p.step)
    fail("optimizerStep", `${p.step} (one optimizer step per training step)`, s.optimizerStep);
  // (a language model validated at a time budget's end records a fractional epoch)
  if (s.best && s.best.epoch > p.epoch + 1) fail("best.epoch", `at most ${p.epoch + 1} (epochs run)`, s.best.epoch);
  if (s.watch && s.watch.bestEpoch > p.epoch)
    fail("watch.bestEpoch", `at most ${p.epoch} (epochs completed)`, s.watch.bestEpoch);
  if (s.deadLayers) checkDeadLayers(s.deadLayers, p.step, shape.layers, fail);
}

/** The dead-layer watch's state fits the run: one entry per layer, stretches and warnings within the steps trained. */
function checkDeadLayers(
  d: NonNullable<StateFields["deadLayers"]>,
  step: number,
  layers: number,
  fail: (field: string, expected: string, got: unknown) => never,
): void {
  for (const k of ["silentSince", "warned"] as const)
    if (d[k].length !== layers) fail(`deadLayers.${k}`, `one entry per layer (${layers})`, d[k]);
  d.silentSince.forEach((since, l) => {
    if (since !== null && since > step) fail(`deadLayers.silentSince.${l}`, `at most ${step} (steps trained)`, since);
    if (d.warned[l] && since === null) fail(`deadLayers.warned.${l}`, "false for a layer not silent now", true);
  });
  d.warnings.forEach((w, i) => {
    const at = `deadLayers.warnings.${i}`;
    if (w.layer > layers) fail(`${at}.layer`, `a layer from 1 to ${layers}`, w.layer);
    if (w.step > step) fail(`${at}.step`, `at most ${step} (steps trained)`, w.step);
    if (w.silentSince > w.step) fail(`${at}.silentSince`, `at most the warning's step ${w.step}`, w.silentSince);
    if (w.until !== null && (w.until < w.step || w.until > step))
      fail(`${at}.until`, `null or a step from ${w.step} to ${step}`, w.until);
    const l = w.layer - 1;
    if (w.until === null && !(d.warned[l] && d.silentSince[l] === w.silentSince))
      fail(`${at}.until`, `a step (layer ${w.layer} is not in that silent stretch now)`, null);
  });
}
