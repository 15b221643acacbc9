// The renderer's copy of the preload contract (renderer/src/setup/types.ts) against the preload's own
// api.ts: the same functions, the same limits, and the form's checks accept what the main process
// accepts. The renderer's tsconfig does not reach src/preload, so it is loaded at run time.
import { describe, expect, it } from 'vitest'
import { checkGridLink, checkInvite, checkNewPassphrase, checkPassphrase, inWords } from '../renderer/src/setup/checks.ts'
import { DESKTOP_API_FUNCTIONS, LIMITS } from '../renderer/src/setup/types.ts'

interface PreloadContract {
  CHANNELS: Record<string, string>
  LIMITS: Record<string, number>
  parseSetupArguments: (args: readonly unknown[]) => unknown
  parseUnlockArguments: (args: readonly unknown[]) => string
}

const preload = await import(/* @vite-ignore */ new URL('../src/preload/api.ts', import.meta.url).href) as PreloadContract

const accepts = (check: () => unknown): boolean => { try { check(); return true } catch { return false } }

describe('the renderer\'s copy of the preload contract', () => {
  it('names the same functions as CHANNELS and the same LIMITS', () => {
    expect([...DESKTOP_API_FUNCTIONS].sort()).toEqual(Object.keys(preload.CHANNELS).sort())
    expect(LIMITS).toEqual(preload.LIMITS)
  })

  it('accepts a grid link exactly when the main process does', () => {
    const links = [
      'microgrid:grid?id=mgrid1x&genesis=AAAA', '  microgrid:grid?id=x \n', 'web+microgrid:grid?id=x', 'MICROGRID:GRID?id=x',
      'microgrid:invite?grid=x', 'https://example.org', '', '   ', 'microgrid:grid', `microgrid:grid?${'a'.repeat(LIMITS.linkChars)}`
    ]
    for (const text of links) {
      const main = accepts(() => preload.parseSetupArguments([{ genesis: { kind: 'link', text } }]))
      expect(accepts(() => checkGridLink(text)), JSON.stringify(text.slice(0, 40))).toBe(main)
    }
  })

  it('sends only invites and passphrases the main process accepts', () => {
    const genesis = { kind: 'link', text: 'microgrid:grid?id=x' }
    for (const text of ['microgrid:invite?grid=x&addr=y', '/ip4/192.0.2.1/tcp/4101/p2p/12D3KooWy', `microgrid:invite?${'a'.repeat(LIMITS.inviteChars)}`, 'hello']) {
      if (!accepts(() => checkInvite(text))) continue
      expect(accepts(() => preload.parseSetupArguments([{ genesis, invite: checkInvite(text) }])), text.slice(0, 40)).toBe(true)
    }
    for (const passphrase of ['1234567', '12345678', 'x'.repeat(LIMITS.passphraseMax), 'x'.repeat(LIMITS.passphraseMax + 1)]) {
      const main = accepts(() => preload.parseUnlockArguments([passphrase]))
      expect(accepts(() => checkPassphrase(passphrase)), `${passphrase.length} characters`).toBe(main)
      expect(accepts(() => checkNewPassphrase(passphrase, passphrase))).toBe(main)
    }
  })
})

describe('inWords', () => {
  it('drops Electron\'s wrapper and the error\'s class name, and starts with a capital', () => {
    expect(inWords(new Error('Error invoking remote method \'setup:join-grid\': HouseholdNodeError: the node is busy (starting): try the setup again in a moment')))
      .toBe('The node is busy (starting): try the setup again in a moment')
    expect(inWords(new Error('Error invoking remote method \'node:unlock\': Error: boom'))).toBe('Boom')
    expect(inWords('plain words')).toBe('Plain words')
    expect(inWords(new Error(''))).toBe('Something went wrong, with no message.')
  })
})
