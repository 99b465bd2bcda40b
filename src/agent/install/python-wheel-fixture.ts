import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Writes a wheel the way `pip wheel` would, with the zip module of python3 itself. */
const WHEEL_SCRIPT = String.raw`
import base64, hashlib, sys, zipfile
name, version, out = sys.argv[1:4]
dist = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": f"GREETING = 'hello from {name} {version}'\ndef main():\n    print(GREETING)\n",
    f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: ferry-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    f"{dist}/entry_points.txt": f"[console_scripts]\n{name}-hello = {name}:main\n",
}
record = []
with zipfile.ZipFile(out, "w") as wheel:
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
        wheel.writestr(path, data)
    record.append(f"{dist}/RECORD,,")
    wheel.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
`;

/**
 * Builds a tiny pure-Python wheel in `dir` (made if missing) (no package index, no setuptools):
 * package `name` with `GREETING` and a console script `<name>-hello` that prints it.
 * Answers the wheel's file name.
 *
 * @example
 *   await buildWheel(path.join(source, 'wheels'), 'ferrydep', '1.0'); // 'ferrydep-1.0-py3-none-any.whl'
 */
export async function buildWheel(dir: string, name: string, version: string): Promise<string> {
  const file = `${name}-${version}-py3-none-any.whl`;
  await mkdir(dir, { recursive: true });
  await run('python3', ['-c', WHEEL_SCRIPT, name, version, path.join(dir, file)]);
  return file;
}
