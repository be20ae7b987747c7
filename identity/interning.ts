// Interning for the online identity graph (identity/resolver.ts): strings (identifier values, message ids, profile
// ids) get dense ids through an open-addressing table in typed arrays, and typed arrays grow by doubling.

export type Typed = Int32Array | Uint8Array | Uint16Array | Float64Array

export const grow = <T extends Typed>(a: T, need: number): T => {
  if (need <= a.length) return a
  const b = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2))
  b.set(a)
  return b
}

/**
 * FNV-1a over the string's code units two at a time (half the multiplications), then murmur3's finaliser so that
 * similar strings spread over the table.
 */
export const hashOf = (s: string): number => {
  let h = 0x811c9dc5 ^ s.length
  const even = s.length & ~1
  for (let i = 0; i < even; i += 2) h = Math.imul(h ^ (s.charCodeAt(i) | s.charCodeAt(i + 1) << 16), 0x01000193)
  if (even !== s.length) h = Math.imul(h ^ s.charCodeAt(even), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/**
 * Dense ids of strings (an id indexes `keys`, an array its owner keeps): an open-addressing table of (hash, id) in two
 * typed arrays. Looking a string up, and adding it when absent, is one probe sequence that reads a stored string only
 * when its hash matches; an entry costs 16-32 bytes and no object (a Map entry costs more, and chains through the heap).
 */
export class StringIds {
  private ids = new Int32Array(1024)
  private hashes = new Int32Array(1024)
  size = 0

  /** The id of `key`, or -1 when absent. */
  get(key: string, keys: ReadonlyArray<string>): number {
    const h = hashOf(key)
    const mask = this.ids.length - 1
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const id = this.ids[i]! - 1
      if (id === -1) return -1
      if (this.hashes[i] === h && keys[id] === key) return id
    }
  }

  /** The id of `key`; when absent, `next` becomes its id (the caller then appends `key` to `keys`). */
  getOrAdd(key: string, keys: ReadonlyArray<string>, next: number): number {
    const h = hashOf(key)
    const mask = this.ids.length - 1
    let i = h & mask
    for (; ; i = (i + 1) & mask) {
      const id = this.ids[i]! - 1
      if (id === -1) break
      if (this.hashes[i] === h && keys[id] === key) return id
    }
    this.ids[i] = next + 1
    this.hashes[i] = h
    if (++this.size * 2 > this.ids.length) this.resize()
    return next
  }

  private resize(): void {
    const ids = this.ids
    const hashes = this.hashes
    this.ids = new Int32Array(ids.length * 2)
    this.hashes = new Int32Array(ids.length * 2)
    const mask = this.ids.length - 1
    for (let j = 0; j < ids.length; j++) {
      if (ids[j] === 0) continue
      let i = hashes[j]! & mask
      while (this.ids[i] !== 0) i = (i + 1) & mask
      this.ids[i] = ids[j]!
      this.hashes[i] = hashes[j]!
    }
  }
}
