// Where the Python side lives: the package's python/ folder (same relative place from src/ and dist/)
// and its default virtual environment, created by `npm run setup:ltx`.
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The python/ folder holding the ltx_worker package (put on PYTHONPATH). */
export const PYTHON_DIR = fileURLToPath(new URL("../../../python/", import.meta.url));

/** The venv made by scripts/setup-ltx.sh. */
export const DEFAULT_VENV_DIR = path.join(PYTHON_DIR, ".venv");

/** The venv's interpreter, used unless LTX_PYTHON says otherwise. */
export const DEFAULT_PYTHON = path.join(DEFAULT_VENV_DIR, "bin", "python");

/** LTX_PYTHON as given (a bare name is looked up on PATH; a path is made absolute), else the venv's. */
export function pythonFor(configured: string | undefined): string {
  if (!configured) return DEFAULT_PYTHON;
  return configured.includes(path.sep) ? path.resolve(configured) : configured;
}
