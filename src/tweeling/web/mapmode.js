// One thing at a time takes the map's clicks: drawing an intervention, drawing a comment's
// place, placing a turbine of a variant or choosing an address. Taking the map stops whoever
// had it; the building information opens only when nobody has it.
let current = null;

/** ``owner`` has a stop() method; whoever had the map before is stopped. */
export function takeMap(owner) {
  if (current && current !== owner) current.stop();
  current = owner;
}

export function releaseMap(owner) {
  if (current === owner) current = null;
}

export function hasMap(owner) {
  return current !== null && current === owner;
}

export function mapTaken() {
  return current !== null;
}
