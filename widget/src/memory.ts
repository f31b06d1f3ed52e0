// What the user pressed on each trace, its last vote and rating, remembered across page loads
// so that a reloaded page shows it: for the newest 200 traces, in localStorage.

const LIMIT = 200;

export interface Memory {
  /** [vote, rating] pressed on the trace, if any. */
  _recall(id: string): [number, number] | undefined;
  _keep(id: string, vote: number, rating: number): void;
}

export function memory(key: string): Memory {
  const name = "fl:v:" + key;
  let pressed: Map<string, [number, number]>;
  try {
    pressed = new Map(JSON.parse(localStorage.getItem(name)!));
  } catch {
    pressed = new Map(); // no storage, or not ours to read
  }
  return {
    _recall: (id) => pressed.get(id),
    _keep(id, vote, rating) {
      pressed.delete(id); // the newest last
      if (vote || rating) pressed.set(id, [vote, rating]);
      try {
        localStorage.setItem(name, JSON.stringify([...pressed].slice(-LIMIT)));
      } catch {}
    },
  };
}
