// The shared linear memory and its allocator. The host owns every byte above
// the module's static data: model blocks, batch buffers, scratch. First-fit
// over an address-ordered free list, with coalescing on free and growth of the
// memory when nothing fits.
import { ALIGN } from "../kernel/layout.js";
import { errors } from "../base/errors.js";

const PAGE = 65536;

interface FreeBlock {
  start: number;
  size: number;
}

export class SharedArena {
  readonly memory: WebAssembly.Memory;
  private readonly maxBytes: number;
  private readonly free: FreeBlock[] = [];
  private readonly used = new Map<number, number>();
  // Typed views of the whole memory. Only grow() changes the memory's size, so
  // it alone renews them (reading memory.buffer on every call costs ~100 ns).
  private views: { u8: Uint8Array; f32: Float32Array; f64: Float64Array; dv: DataView };
  /** Every buffer object the memory has had: growth gives a new one over the same bytes. */
  private readonly buffers = new Set<ArrayBufferLike>();

  /** Manages `memory` from `base` (the module's heap_base) up to `maximumPages`. */
  constructor(memory: WebAssembly.Memory, options: { maximumPages: number; base: number }) {
    this.memory = memory;
    this.views = viewsOf(memory.buffer);
    this.buffers.add(memory.buffer);
    this.maxBytes = options.maximumPages * PAGE;
    const start = alignUp(options.base);
    this.free.push({ start, size: this.memory.buffer.byteLength - start });
  }

  get u8(): Uint8Array {
    return this.views.u8;
  }
  get f32(): Float32Array {
    return this.views.f32;
  }
  get f64(): Float64Array {
    return this.views.f64;
  }
  get view(): DataView {
    return this.views.dv;
  }

  /** The memory limit in bytes. */
  get limitBytes(): number {
    return this.maxBytes;
  }

  /** True if `buffer` is this memory (under any of the buffer objects it has had). */
  owns(buffer: ArrayBufferLike): boolean {
    return this.buffers.has(buffer);
  }

  get byteLength(): number {
    return this.views.u8.byteLength;
  }

  /** Bytes handed out and not yet released. */
  get allocatedBytes(): number {
    let total = 0;
    for (const size of this.used.values()) total += size;
    return total;
  }

  /** A block of at least `bytes`, ALIGN-aligned; grows the memory if needed. Zeroed unless `zero` is false. */
  alloc(bytes: number, zero = true): number {
    const size = alignUp(Math.max(bytes, 1));
    let index = this.free.findIndex((b) => b.size >= size);
    if (index < 0) {
      this.grow(size);
      index = this.free.findIndex((b) => b.size >= size);
      if (index < 0) throw errors.memory(size, this.maxBytes);
    }
    const block = this.free[index]!;
    const start = block.start;
    if (block.size === size) this.free.splice(index, 1);
    else {
      block.start += size;
      block.size -= size;
    }
    this.used.set(start, size);
    if (zero) this.u8.fill(0, start, start + size);
    return start;
  }

  release(ptr: number): void {
    const size = this.used.get(ptr);
    if (size === undefined) return;
    this.used.delete(ptr);
    this.insertFree(ptr, size);
  }

  private insertFree(start: number, size: number): void {
    let i = 0;
    while (i < this.free.length && this.free[i]!.start < start) i++;
    this.free.splice(i, 0, { start, size });
    // coalesce with the next block, then with the previous one
    const next = this.free[i + 1];
    if (next && start + size === next.start) {
      this.free[i]!.size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.start + prev.size === start) {
      prev.size += this.free[i]!.size;
      this.free.splice(i, 1);
    }
  }

  private grow(size: number): void {
    const oldBytes = this.byteLength;
    // a free block at the very end of memory counts towards the request
    const last = this.free[this.free.length - 1];
    const tail = last && last.start + last.size === oldBytes ? last.size : 0;
    const needed = size - tail;
    const room = this.maxBytes - oldBytes;
    if (needed > room) throw errors.memory(size, this.maxBytes);
    // grow by at least half the current size, so many small allocations grow rarely
    const bytes = Math.min(room, Math.max(needed, oldBytes >>> 1));
    try {
      this.memory.grow(Math.ceil(bytes / PAGE));
    } catch (cause) {
      throw errors.memory(size, this.maxBytes, cause);
    }
    this.views = viewsOf(this.memory.buffer);
    this.buffers.add(this.memory.buffer);
    this.insertFree(oldBytes, this.byteLength - oldBytes);
  }
}

function viewsOf(buffer: ArrayBufferLike): SharedArena["views"] {
  return { u8: new Uint8Array(buffer), f32: new Float32Array(buffer), f64: new Float64Array(buffer), dv: new DataView(buffer) };
}

function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
