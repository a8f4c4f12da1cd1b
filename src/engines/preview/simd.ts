// WebAssembly SIMD kernels for the preview engine's per-frame work: a horizontal bilinear pass of one
// source row (an i8x16.swizzle gathers the 8 neighbour pairs of 8 output pixels), a vertical pass that
// blends two filtered rows into output bytes, and a crossfade. The module is small enough to assemble
// here from its instructions, so there is no toolchain or binary blob; sampler.test.ts checks it
// against the plain TypeScript sampler. Falls back (returns undefined) where SIMD is unavailable.

// --- a tiny assembler for the handful of instructions used ----------------------------------------

const I32 = 0x7f;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, "utf8")];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

/** Instruction encoders (core and SIMD opcodes from the WebAssembly 2.0 specification). */
const ins = {
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  i32Load: (offset = 0) => [0x28, 2, ...uleb(offset)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Eqz: [0x45],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  end: [0x0b],
  simd: (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm],
};
const v128Load = (offset = 0) => ins.simd(0x00, 0, ...uleb(offset));
const v128Store = (offset = 0) => ins.simd(0x0b, 0, ...uleb(offset));
const i8x16Swizzle = ins.simd(0x0e);
const i16x8Splat = ins.simd(0x10);
const i8x16NarrowU = ins.simd(0x66);
const i16x8Q15MulrSat = ins.simd(0x82);
const i16x8ExtendLowU = ins.simd(0x89);
const i16x8ExtendHighU = ins.simd(0x8a);
const i16x8Shl = ins.simd(0x8b);
const i16x8ShrS = ins.simd(0x8c);
const i16x8Add = ins.simd(0x8e);
const i16x8Sub = ins.simd(0x91);
const i16x8Mul = ins.simd(0x95);

/** `local += step` for an i32 local. */
const bump = (local: number, step: number) => [...ins.get(local), ...ins.i32(step), ...ins.i32Add, ...ins.set(local)];

/** A counted loop over `count` (an i32 local, consumed): body runs while count > 0. */
const countedLoop = (count: number, body: number[]) => [
  ...ins.block,
  ...ins.get(count), ...ins.i32Eqz, ...ins.brIf(0),
  ...ins.loop,
  ...body,
  ...ins.get(count), ...ins.i32(1), ...ins.i32Sub, ...ins.tee(count), ...ins.brIf(0),
  ...ins.end,
  ...ins.end,
];

interface FuncDef {
  name: string;
  params: number[];
  locals: number[];
  body: number[];
}

/**
 * hrow(src, bases, masks, weights, out, groups): for each group of 8 output pixels,
 * gather pairs (a, b) from `src + bases[g]` with masks[g], and store a*128 + (b - a) * w as i16.
 */
const hrow: FuncDef = (() => {
  const [src, bases, masks, weights, out, groups, s, a] = [0, 1, 2, 3, 4, 5, 6, 7];
  return {
    name: "hrow",
    params: [I32, I32, I32, I32, I32, I32],
    locals: [V128, V128],
    body: countedLoop(groups, [
      ...ins.get(out),
      ...ins.get(src), ...ins.get(bases), ...ins.i32Load(), ...ins.i32Add, ...v128Load(),
      ...ins.get(masks), ...v128Load(),
      ...i8x16Swizzle, ...ins.tee(s),
      ...i16x8ExtendLowU, ...ins.tee(a),
      ...ins.i32(7), ...i16x8Shl,
      ...ins.get(s), ...i16x8ExtendHighU, ...ins.get(a), ...i16x8Sub,
      ...ins.get(weights), ...v128Load(), ...i16x8Mul,
      ...i16x8Add,
      ...v128Store(),
      ...bump(out, 16), ...bump(bases, 4), ...bump(masks, 16), ...bump(weights, 16),
    ]),
  };
})();

/** vrow(h0, h1, wy, out, n16): out = round((h0 + q15(h1 - h0, wy)) / 128) for 16 pixels per step. */
const vrow: FuncDef = (() => {
  const [h0, h1, wy, out, n16, wv, rnd, x] = [0, 1, 2, 3, 4, 5, 6, 7];
  const half = (offset: number) => [
    ...ins.get(h0), ...v128Load(offset), ...ins.tee(x),
    ...ins.get(h1), ...v128Load(offset), ...ins.get(x), ...i16x8Sub,
    ...ins.get(wv), ...i16x8Q15MulrSat, ...i16x8Add,
    ...ins.get(rnd), ...i16x8Add, ...ins.i32(7), ...i16x8ShrS,
  ];
  return {
    name: "vrow",
    params: [I32, I32, I32, I32, I32],
    locals: [V128, V128, V128],
    body: [
      ...ins.get(wy), ...i16x8Splat, ...ins.set(wv),
      ...ins.i32(64), ...i16x8Splat, ...ins.set(rnd),
      ...countedLoop(n16, [
        ...ins.get(out),
        ...half(0),
        ...half(16),
        ...i8x16NarrowU,
        ...v128Store(),
        ...bump(h0, 32), ...bump(h1, 32), ...bump(out, 16),
      ]),
    ],
  };
})();

/** blend(dst, other, n16, w): dst += q15(other - dst, w), 16 bytes per step. */
const blend: FuncDef = (() => {
  const [dst, other, n16, w, wv, a, b, lo] = [0, 1, 2, 3, 4, 5, 6, 7];
  const half = (extend: number[]) => [
    ...ins.get(a), ...extend, ...ins.tee(lo),
    ...ins.get(b), ...extend, ...ins.get(lo), ...i16x8Sub,
    ...ins.get(wv), ...i16x8Q15MulrSat, ...i16x8Add,
  ];
  return {
    name: "blend",
    params: [I32, I32, I32, I32],
    locals: [V128, V128, V128, V128],
    body: [
      ...ins.get(w), ...i16x8Splat, ...ins.set(wv),
      ...countedLoop(n16, [
        ...ins.get(dst),
        ...ins.get(dst), ...v128Load(), ...ins.set(a),
        ...ins.get(other), ...v128Load(), ...ins.set(b),
        ...half(i16x8ExtendLowU),
        ...half(i16x8ExtendHighU),
        ...i8x16NarrowU,
        ...v128Store(),
        ...bump(dst, 16), ...bump(other, 16),
      ]),
    ],
  };
})();

function assemble(funcs: FuncDef[]): Uint8Array<ArrayBuffer> {
  const types = section(1, vec(funcs.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec([])])));
  // The memory is imported so the caller sizes it once and keeps stable views into it.
  const imports = section(2, vec([[...name("env"), ...name("memory"), 0x02, 0x00, ...uleb(1)]]));
  const functions = section(3, vec(funcs.map((_, i) => uleb(i))));
  const exports = section(7, vec(funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)])));
  const code = section(
    10,
    vec(
      funcs.map((f) => {
        const locals = vec(f.locals.map((t) => [1, t]));
        const body = [...locals, ...f.body, ...ins.end];
        return [...uleb(body.length), ...body];
      }),
    ),
  );
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...types, ...imports, ...functions, ...exports, ...code]);
}

