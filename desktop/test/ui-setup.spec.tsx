// @vitest-environment happy-dom
// The desktop app's screens before its node runs (renderer/src/setup), against a fake window.microgrid.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { App } from '../renderer/src/App.tsx'
import { NodeGate } from '../renderer/src/setup/NodeGate.tsx'
import { desktopApi, type ChosenFile, type DesktopApi, type NodeState, type SetupRequest } from '../renderer/src/setup/types.ts'
import { mockApi, renderWithReplica } from './ui-fixture.tsx'

const READY = { state: 'ready' as const, url: 'app://microgrid', token: 'tok', api: 'http://127.0.0.1:4100', grid: 'mgrid1xyz', peerId: '12D3KooWx' }
const LINK = 'microgrid:grid?id=mgrid1xyz&genesis=AAAA'
const INVITE = 'microgrid:invite?grid=mgrid1xyz&addr=%2Fip4%2F192.0.2.1%2Ftcp%2F4101%2Fp2p%2F12D3KooWy'

interface Fake {
  api: DesktopApi
  nodeState: ReturnType<typeof vi.fn<() => Promise<NodeState>>>
  setup: ReturnType<typeof vi.fn<(r: SetupRequest) => Promise<NodeState>>>
  unlock: ReturnType<typeof vi.fn<(p: string) => Promise<NodeState>>>
  chooseGenesisFile: ReturnType<typeof vi.fn<() => Promise<ChosenFile | null>>>
}

/** A fake preload API on window.microgrid: nodeState answers the given states in turn (the last one after). */
function fakeMicrogrid (...states: NodeState[]): Fake {
  let asked = 0
  const nodeState = vi.fn(async () => structuredClone(states[Math.min(asked++, states.length - 1)]!))
  const setup = vi.fn(async (_r: SetupRequest): Promise<NodeState> => READY)
  const unlock = vi.fn(async (_p: string): Promise<NodeState> => READY)
  const chooseGenesisFile = vi.fn(async (): Promise<ChosenFile | null> => null)
  const api: DesktopApi = {
    connection: async () => ({ url: READY.url, token: READY.token }),
    nodeState, setup, unlock, chooseGenesisFile,
    openExternal: async () => false
  }
  window.microgrid = api
  return { api: desktopApi()!, nodeState, setup, unlock, chooseGenesisFile }
}

function renderGate (fake: Fake): void {
  render(<NodeGate api={fake.api}><p>The app itself</p></NodeGate>)
}

const type = (label: string | RegExp, value: string): void => { fireEvent.change(screen.getByLabelText(label), { target: { value } }) }
const press = (name: string | RegExp): void => { fireEvent.click(screen.getByRole('button', { name })) }
const alertText = (): string => screen.getByRole('alert').textContent ?? ''

