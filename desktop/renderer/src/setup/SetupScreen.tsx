// The first run: the household names its grid (a pasted link or a file), optionally a neighbour's
// invite, and — when the system has no keychain — a passphrase; the main process makes the keys,
// joins the grid and starts the node.
import { useId, useState, type FormEvent, type ReactNode } from 'react'
import { checkGridLink, checkInvite, checkNewPassphrase, inWords, SetupInputError } from './checks.ts'
import { ErrorText, Progress, Screen } from './Screen.tsx'
import type { ChosenFile, DesktopApi, NodeState, SetupRequest } from './types.ts'

type Source = 'link' | 'file'

export function SetupScreen ({ api, keychain, onState }: { api: DesktopApi, keychain: boolean, onState: (state: NodeState) => void }): ReactNode {
  const id = useId()
  const [source, setSource] = useState<Source>('link')
  const [link, setLink] = useState('')
  const [file, setFile] = useState<ChosenFile | null>(null)
  const [invite, setInvite] = useState('')
  const [passphrase, setPassphrase] = useState('')
  const [confirmation, setConfirmation] = useState('')
  const [busy, setBusy] = useState<'choosing' | 'joining' | null>(null)
  const [error, setError] = useState('')

  async function chooseFile (): Promise<void> {
    setError('')
    setBusy('choosing')
    try {
      const chosen = await api.chooseGenesisFile()
      if (chosen !== null) setFile(chosen)
    } catch (err) {
      setError(inWords(err))
    } finally {
      setBusy(null)
    }
  }

  /** The request from the form, or a SetupInputError naming the field to fix. */
  function request (): SetupRequest {
    let genesis: SetupRequest['genesis']
    if (source === 'link') genesis = { kind: 'link', text: checkGridLink(link) }
    else if (file !== null) genesis = { kind: 'file', name: file.name, data: file.data }
    else throw new SetupInputError('Choose the grid\'s file first (or paste its link instead)')
    const checkedInvite = checkInvite(invite)
    return {
      genesis,
      ...(checkedInvite !== undefined ? { invite: checkedInvite } : {}),
      ...(!keychain ? { passphrase: checkNewPassphrase(passphrase, confirmation) } : {})
    }
  }

  async function join (event: FormEvent): Promise<void> {
    event.preventDefault()
    setError('')
    let checked: SetupRequest
    try {
      checked = request()
    } catch (err) {
      setError(inWords(err))
      return
    }
    setBusy('joining')
    try {
      const state = await api.setup(checked)
      setBusy(null)
      onState(state)
    } catch (err) {
      setBusy(null)
      setError(inWords(err))
    }
  }

  return (
    <Screen
      title={'Join your island\'s grid'}
      lead={'This computer is about to become part of your island\'s electricity grid. It takes a minute, once.'}
    >
      <ol className='setup-steps'>
        <li><strong>Your keys are made here.</strong> They stay on this computer and never leave it; they sign what you do on the grid.</li>
        <li><strong>Your node joins the grid.</strong> It finds its neighbours and copies the grid&apos;s ledger, then keeps it up to date.</li>
      </ol>
      <form className='setup-form' onSubmit={e => { void join(e) }} aria-busy={busy === 'joining'}>
        <fieldset disabled={busy !== null}>
          <legend>Your grid</legend>
          <div className='setup-switch' role='group' aria-label='How you give the grid'>
            <button type='button' aria-pressed={source === 'link'} onClick={() => { setSource('link'); setError('') }}>Paste its link</button>
            <button type='button' aria-pressed={source === 'file'} onClick={() => { setSource('file'); setError('') }}>Open its file</button>
          </div>
          {source === 'link'
            ? (
              <div className='setup-field'>
                <label htmlFor={`${id}-link`}>The grid&apos;s link</label>
                <textarea
                  id={`${id}-link`} aria-describedby={`${id}-link-hint`}
                  rows={3} value={link} spellCheck={false} autoComplete='off' placeholder={'microgrid:grid?id=…&genesis=…'}
                  onChange={e => { setLink(e.target.value) }}
                />
                <p id={`${id}-link-hint`} className='setup-hint'>Your utility or a neighbour gives it to you. It starts with <code>microgrid:grid?</code></p>
              </div>
              )
            : (
              <div className='setup-file'>
                <button type='button' className='secondary' onClick={() => { void chooseFile() }}>{file === null ? 'Choose the grid\'s file…' : 'Choose another file…'}</button>
                {file !== null
                  ? <span className='setup-chosen' aria-label='Chosen file'>{file.name}</span>
                  : <span className='setup-hint'>The file your utility gave you (a <code>.genesis</code> file, or a text file holding the link).</span>}
              </div>
              )}
        </fieldset>
        <fieldset disabled={busy !== null}>
          <legend>A neighbour&apos;s invite <span className='setup-optional'>(optional)</span></legend>
          <div className='setup-field'>
            <label htmlFor={`${id}-invite`}>Invite</label>
            <textarea
              id={`${id}-invite`} aria-describedby={`${id}-invite-hint`}
              rows={2} value={invite} spellCheck={false} autoComplete='off' placeholder='microgrid:invite?…'
              onChange={e => { setInvite(e.target.value) }}
            />
            <p id={`${id}-invite-hint`} className='setup-hint'>With an invite your node reaches the grid through that neighbour straight away. Without one it looks for neighbours on your local network.</p>
          </div>
        </fieldset>
        {!keychain && (
          <fieldset disabled={busy !== null}>
            <legend>A passphrase for your keys</legend>
            <p className='setup-hint'>This computer has no keychain that could keep your keys&apos; passphrase, so choose one. You will type it each time the app starts; nobody can open your keys without it, and it cannot be recovered.</p>
            <div className='setup-pair'>
              <label>Passphrase
                <input type='password' autoComplete='new-password' value={passphrase} onChange={e => { setPassphrase(e.target.value) }} />
              </label>
              <label>Type it again
                <input type='password' autoComplete='new-password' value={confirmation} onChange={e => { setConfirmation(e.target.value) }} />
              </label>
            </div>
          </fieldset>
        )}
        <ErrorText>{error}</ErrorText>
        {busy === 'joining'
          ? <Progress>Making your keys and joining…</Progress>
          : <div className='setup-actions'><button type='submit' disabled={busy !== null}>Join the grid</button></div>}
      </form>
    </Screen>
  )
}
