
// ------------------------------------------------------------- loading (web target only)

/** What `init` accepts: where to fetch the module, its bytes, or a compiled module. */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/** What `initSync` accepts: the module's bytes or a compiled module. */
export type SyncInitInput = BufferSource | WebAssembly.Module;

/** The instantiated module's exports (internal; use the functions above). */
export interface InitOutput {
  readonly memory: WebAssembly.Memory;
}

/**
 * Loads and instantiates the module; call (and await) it once before anything else.
 * Without an argument it fetches `verdict_wasm_bg.wasm` next to this file.
 */
export default function init(
  module_or_path?: { module_or_path: InitInput | Promise<InitInput> },
): Promise<InitOutput>;

/** Instantiates the module synchronously from its bytes or a compiled module. */
export function initSync(module: { module: SyncInitInput }): InitOutput;
