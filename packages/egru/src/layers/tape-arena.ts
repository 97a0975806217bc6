// A layer's training tapes in the kernels' own memory (WebAssembly memory, where they have one): the
// outputs and tape a training forward writes ([T, B, H] arrays: EGRU's y, h, o, tr, c, z, r, g, hr)
// are views into one block there, so the cell kernels write them, and backward reads them, in place
// instead of copying every step's [B, H] blocks in and out.
//
// Lifetime. Each layer owns an arena of blocks ("slots"). A training forward leases a slot; the
// result's release() hands it back, and the layer's next training forward reuses it (no fresh
// memory, no growth). A result that is never released keeps its slot until the views it handed
// out are all garbage-collected (a FinalizationRegistry hands the slot back then), and an arena
// whose layer is collected frees its slots; so nothing stays taken for good. Every slot of every
// arena counts against TAPE_ARENA_MAX_BYTES; above it, and where the kernels have no memory of their
// own (the TypeScript kernels), take() returns null and the layer uses ordinary pooled arrays as
// before. One block per slot, viewed after its allocation: no view outlives a growth of the memory
// (a shared memory's views never detach anyway; a plain memory's alloc() gives ordinary arrays).

import type { Kernels } from "../kernels/backend.js";

/** Bytes all arenas together may hold in the kernels' memory (256 MiB); beyond, tapes are ordinary arrays. */
export const TAPE_ARENA_MAX_BYTES = 256 * 1024 * 1024;

let capBytes = TAPE_ARENA_MAX_BYTES;
let heldBytes = 0;

/** Set the cap of all arenas (tests); returns the previous one. Slots already held stay. */
export function setTapeArenaCap(bytes: number): number {
  const previous = capBytes;
  capBytes = bytes;
  return previous;
}

/** Bytes all arenas hold now (tests and diagnostics). */
export function tapeArenaBytes(): number {
  return heldBytes;
}

/** One lease of a slot: its views still alive, and whether it was handed back. */
interface Lease {
  slot: Slot;
  live: number;
  done: boolean;
}

interface Slot {
  /** The arena's slots (this one among them). */
  all: Slot[];
  kernels: Kernels;
  block: Float32Array;
  lease: Lease | null;
  /** The arena is gone: free the block once the lease ends. */
  orphan: boolean;
}

function freeSlot(s: Slot): void {
  heldBytes -= s.block.byteLength;
  s.kernels.free?.(s.block);
}

/**
 * The lease ends: its slot is idle again, or freed where its arena is gone or already has an idle
 * slot of the same kind (one idle slot per shape is all the next forward can use).
 */
function endLease(lease: Lease): void {
  if (lease.done) return;
  lease.done = true;
  const s = lease.slot;
  if (s.lease !== lease) return;
  s.lease = null;
  if (s.orphan) freeSlot(s);
  else if (s.all.some((o) => o !== s && !o.lease && o.kernels === s.kernels && o.block.length === s.block.length)) {
    freeSlot(s);
    s.all.splice(s.all.indexOf(s), 1);
  }
}

// a view collected before its result's release(): when the last of a lease's views goes, the lease ends
const viewsGone = new FinalizationRegistry<Lease>((lease) => {
  if (--lease.live === 0) endLease(lease);
});

// an arena collected with its layer: free its idle slots, and the others when their leases end
const arenasGone = new FinalizationRegistry<Slot[]>((slots) => {
  for (const s of slots) {
    s.orphan = true;
    if (!s.lease) freeSlot(s);
  }
});

/** What take() hands out: `count` views of n floats each, and the hand-back. */
export interface TapeLease {
  arrays: Float32Array[];
  /** Hand the slot back (idempotent); the arrays must not be used afterwards. */
  release(): void;
}

export class TapeArena {
  private readonly slots: Slot[] = [];

  constructor() {
    arenasGone.register(this, this.slots);
  }

  /**
   * `count` float32 arrays of n elements each in the kernels' memory (old contents: the caller
   * overwrites them whole), or null where the kernels have no memory of their own or the cap is
   * reached (the caller then uses ordinary arrays).
   */
  take(kernels: Kernels, count: number, n: number): TapeLease | null {
    if (!kernels.alloc || n === 0) return null;
    const len = count * n;
    let slot = this.slots.find((s) => !s.lease && s.kernels === kernels && s.block.length === len);
    if (slot === undefined) {
      this.dropIdle();
      if (heldBytes + len * 4 > capBytes) return null;
      let block: Float32Array;
      try {
        block = kernels.alloc(len, false);
      } catch {
        return null; // the memory cannot grow that far: ordinary arrays
      }
      heldBytes += block.byteLength;
      slot = { all: this.slots, kernels, block, lease: null, orphan: false };
      this.slots.push(slot);
    }
    const lease: Lease = { slot, live: count, done: false };
    slot.lease = lease;
    // views made after the block's allocation (and no allocation after them)
    const block = slot.block;
    const arrays = Array.from({ length: count }, (_, i) => block.subarray(i * n, (i + 1) * n));
    for (const a of arrays) viewsGone.register(a, lease, lease);
    return {
      arrays,
      release: () => {
        viewsGone.unregister(lease);
        endLease(lease);
      },
    };
  }

  /** take() for a training forward; null (ordinary arrays) for any other. */
  takeForTraining(training: boolean, kernels: Kernels, count: number, n: number): TapeLease | null {
    return training ? this.take(kernels, count, n) : null;
  }

  /** Free the idle slots (their shape or kernels differ from what is wanted now). */
  private dropIdle(): void {
    for (let i = this.slots.length - 1; i >= 0; i--) {
      const s = this.slots[i];
      if (s.lease) continue;
      freeSlot(s);
      this.slots.splice(i, 1);
    }
  }
}

/**
 * A training forward's time-major input x [T·B·I] copied into the kernels' memory once, on a lease
 * of `arena`: the forward's and backward's products, event counts, finiteness scan and statistics
 * then read it in place, where each would copy an ordinary array in again (six copies of a DVS
 * batch per step). Null where there is nothing to gain or no room: not training, kernels without
 * memory of their own, x there already or not a float32 array of n values (the caller's checks then
 * see it as it is).
 */
export function stageInput(
  arena: TapeArena,
  training: boolean,
  kernels: Kernels,
  x: ArrayLike<number>,
  n: number,
): TapeLease | null {
  if (!training || !kernels.inMemory || !(x instanceof Float32Array) || x.length !== n || kernels.inMemory(x))
    return null;
  const lease = arena.take(kernels, 1, n);
  lease?.arrays[0].set(x);
  return lease;
}
