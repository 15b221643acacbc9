// Which of the node's signer accounts the resident page speaks for ("me").
import type { Signer } from '../../data/types.ts'

const CANNOT_FUND = new Set(['consumer', 'generation-meter', 'registrar', 'oracle'])
const KEY = 'microgrid.resident.me'

/** Signers that may fund devices and buy at retail: not a device, meter, registrar or oracle. */
export function residentSigners (signers: Signer[]): Signer[] {
  return signers.filter(s => !s.roles.some(r => CANNOT_FUND.has(r)))
}

/** The stored choice if still a fitting signer, else the one named `resident`, else the first resident. */
export function defaultMe (signers: Signer[], stored: string | null = localStorage.getItem(KEY)): Signer | null {
  const fit = residentSigners(signers)
  return fit.find(s => s.name === stored) ??
    fit.find(s => s.name === 'resident') ??
    fit.find(s => s.roles.includes('resident')) ??
    fit[0] ?? null
}

export function rememberMe (name: string): void { localStorage.setItem(KEY, name) }
