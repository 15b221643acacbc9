import { useMemo } from 'react'
import { useAccounts, usePrices, useStatus } from '../../data/hooks.tsx'
import { shortId } from '../../data/format.ts'

const roleWords: Record<string, string> = {
  resident: 'Resident', utility: 'Utility', producer: 'Producer', consumer: 'Device', 'generation-meter': 'Generation meter', registrar: 'Registrar', oracle: 'Payment service'
}

/** A name for an account: its label, the node's key name for it, or its role and a short id. */
export function useAccountName (): (id: string) => string {
  const accounts = useAccounts()
  const prices = usePrices()
  const status = useStatus()
  return useMemo(() => {
    const names = new Map<string, string>()
    for (const s of status?.signers ?? []) names.set(s.account, `${s.name} (this node)`)
    for (const p of prices) if (p.label !== null) names.set(p.account, p.label)
    for (const a of accounts) {
      if (a.label !== null) names.set(a.id, a.label)
      else if (!names.has(a.id)) names.set(a.id, `${roleWords[a.role] ?? 'Account'} ${shortId(a.id)}`)
    }
    return (id: string) => names.get(id) ?? shortId(id)
  }, [accounts, prices, status])
}
