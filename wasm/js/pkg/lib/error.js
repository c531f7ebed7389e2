// The error the object forms throw (and the JSON forms describe as `{"error": {...}}`).
// One class for every entry point of the package; `instanceof VerdictError` also holds
// for an error thrown through another copy of the package (ES module and CommonJS, two
// flavors in one process): it checks the name and the code, not the prototype chain.

export class VerdictError extends Error {
  /**
   * @param {string} code  a stable code such as `invalid_policy`
   * @param {string} message
   * @param {object[]} [problems]  every problem of an invalid policy set
   */
  constructor(code, message, problems) {
    super(message);
    this.name = "VerdictError";
    this.code = code;
    if (problems !== undefined) this.problems = problems;
  }

  static [Symbol.hasInstance](value) {
    return value instanceof Error && value.name === "VerdictError" && typeof value.code === "string";
  }

  /** The fields of the CLI's `{"error": {...}}` document. */
  toJSON() {
    const out = { code: this.code, message: this.message };
    if (this.problems !== undefined) out.problems = this.problems;
    return out;
  }
}