function deferred<T> (): { promise: Promise<T>, resolve: (v: T) => void, reject: (e: unknown) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

beforeEach(() => { delete window.microgrid })
afterEach(() => { cleanup(); vi.useRealTimers(); delete window.microgrid })

describe('first run', () => {
  it('joins by a pasted link and an invite, shows progress, then goes into the app', async () => {
    const fake = fakeMicrogrid({ state: 'setup-needed', keychain: true })
    const joining = deferred<NodeState>()
    fake.setup.mockReturnValueOnce(joining.promise)
    renderGate(fake)
    expect(await screen.findByRole('heading', { name: 'Join your island\'s grid' })).toBeTruthy()
    expect(document.body.textContent).toContain('They stay on this computer')
    expect(screen.queryByLabelText('Passphrase')).toBeNull()

    type('The grid\'s link', `  ${LINK}\n`)
    type('Invite', INVITE)
    press('Join the grid')
    expect((await screen.findByRole('status')).textContent).toBe('Making your keys and joining…')
    expect(screen.queryByRole('button', { name: 'Join the grid' })).toBeNull()
    expect(fake.setup).toHaveBeenCalledExactlyOnceWith({ genesis: { kind: 'link', text: LINK }, invite: INVITE })

    await act(async () => { joining.resolve(READY) })
    expect(screen.getByText('The app itself')).toBeTruthy()
  })

  it('joins by a chosen file, showing its name; a cancelled dialog changes nothing', async () => {
    const fake = fakeMicrogrid({ state: 'setup-needed', keychain: true })
    renderGate(fake)
    fireEvent.click(await screen.findByRole('button', { name: 'Open its file' }))
    press('Join the grid')
    expect(alertText()).toBe('Choose the grid\'s file first (or paste its link instead)')
    expect(fake.setup).not.toHaveBeenCalled()

    fake.chooseGenesisFile.mockResolvedValueOnce(null)
    press('Choose the grid\'s file…')
    await waitFor(() => { expect(fake.chooseGenesisFile).toHaveBeenCalledTimes(1) })
    expect(screen.queryByLabelText('Chosen file')).toBeNull()

    fake.chooseGenesisFile.mockResolvedValueOnce({ name: 'isla.genesis', data: 'AAECAw==' })
    press('Choose the grid\'s file…')
    expect((await screen.findByLabelText('Chosen file')).textContent).toBe('isla.genesis')
    expect(screen.getByRole('button', { name: 'Choose another file…' })).toBeTruthy()
    press('Join the grid')
    await screen.findByText('The app itself')
    expect(fake.setup).toHaveBeenCalledExactlyOnceWith({ genesis: { kind: 'file', name: 'isla.genesis', data: 'AAECAw==' } })
  })

  it('without a keychain asks for a passphrase twice and refuses a short or mismatched one before any call', async () => {
    const fake = fakeMicrogrid({ state: 'setup-needed', keychain: false })
    renderGate(fake)
    await screen.findByRole('heading', { name: 'Join your island\'s grid' })
    expect(document.body.textContent).toContain('This computer has no keychain')
    type('The grid\'s link', LINK)

    type('Passphrase', 'short')
    type('Type it again', 'short')
    press('Join the grid')
    expect(alertText()).toBe('A passphrase has at least 8 characters')

    type('Passphrase', 'solar panels on the roof')
    type('Type it again', 'solar panels on the roop')
    press('Join the grid')
    expect(alertText()).toBe('The two passphrases differ: type the same one in both fields')
    expect(fake.setup).not.toHaveBeenCalled()

    type('Type it again', 'solar panels on the roof')
    press('Join the grid')
    await screen.findByText('The app itself')
    expect(fake.setup).toHaveBeenCalledExactlyOnceWith({ genesis: { kind: 'link', text: LINK }, passphrase: 'solar panels on the roof' })
  })

  it('refuses what is not a grid link or an invite before any call', async () => {
    const fake = fakeMicrogrid({ state: 'setup-needed', keychain: true })
    renderGate(fake)
    await screen.findByRole('heading', { name: 'Join your island\'s grid' })
    press('Join the grid')
    expect(alertText()).toBe('Paste your grid\'s link: it starts with microgrid:grid?')
    type('The grid\'s link', 'https://example.org/grid')
    press('Join the grid')
    expect(alertText()).toBe('That is not a grid link: a grid link starts with microgrid:grid?')
    type('The grid\'s link', LINK)
    type('Invite', 'hello neighbour')
    press('Join the grid')
    expect(alertText()).toBe('That is not an invite: a neighbour\'s invite starts with microgrid:invite?')
    expect(fake.setup).not.toHaveBeenCalled()
  })

  it('shows the main process\'s error in words and lets the household try again', async () => {
    const fake = fakeMicrogrid({ state: 'setup-needed', keychain: true })
    fake.setup.mockRejectedValueOnce(new Error('Error invoking remote method \'setup:join-grid\': HouseholdNodeError: genesis: the link\'s genesis does not hash to the grid id'))
    renderGate(fake)
    await screen.findByRole('heading', { name: 'Join your island\'s grid' })
    type('The grid\'s link', LINK)
    press('Join the grid')
    expect((await screen.findByRole('alert')).textContent).toBe('Genesis: the link\'s genesis does not hash to the grid id')
    expect(screen.queryByText('The app itself')).toBeNull()
    expect((screen.getByRole('button', { name: 'Join the grid' }) as HTMLButtonElement).disabled).toBe(false)
    press('Join the grid')
    await screen.findByText('The app itself')
    expect(fake.setup).toHaveBeenCalledTimes(2)
  })

  it('goes to the unlock or failed screen when the setup ends there', async () => {
    const fake = fakeMicrogrid({ state: 'setup-needed', keychain: true })
    fake.setup.mockResolvedValueOnce({ state: 'failed', message: 'the node started without an API token in /data/config.json' })
    renderGate(fake)
    await screen.findByRole('heading', { name: 'Join your island\'s grid' })
    type('The grid\'s link', LINK)
    press('Join the grid')
    expect(await screen.findByRole('heading', { name: 'Your node could not start' })).toBeTruthy()
    expect(alertText()).toBe('The node started without an API token in /data/config.json')
  })
})

describe('unlock', () => {
  it('says a wrong passphrase did not unlock, then a right one goes into the app', async () => {
    const fake = fakeMicrogrid({ state: 'locked', keychain: false, reason: 'this system has no keychain' })
    fake.unlock.mockResolvedValueOnce({ state: 'locked', keychain: false, reason: 'wrong passphrase: give the passphrase the keys were made with' })
    renderGate(fake)
    expect(await screen.findByRole('heading', { name: 'Unlock your node' })).toBeTruthy()
    expect(document.body.textContent).toContain('Why it asks: this system has no keychain.')
    expect(document.body.textContent).toContain('the passphrase you chose when you joined the grid')

    type('Passphrase', 'seven77')
    press('Unlock')
    expect(alertText()).toBe('A passphrase has at least 8 characters')
    expect(fake.unlock).not.toHaveBeenCalled()

    type('Passphrase', 'not my passphrase')
    press('Unlock')
    const alert = await screen.findByText(/did not unlock your keys/)
    expect(alert.closest('[role=alert]')?.textContent).toContain('Wrong passphrase: give the passphrase the keys were made with')
    expect((screen.getByLabelText('Passphrase') as HTMLInputElement).value).toBe('')
    expect(document.body.textContent).toContain('Why it asks: this system has no keychain.')

    type('Passphrase', 'solar panels on the roof')
    press('Unlock')
    await screen.findByText('The app itself')
    expect(fake.unlock.mock.calls).toEqual([['not my passphrase'], ['solar panels on the roof']])
  })

  it('with a keychain that could not give the passphrase, says so', async () => {
    const fake = fakeMicrogrid({ state: 'locked', keychain: true, reason: 'the keychain holds no passphrase for these keys' })
    renderGate(fake)
    expect(await screen.findByRole('heading', { name: 'Unlock your node' })).toBeTruthy()
    expect(document.body.textContent).toContain('the app could not get it from there')
    expect(document.body.textContent).toContain('Why it asks: the keychain holds no passphrase for these keys.')
  })
})

describe('starting and failed', () => {
  it('polls a starting node every 500 ms and goes into the app when it is ready', async () => {
    vi.useFakeTimers()
    const api = mockApi()
    try {
      const fake = fakeMicrogrid({ state: 'starting' }, { state: 'starting' }, READY)
      renderWithReplica(<NodeGate api={fake.api}><App /></NodeGate>)
      await act(async () => { await vi.advanceTimersByTimeAsync(0) })
      expect(screen.getByRole('heading', { name: 'Starting your node…' })).toBeTruthy()
      expect(fake.nodeState).toHaveBeenCalledTimes(1)
      await act(async () => { await vi.advanceTimersByTimeAsync(499) })
      expect(fake.nodeState).toHaveBeenCalledTimes(1)
      await act(async () => { await vi.advanceTimersByTimeAsync(1) })
      expect(fake.nodeState).toHaveBeenCalledTimes(2)
      expect(screen.getByRole('heading', { name: 'Starting your node…' })).toBeTruthy()
      await act(async () => { await vi.advanceTimersByTimeAsync(500) })
      expect(fake.nodeState).toHaveBeenCalledTimes(3)
      expect(within(screen.getByRole('navigation', { name: 'Pages' })).getByRole('link', { name: 'My account' })).toBeTruthy()
      await act(async () => { await vi.advanceTimersByTimeAsync(2000) })
      expect(fake.nodeState).toHaveBeenCalledTimes(3)
    } finally { api.restore() }
  })

  it('shows a failure in words and asks again on retry', async () => {
    const fake = fakeMicrogrid({ state: 'failed', message: 'the node was stopped' }, READY)
    renderGate(fake)
    expect(await screen.findByRole('heading', { name: 'Your node could not start' })).toBeTruthy()
    expect(alertText()).toBe('The node was stopped')
    press('Try again')
    await screen.findByText('The app itself')
    expect(fake.nodeState).toHaveBeenCalledTimes(2)
  })

  it('shows a nodeState that rejects as a failure', async () => {
    const fake = fakeMicrogrid(READY)
    fake.nodeState.mockRejectedValueOnce(new Error('Error invoking remote method \'node:state\': IpcSenderError: refused'))
    renderGate(fake)
    expect(await screen.findByRole('heading', { name: 'Your node could not start' })).toBeTruthy()
    expect(alertText()).toBe('Refused')
    press('Try again')
    await screen.findByText('The app itself')
  })
})
