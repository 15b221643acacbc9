// What the first-run and unlock forms check before they call the main process, and the main
// process's errors in words. The main process checks everything again (api.ts parse* functions).
import { LIMITS } from './types.ts'

const GRID_LINK = /^(?:web\+)?microgrid:grid\?/i
const INVITE_LINK = /^(?:web\+)?microgrid:invite\?/i

/** A form field the household filled in wrongly; nothing was sent. */
export class SetupInputError extends RangeError {
  override readonly name = 'SetupInputError'
}

export function checkGridLink (text: string): string {
  const link = text.trim()
  if (link === '') throw new SetupInputError('Paste your grid\'s link: it starts with microgrid:grid?')
  if (link.length > LIMITS.linkChars) throw new SetupInputError(`That link is too long (${link.length} characters; a grid link has at most ${LIMITS.linkChars})`)
  if (!GRID_LINK.test(link)) throw new SetupInputError('That is not a grid link: a grid link starts with microgrid:grid?')
  return link
}

/** A neighbour's invite, or undefined when the field is empty (it is optional). */
export function checkInvite (text: string): string | undefined {
  const invite = text.trim()
  if (invite === '') return undefined
  if (invite.length > LIMITS.inviteChars) throw new SetupInputError(`That invite is too long (${invite.length} characters; an invite has at most ${LIMITS.inviteChars})`)
  if (!INVITE_LINK.test(invite) && !invite.includes('/p2p/')) throw new SetupInputError('That is not an invite: a neighbour\'s invite starts with microgrid:invite?')
  return invite
}

export function checkPassphrase (passphrase: string): string {
  if (passphrase.length < LIMITS.passphraseMin) throw new SetupInputError(`A passphrase has at least ${LIMITS.passphraseMin} characters`)
  if (passphrase.length > LIMITS.passphraseMax) throw new SetupInputError(`A passphrase has at most ${LIMITS.passphraseMax} characters`)
  return passphrase
}

/** A new passphrase, typed twice. */
export function checkNewPassphrase (passphrase: string, confirmation: string): string {
  checkPassphrase(passphrase)
  if (passphrase !== confirmation) throw new SetupInputError('The two passphrases differ: type the same one in both fields')
  return passphrase
}

// Electron wraps a handler's error as "Error invoking remote method '<channel>': <Name>: <message>".
const IPC_WRAPPER = /^Error invoking remote method '[^']*': (?:[A-Za-z]*Error: )?/

/** An error from the main process (or a check above) as a sentence for the household. */
export function inWords (err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).replace(IPC_WRAPPER, '').trim()
  if (message === '') return 'Something went wrong, with no message.'
  return message.charAt(0).toUpperCase() + message.slice(1)
}
