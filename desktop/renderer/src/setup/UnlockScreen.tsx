// A node whose keys need their passphrase (no keychain, or the kept one did not open them).
import { useRef, useState, type FormEvent, type ReactNode } from 'react'
import { checkPassphrase, inWords } from './checks.ts'
import { ErrorText, Progress, Screen } from './Screen.tsx'
import type { DesktopApi, NodeState } from './types.ts'

const LEAD_NO_KEYCHAIN = 'Your keys are kept on this computer, locked with the passphrase you chose when you joined the grid. Type it to start your node.'
// With a keychain the app chose the passphrase itself and kept it there; it could not read it back.
const LEAD_KEYCHAIN = 'Your keys are kept on this computer, locked with a passphrase this computer\'s keychain normally keeps for you — but the app could not get it from there. If you chose the passphrase yourself, type it to start your node.'

export function UnlockScreen ({ api, keychain, reason, onState }: { api: DesktopApi, keychain: boolean, reason: string, onState: (state: NodeState) => void }): ReactNode {
  const [passphrase, setPassphrase] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<{ words: string, detail?: string } | null>(null)
  const field = useRef<HTMLInputElement>(null)
  // Why the app asked at first; a wrong passphrase's reason shows with the error instead.
  const [why] = useState(reason.replace(/\.$/, ''))

  async function unlock (event: FormEvent): Promise<void> {
    event.preventDefault()
    setError(null)
    try {
      checkPassphrase(passphrase)
    } catch (err) {
      setError({ words: inWords(err) })
      return
    }
    setBusy(true)
    let state: NodeState
    try {
      state = await api.unlock(passphrase)
    } catch (err) {
      setBusy(false)
      setError({ words: inWords(err) })
      return
    }
    setBusy(false)
    if (state.state === 'locked') {
      // Still locked: the passphrase did not open the keys. Try again from an empty field.
      setPassphrase('')
      setError({ words: 'That passphrase did not unlock your keys. Check it and try again.', detail: inWords(state.reason) })
      field.current?.focus()
    }
    onState(state)
  }

  return (
    <Screen title='Unlock your node' lead={keychain ? LEAD_KEYCHAIN : LEAD_NO_KEYCHAIN}>
      <p className='setup-hint'>Why it asks: {why}.</p>
      <form className='setup-form' onSubmit={e => { void unlock(e) }} aria-busy={busy}>
        <fieldset disabled={busy}>
          <label>Passphrase
            <input ref={field} type='password' autoComplete='current-password' autoFocus value={passphrase} onChange={e => { setPassphrase(e.target.value) }} />
          </label>
        </fieldset>
        {error !== null && (
          <ErrorText>
            {error.words}
            {error.detail !== undefined && <span className='setup-detail'>{error.detail}</span>}
          </ErrorText>
        )}
        {busy
          ? <Progress>Unlocking your keys and starting your node…</Progress>
          : <div className='setup-actions'><button type='submit'>Unlock</button></div>}
      </form>
    </Screen>
  )
}
