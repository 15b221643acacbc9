// The QR payload printed on a device's label: `microgrid:<account>?grid=<grid>` (GET /devices → qr).

export interface DeviceQr { account: string, grid: string }

const ACCOUNT = /^mg1[02-9ac-hj-np-z]{20,100}$/
const GRID = /^mgrid1[02-9ac-hj-np-z]{20,100}$/

/** Reads a device label's payload; throws a RangeError saying what is wrong, or if it is for another grid. */
export function parseDeviceQr (text: string, expectedGrid?: string): DeviceQr {
  const match = /^microgrid:([^?]+)\?grid=([^&]+)$/i.exec(text.trim())
  if (match === null) throw new RangeError('This QR code is not a Microgrid device label.')
  const account = match[1]!.toLowerCase()
  const grid = match[2]!.toLowerCase()
  if (!ACCOUNT.test(account)) throw new RangeError('This QR code names no valid device account.')
  if (!GRID.test(grid)) throw new RangeError('This QR code names no valid grid.')
  if (expectedGrid !== undefined && grid !== expectedGrid.toLowerCase()) {
    throw new RangeError('This device belongs to another grid, not the one this app is on.')
  }
  return { account, grid }
}

/** A device label's payload, as the node makes it: `microgrid:<account>?grid=<grid>`. */
export function deviceQr (account: string, grid: string): string {
  return `microgrid:${account}?grid=${grid}`
}
