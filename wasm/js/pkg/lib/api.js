// The package's public API over one instance of the wasm-bindgen glue (one flavor).
// It adds what the generated glue lacks: errors thrown as real `VerdictError`s, a clear
// error for use before `init()` or after `free()`, `toJSON` and `Symbol.dispose` on
// `PolicyEngine`. Every answer is the glue's own value, unchanged.

/**
 * @param {object} glue  the wasm-bindgen exports (web glue: with `default` = init and
 *   `initSync`; Node glue: already instantiated)
 * @param {typeof import("./error.js").VerdictError} VerdictError
 * @param {"small" | "fast"} flavor
 */
export function makeApi(glue, VerdictError, flavor) {
  const loads = typeof glue.default === "function";
  let ready = !loads;

  const adopt = (e) => {
    if (e instanceof Error && e.name === "VerdictError" && Object.getPrototypeOf(e) !== VerdictError.prototype) {
      const error = new VerdictError(e.code, e.message, e.problems);
      return error;
    }
    return e;
  };
  const check = () => {
    if (!ready) {
      throw new VerdictError(
        "not_initialized",
        "the engine is not loaded yet: `await init()` (or call `initSync({ module })`) once before using it",
      );
    }
  };
  const call = (f) =>
    function (...args) {
      check();
      try {
        return f(...args);
      } catch (e) {
        throw adopt(e);
      }
    };

  async function init(options) {
    if (loads && !ready) {
      await glue.default(options);
      ready = true;
    }
  }
  function initSync(options) {
    if (loads && !ready) {
      glue.initSync(options);
      ready = true;
    }
  }

  const freed = (what) =>
    new VerdictError("engine_freed", `PolicyEngine#${what}() was called after free(); create a new PolicyEngine`);

  class PolicyEngine {
    #engine;
    constructor(policySet, options) {
      check();
      try {
        this.#engine = new glue.PolicyEngine(policySet, options);
      } catch (e) {
        throw adopt(e);
      }
    }
    evaluate(sql, context) {
      if (this.#engine === null) throw freed("evaluate");
      try {
        return this.#engine.evaluate(sql, context);
      } catch (e) {
        throw adopt(e);
      }
    }
    evaluateJson(sql, contextJson) {
      if (this.#engine === null) throw freed("evaluateJson");
      return this.#engine.evaluateJson(sql, contextJson);
    }
    summary() {
      if (this.#engine === null) throw freed("summary");
      return this.#engine.summary();
    }
    /** Whether `free()` was called. */
    get freed() {
      return this.#engine === null;
    }
    /** Releases the engine's memory now; later calls throw `engine_freed`. Idempotent. */
    free() {
      if (this.#engine !== null) {
        this.#engine.free();
        this.#engine = null;
      }
    }
    /** `JSON.stringify(engine)`: what the engine holds, or that it was freed. */
    toJSON() {
      return this.#engine === null
        ? { PolicyEngine: { freed: true } }
        : { PolicyEngine: { flavor, ...this.#engine.summary() } };
    }
  }
  if (typeof Symbol.dispose === "symbol") {
    Object.defineProperty(PolicyEngine.prototype, Symbol.dispose, {
      value: function dispose() {
        this.free();
      },
      writable: true,
      configurable: true,
    });
  }

  return {
    init,
    initSync,
    evaluate: call(glue.evaluate),
    evaluateJson: call(glue.evaluateJson),
    validate: call(glue.validate),
    validateJson: call(glue.validateJson),
    runTests: call(glue.runTests),
    explainRow: call(glue.explainRow),
    whoSees: call(glue.whoSees),
    version: call(glue.version),
    PolicyEngine,
    VerdictError,
    flavor,
  };
}
