// React hooks over the replica: each re-renders when the Y.Doc changes (useSyncExternalStore on the
// replica's version) and returns the API shapes, the node's slim entries expanded (replica-entries.ts).
import { createContext, useContext, useMemo, useSyncExternalStore, type ReactNode } from 'react'
import type * as Y from 'yjs'
import { useNodeStarting } from './node-starting.tsx'
import type { ReplicaState, ReplicaView } from './replica.ts'
import { docFacts, expandAccount, expandDevice, expandReceipt, type StoredAccount, type StoredDevice, type StoredReceipt } from './replica-entries.ts'
import type { Account, Device, Fork, FrozenAccount, Price, Receipt, RecentOp, Status } from './types.ts'

const ReplicaContext = createContext<ReplicaView | null>(null)

export function ReplicaProvider ({ replica, children }: { replica: ReplicaView, children: ReactNode }): ReactNode {
  return <ReplicaContext.Provider value={replica}>{children}</ReplicaContext.Provider>
}

export function useReplica (): ReplicaView {
  const replica = useContext(ReplicaContext)
  if (replica === null) throw new Error('useReplica: no <ReplicaProvider> above this component')
  return replica
}

/** A value read from the doc, read again whenever the replica changes. */
function useDocValue<T> (read: (doc: Y.Doc, replica: ReplicaView) => T, key: unknown = null): T {
  const replica = useReplica()
  const version = useSyncExternalStore(replica.subscribe, replica.version)
  return useMemo(() => read(replica.doc, replica), [replica, replica.doc, version, key])
}

/**
 * A whole map's values, expanded and sorted, made once per doc version and shared by every component
 * that asks (the resident page lists the devices three times; a grid has 10,000 of them).
 */
const sorted = new WeakMap<ReplicaView, Map<string, { doc: Y.Doc, version: number, values: unknown[] }>>()
function sortedValues<S, T = S> (replica: ReplicaView, doc: Y.Doc, name: string, order: (a: T, b: T) => number,
  expand: (key: string, stored: S) => T = (_key, stored) => stored as unknown as T): T[] {
  let lists = sorted.get(replica)
  if (lists === undefined) sorted.set(replica, lists = new Map())
  const version = replica.version()
  const cached = lists.get(name)
  if (cached?.doc === doc && cached.version === version) return cached.values as T[]
  const values = Array.from(doc.getMap<S>(name).entries(), ([key, stored]) => expand(key, stored)).sort(order)
  lists.set(name, { doc, version, values })
  return values
}

/** Same order as String#localeCompare, without its per-call cost. */
const compare = new Intl.Collator().compare

const byLabel = (a: { label: string | null, id?: string }, b: { label: string | null, id?: string }): number =>
  compare(a.label ?? '', b.label ?? '') || compare(a.id ?? '', b.id ?? '')

export function useStatus (): Status | null {
  return useDocValue(doc => {
    const map = doc.getMap<unknown>('status')
    if (map.size === 0) return null
    return Object.fromEntries(map.entries()) as unknown as Status
  })
}

export function useAccounts (): Account[] {
  return useDocValue((doc, replica) => sortedValues<StoredAccount, Account>(replica, doc, 'accounts', (a, b) => compare(a.id, b.id), expandAccount))
}

export function useAccount (id: string | null | undefined): Account | null {
  return useDocValue(doc => {
    const stored = id == null ? undefined : doc.getMap<StoredAccount>('accounts').get(id)
    return stored === undefined ? null : expandAccount(id as string, stored)
  }, id)
}

export function useDevices (): Device[] {
  return useDocValue((doc, replica) => {
    const facts = docFacts(doc)
    return sortedValues<StoredDevice, Device>(replica, doc, 'devices', byLabel, (key, stored) => expandDevice(key, stored, facts))
  })
}

export function useDevice (id: string | null | undefined): Device | null {
  return useDocValue(doc => {
    const stored = id == null ? undefined : doc.getMap<StoredDevice>('devices').get(id)
    return stored === undefined ? null : expandDevice(id as string, stored, docFacts(doc))
  }, id)
}

export function usePrices (): Price[] {
  return useDocValue((doc, replica) => sortedValues<Price>(replica, doc, 'prices', (a, b) => byLabel(a, b) || compare(a.account, b.account)))
}

export function useReceipts (): Receipt[] {
  return useDocValue((doc, replica) => {
    const facts = docFacts(doc)
    return sortedValues<StoredReceipt, Receipt>(replica, doc, 'receipts', (a, b) => b.ts - a.ts, (_key, stored) => expandReceipt(stored, facts))
  })
}

/** Forks (fraud proofs) and the frozen accounts, as GET /forks gives them. */
export function useForks (): { forks: Fork[], frozen: FrozenAccount[] } {
  return useDocValue(doc => {
    const forks: Fork[] = []
    const frozen: FrozenAccount[] = []
    for (const value of doc.getMap<Fork | FrozenAccount>('forks').values()) {
      if ('ops' in value) forks.push(value)
      else frozen.push(value)
    }
    return { forks, frozen }
  })
}

/** The last ops the node decided, newest first. */
export function useRecent (): RecentOp[] {
  return useDocValue(doc => doc.getArray<RecentOp>('recent').toArray().reverse())
}

/** The replica channel's state, or `node-starting` while the desktop app's node starts. */
export type ConnectionState = ReplicaState | 'node-starting'

export interface ConnectionView {
  state: ConnectionState
  /** When this app last heard from its node (ms), or null. */
  lastUpdate: number | null
  /** What is shown may be out of date: anything but live. */
  behind: boolean
}

export function useConnection (): ConnectionView {
  const replica = useReplica()
  const status = useSyncExternalStore(replica.subscribe, replica.status)
  const nodeStarting = useNodeStarting()
  return useMemo(() => {
    // Once the node answers the replica (syncing, live) its word wins: the gate asks the node only
    // every half second.
    const unanswered = status.state === 'connecting' || status.state === 'offline'
    const state: ConnectionState = nodeStarting && unanswered ? 'node-starting' : status.state
    return { state, lastUpdate: status.lastUpdate, behind: state !== 'live' }
  }, [status, nodeStarting])
}
