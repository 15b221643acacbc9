// The map's tile source: none by default (the map is a plan drawn from the devices' coordinates and
// works offline); a household or utility with a tile server it trusts sets its URL template here.
// Kept in this browser's storage, per origin. Only https sources: the UI's CSP allows images from https.

const KEY = 'microgrid.tiles'

/** The configured template (`https://…/{z}/{x}/{y}.png`), or undefined. */
export function tileSource (): string | undefined {
  try {
    return localStorage.getItem(KEY) ?? undefined
  } catch {
    return undefined
  }
}

/** Checks a tile URL template; throws a RangeError in words when it is not one. */
export function checkTileSource (text: string): string {
  const t = text.trim()
  let url: URL
  try {
    url = new URL(t.replace('{s}', 'a').replace('{z}', '0').replace('{x}', '0').replace('{y}', '0').replace('{r}', ''))
  } catch {
    throw new RangeError('That is not a web address.')
  }
  if (url.protocol !== 'https:') throw new RangeError('The tile address must start with https://.')
  if (!t.includes('{z}') || !t.includes('{x}') || !t.includes('{y}')) throw new RangeError('The tile address must hold {z}, {x} and {y}, e.g. https://tiles.example.org/{z}/{x}/{y}.png.')
  return t
}

export function setTileSource (template: string | null): void {
  if (template === null) localStorage.removeItem(KEY)
  else localStorage.setItem(KEY, checkTileSource(template))
}
