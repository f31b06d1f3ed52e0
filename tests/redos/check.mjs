// Reads [{"source", "flags"}, ...] as JSON on stdin; prints recheck's verdict on each, as JSON.
// The automaton checker analyses the pattern itself (no fuzzing), so "safe" is a proof for the
// features it models; it runs the native binary the package ships.
import { checkSync } from "recheck";

const patterns = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));
const results = patterns.map(({ source, flags }) => {
  const result = checkSync(source, flags, { checker: "automaton", timeout: 60000 });
  return {
    source,
    flags,
    status: result.status,
    checker: result.checker,
    complexity: result.complexity ?? null,
    attack: result.attack ? result.attack.pattern : null,
    error: result.error ? String(result.error.kind ?? result.error) : null,
  };
});
process.stdout.write(JSON.stringify(results));
