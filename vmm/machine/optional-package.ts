// The optional peer dependencies (binaryen, istanbul-lib-instrument) are loaded where the feature
// that needs them starts, never at import time: most commands run without them. A missing one is
// the user's to install, so it is a usage error that says what to install and where, not a stack
// trace from the module loader.

/** An optional peer dependency that a feature needs is not installed. */
export class MissingPackageError extends Error {
  /** vmm/error-class.ts reads this: nothing ran, the user has something to install. */
  readonly errorClass = "usage";

  constructor(
    readonly packageName: string,
    readonly neededFor: string,
  ) {
    super(
      `${neededFor} needs ${packageName}, an optional peer dependency of tmemvm that is not installed: npm install -g ${packageName} beside a global tmemvm, or npm install ${packageName} in your project`,
    );
  }
}

/** Whether `e` is the module loader saying `name` itself cannot be found (not one of its own imports). */
function isNotFound(e: unknown, name: string): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") return false;
  return new RegExp(`['"]${name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}['"]`).test((e as Error).message);
}

/**
 * The optional package `name`, loaded by `load` (an `import()` of it written out, so that a bundler
 * sees the name and bundles it); `neededFor` says what needs it, in the error if it is missing.
 */
export async function importOptional<T>(name: string, neededFor: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (isNotFound(e, name)) throw new MissingPackageError(name, neededFor);
    throw e;
  }
}
