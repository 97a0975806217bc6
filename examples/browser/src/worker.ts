// The page's Web Worker: loads the shipped MNIST sample and trains a small
// EGRU sequence classifier on it (28 steps of one 28-pixel row), posting the loss and sparsity after
// every batch and yielding to the event loop between batches, evaluates the held-out digits (also with
// the weights made int8, saved and loaded back), then streams held-out digits through the trained
// layer one row at a time with its stepper, posting the events and the prediction.

import {
  type ClassifierModel,
  clipGradNorm,
  countParams,
  createModel,
  defaultKernels,
  loadModel,
  modelConfigOf,
  modelStateDict,
  Optimizer,
  quantize,
  Rng,
  SequenceClassifier,
  softmaxCrossEntropy,
  type EGRU,
} from "egru";
import { mnistBatch, type MnistSplit } from "../../../packages/cli/src/data/mnist.js";
import { DATA_FILE, type FromWorker, type RunSettings, type ToWorker } from "./protocol.js";

/** The parts of the worker's global scope used here. */
interface WorkerScope {
  location: { href: string };
  crossOriginIsolated?: boolean;
  onmessage: ((e: { data: ToWorker }) => void) | null;
  postMessage(message: FromWorker): void;
}
const scope = globalThis as unknown as WorkerScope;
const post = (m: FromWorker): void => scope.postMessage(m);

const T = 28,
  I = 28,
  CLASSES = 10,
  PIXELS = T * I;