// --- the kernels as the sampler uses them --------------------------------------------------------

/** Bytes of slack after every block: kernels read and write whole 16-byte vectors past row ends. */
export const SIMD_SLACK = 64;

export interface SimdKernels {
  readonly memory: WebAssembly.Memory;
  /** A view of `bytes` fresh bytes in the kernels' memory (16-byte aligned, followed by slack). */
  alloc(bytes: number): Uint8Array;
  hrow(src: number, bases: number, masks: number, weights: number, out: number, groups: number): void;
  vrow(h0: number, h1: number, wy: number, out: number, n16: number): void;
  blend(dst: number, other: number, n16: number, w: number): void;
}

let compiled: WebAssembly.Module | null | undefined;

function moduleOnce(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      const bytes = assemble([hrow, vrow, blend]);
      compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/**
 * Instantiates the kernels over a fixed memory of at least `capacity` bytes (it never grows, so views
 * handed to the encoder's pipe stay valid). Undefined when this runtime has no WebAssembly SIMD.
 */
export function createSimdKernels(capacity: number): SimdKernels | undefined {
  const mod = moduleOnce();
  if (!mod) return undefined;
  const pages = Math.ceil((capacity + 1024) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const instance = new WebAssembly.Instance(mod, { env: { memory } });
  const exports = instance.exports as unknown as Pick<SimdKernels, "hrow" | "vrow" | "blend">;
  // Address 0 is left unused so that a zero pointer is never valid data.
  let next = 64;
  return {
    memory,
    alloc(bytes: number): Uint8Array {
      const start = (next + 15) & ~15;
      const end = start + bytes + SIMD_SLACK;
      if (end > memory.buffer.byteLength) throw new Error(`SIMD memory exhausted: need ${end} bytes, have ${memory.buffer.byteLength}`);
      next = end;
      return new Uint8Array(memory.buffer, start, bytes);
    },
    hrow: exports.hrow,
    vrow: exports.vrow,
    blend: exports.blend,
  };
}

/** Bytes `createSimdKernels` needs for blocks of these sizes (alignment and slack included). */
export function simdCapacity(blockSizes: number[]): number {
  return blockSizes.reduce((sum, b) => sum + ((b + 15) & ~15) + SIMD_SLACK + 16, 64);
}
