// A pool of float32 arrays for the large per-step temporaries of training (tapes, outputs,
// weight-gradient temporaries). Fresh memory is expensive: the operating system maps it in page by
// page on first touch, which on the development machine costs about as much as the EGRU cell's
// whole forward (see docs/benchmarks.md). Arrays handed back with recycle() are reused, already
// mapped, by the next takeZeroed() of the same length.
//
// Only arrays that nothing else refers to may be recycled; the layers do it for their own
// temporaries, and for a forward's outputs and tape when the caller says it is done with them
// (EgruForwardResult.release()). Arrays never recycled are simply garbage-collected.

/** Bytes the pool may hold; beyond that, recycled arrays are left to the garbage collector. */
const MAX_POOLED_BYTES = 1 << 30;

const free = new Map<number, Float32Array[]>();
let pooledBytes = 0;

/** Arrays of this many elements or more go through the pool (small ones are cheap to allocate). */
export const POOL_MIN_LENGTH = 1 << 14;

/**
 * The arrays the pool made: only they are taken back. An array made elsewhere and recycled would
 * add one to the pool on every step that does so (a classifier's readout gradient once did: ~80 MiB
 * an epoch until the cap), so the pool stays the size of the working set.
 */
const born = new WeakSet<Float32Array>();

/** A zero-filled Float32Array of n elements, reused from the pool when one is there. */
export function takeZeroed(n: number): Float32Array {
  const list = n >= POOL_MIN_LENGTH ? free.get(n) : undefined;
  const a = list?.pop();
  if (!a) {
    const fresh = new Float32Array(n);
    if (n >= POOL_MIN_LENGTH) born.add(fresh);
    return fresh;
  }
  pooledBytes -= a.byteLength;
  return a.fill(0);
}

/** Hand arrays back for reuse. The caller must hold the only references to them. */
export function recycle(...arrays: (ArrayLike<number> | null | undefined)[]): void {
  for (const a of arrays) {
    if (!(a instanceof Float32Array) || a.length < POOL_MIN_LENGTH || !born.has(a)) continue;
    if (a.byteOffset !== 0 || a.buffer.byteLength !== a.byteLength || !(a.buffer instanceof ArrayBuffer)) continue;
    if (pooledBytes + a.byteLength > MAX_POOLED_BYTES) return;
    let list = free.get(a.length);
    if (!list) free.set(a.length, (list = []));
    if (list.includes(a)) continue;
    list.push(a);
    pooledBytes += a.byteLength;
  }
}

/** Bytes currently held by the pool (for tests and diagnostics). */
export function pooledByteCount(): number {
  return pooledBytes;
}

/** Drop everything the pool holds. */
export function clearPool(): void {
  free.clear();
  pooledBytes = 0;
}