/** Let the worker's event loop run (messages out, a pause request in) between batches. */
const yieldToLoop = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function loadData(): Promise<{ train: MnistSplit; test: MnistSplit }> {
  const res = await fetch(new URL(DATA_FILE, scope.location.href));
  if (!res.ok) throw new Error(`${DATA_FILE}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const head = new DataView(bytes.buffer);
  const nTrain = head.getUint32(0, true),
    nTest = head.getUint32(4, true);
  if (bytes.length !== 8 + (nTrain + nTest) * (1 + PIXELS))
    throw new Error(`${DATA_FILE}: ${bytes.length} bytes, not ${nTrain} + ${nTest} examples`);
  let at = 8;
  const take = (n: number): Uint8Array => bytes.subarray(at, (at += n));
  const trainLabels = take(nTrain),
    testLabels = take(nTest);
  const trainImages = take(nTrain * PIXELS),
    testImages = take(nTest * PIXELS);
  return {
    train: { images: trainImages, labels: trainLabels, count: nTrain },
    test: { images: testImages, labels: testLabels, count: nTest },
  };
}

function argmax(a: ArrayLike<number>): number {
  let k = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[k]) k = i;
  return k;
}

function softmax(logits: Float32Array): Float32Array {
  const m = Math.max(...logits);
  const p = logits.map((v) => Math.exp(v - m));
  const s = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / s);
}

async function run(settings: RunSettings): Promise<void> {
  // the library's default kernels: WebAssembly SIMD with no call (a Web Worker compiles synchronously)
  const kernels = defaultKernels();
  const { train, test } = await loadData();
  const model = new SequenceClassifier({
    cell: "egru",
    inputSize: I,
    hiddenSize: settings.hidden,
    layers: 1,
    classes: CLASSES,
    readout: "trace",
    seed: settings.seed,
  });
  model.placeIn(model.kernels); // weights and gradients in the kernels' memory, read in place (as fit() and egru train)
  const params = model.params();
  const optimizer = new Optimizer({ kind: "adam" });
  post({
    type: "ready",
    kernels: kernels.name,
    crossOriginIsolated: scope.crossOriginIsolated === true,
    train: train.count,
    test: test.count,
    params: countParams(params),
    settings,
  });

  const showRaster = (step: number): void => {
    const example = 0;
    model.eval();
    const one = mnistBatch(test, [example], "row");
    const r = model.forward(one.x, T, 1);
    const H = settings.hidden;
    const events = r.runs[0].out.slice(0, T * H); // B = 1: [T, 1, H] is [T, H]
    const predicted = argmax(r.logits);
    model.release(r);
    model.train();
    post({ type: "raster", step, example, label: one.labels[0], predicted, T, I, H, input: one.x, events });
  };

  // training: batches drawn from a reshuffled order each pass over the sample
  const B = settings.batch;
  const rng = new Rng(settings.seed + 1);
  let order = rng.permutation(train.count);
  let at = 0;
  model.train();
  for (let step = 1; step <= settings.steps; step++) {
    const t0 = performance.now();
    if (at + B > train.count) {
      order = rng.permutation(train.count);
      at = 0;
    }
    const { x, labels } = mnistBatch(train, order.subarray(at, at + B), "row");
    at += B;
    model.zeroGrad();
    const r = model.forward(x, T, B);
    const ce = softmaxCrossEntropy(r.logits, labels, CLASSES);
    model.backward(r, ce.dlogits);
    clipGradNorm(params, 1);
    optimizer.step(params, settings.lr);
    const layer = r.layers[0];
    model.release(r);
    post({
      type: "step",
      step,
      loss: ce.loss,
      accuracy: ce.correct / B,
      sparsity: layer.activitySparsity,
      backwardSparsity: layer.backwardSparsity,
      ms: performance.now() - t0,
    });
    if (step === 1 || step % settings.rasterEvery === 0 || step === settings.steps) showRaster(step);
    await yieldToLoop();
  }

  // the held-out digits, all at once
  model.eval();
  const all = mnistBatch(
    test,
    Int32Array.from({ length: test.count }, (_, i) => i),
    "row",
  );
  const evalRun = model.forward(all.x, T, test.count);
  const ev = softmaxCrossEntropy(evalRun.logits, all.labels, CLASSES);
  const forwardPredicted = Array.from({ length: test.count }, (_, n) =>
    argmax(evalRun.logits.subarray(n * CLASSES, (n + 1) * CLASSES)),
  );
  post({
    type: "evaluated",
    accuracy: ev.correct / test.count,
    loss: ev.loss,
    sparsity: evalRun.layers[0].activitySparsity,
    examples: test.count,
  });
  model.release(evalRun);

  // the same model with int8 weights, as a page would receive it: saved (int8 tensors) and loaded back
  const float32 = createModel(modelConfigOf(model), { kernels }) as ClassifierModel;
  float32.loadStateDict(modelStateDict(model));
  const saved = quantize(float32).save();
  const int8 = (loadModel(saved, { kernels }) as ClassifierModel).eval();
  const run8 = int8.forward(all.x, T, test.count); // x time-major [T, N, I]
  let correct8 = 0;
  let agreed8 = 0;
  for (let n = 0; n < test.count; n++) {
    const c = argmax(run8.logits.subarray(n * CLASSES, (n + 1) * CLASSES));
    if (c === all.labels[n]) correct8++;
    if (c === forwardPredicted[n]) agreed8++;
  }
  int8.release(run8);
  post({
    type: "int8",
    weightFormat: int8.weightFormat,
    accuracy: correct8 / test.count,
    agreed: agreed8,
    examples: test.count,
    bytes: saved.weights.length,
    float32Bytes: float32.save().weights.length,
  });

  // streaming: one digit at a time, one row per step, through the layer's stepper (batch of 1)
  const layer = model.cells[0].layer as EGRU;
  const H = settings.hidden;
  const stepper = layer.stepper(1);
  let correct = 0,
    agreed = 0;
  const n = Math.min(settings.stream, test.count);
  for (let index = 0; index < n; index++) {
    const example = index;
    const one = mnistBatch(test, [example], "row");
    stepper.reset();
    post({ type: "stream-start", index, example, label: one.labels[0], T, I, H, image: one.x.slice() });
    let predicted = -1,
      events = 0;
    for (let t = 0; t < T; t++) {
      const row = one.x.slice(t * I, (t + 1) * I);
      const y = stepper.step(row);
      for (let u = 0; u < H; u++) if (y[u] !== 0) events++;
      const probs = softmax(model.head.forward(stepper.state.tr, 1).y);
      predicted = argmax(probs);
      post({ type: "stream-step", index, t, row, events: y, probs, predicted });
      await yieldToLoop(settings.delay);
    }
    if (predicted === one.labels[0]) correct++;
    if (predicted === forwardPredicted[example]) agreed++;
    post({
      type: "stream-end",
      index,
      example,
      label: one.labels[0],
      predicted,
      forwardPredicted: forwardPredicted[example],
      events,
      macsExecuted: stepper.macs.executed,
      macsDense: stepper.macs.dense,
    });
    await yieldToLoop(settings.delay * 4);
  }
  stepper.dispose();
  post({ type: "done", streamed: n, correct, agreed });
}

scope.onmessage = (e) => {
  if (e.data.type !== "start") return;
  run(e.data.settings).catch((err: unknown) => {
    post({ type: "error", message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  });
};
