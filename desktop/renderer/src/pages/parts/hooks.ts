// Small hooks the operator pages share: a ticking clock, a GET that refetches when asked, and the
// node's own keys by role.
import { useEffect, useState } from 'react'
import { apiGet } from '../../data/api.ts'
import { useStatus } from '../../data/hooks.tsx'
import type { Signer } from '../../data/types.ts'

/** The current time, re-read every `everyMs`. */
export function useNow (everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs)
    return () => clearInterval(timer)
  }, [everyMs])
  return now
}

export interface Fetched<T> { data: T | null, error: Error | null, loading: boolean }

/**
 * GET `path` from the node's API (nothing when `path` is null), again whenever `refresh` changes
 * (pass something from the replica that moves when the answer may have changed).
 */
export function useApiGet<T> (path: string | null, refresh: unknown = null): Fetched<T> {
  const [state, setState] = useState<Fetched<T>>({ data: null, error: null, loading: path !== null })
  useEffect(() => {
    if (path === null) { setState({ data: null, error: null, loading: false }); return }
    let live = true
    setState(s => ({ ...s, loading: true }))
    apiGet<T>(path).then(
      data => { if (live) setState({ data, error: null, loading: false }) },
      (error: Error) => { if (live) setState({ data: null, error, loading: false }) }
    )
    return () => { live = false }
  }, [path, refresh])
  return state
}

/** This node's keys with `role` (its own producer, utility, registrar…). */
export function useSigners (role: string): Signer[] {
  const status = useStatus()
  return (status?.signers ?? []).filter(s => s.roles.includes(role))
}
