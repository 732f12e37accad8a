/** Byte helpers shared by the encoders of `kv/` and `transport/`. */
export { SlabAllocator } from "./slab.ts";
