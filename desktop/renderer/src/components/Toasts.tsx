// Short messages after an action (done, or what went wrong in words), dismissed by the user or after a while.
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react'
import { ApiError } from '../data/api.ts'

export type ToastKind = 'success' | 'error' | 'info'
interface Toast { id: number, kind: ToastKind, text: string }

interface ToastApi { notify: (text: string, kind?: ToastKind) => void }

const ToastContext = createContext<ToastApi>({ notify: () => {} })

export function useToasts (): ToastApi { return useContext(ToastContext) }

/** An error as a sentence a resident can act on. */
export function errorText (err: unknown): string {
  if (err instanceof ApiError) {
    const known: Record<string, string> = {
      'insufficient-funds': 'Not enough units for that.',
      unreachable: 'The node does not answer. Is it running?',
      unauthorized: 'The node did not accept this app\'s token. Open the app again from the node\'s link.',
      'no-payments': 'This node has no payment service, so it cannot take payments.',
      'payment-unavailable': 'Payments cannot be taken right now; try again in a moment.',
      'no-price': 'That seller has no price set.',
      'payment-too-small': 'That amount is too small to buy any energy.',
      'unknown-device': 'That device is not registered on this grid.',
      frozen: 'This account is frozen because of a conflict in its history; the registrar must settle it first.',
      'signer-busy': 'The node is still finishing a previous action; try again in a moment.'
    }
    const lead = known[err.code]
    return lead === undefined ? err.message : `${lead} (${err.message})`
  }
  return err instanceof Error ? err.message : String(err)
}

export function ToastProvider ({ children, timeoutMs = 6000 }: { children: ReactNode, timeoutMs?: number }): ReactNode {
  const [toasts, setToasts] = useState<Toast[]>([])
  const next = useRef(0)
  const dismiss = useCallback((id: number) => { setToasts(list => list.filter(t => t.id !== id)) }, [])
  const notify = useCallback((text: string, kind: ToastKind = 'info') => {
    const id = ++next.current
    setToasts(list => [...list, { id, kind, text }])
    if (kind !== 'error') setTimeout(() => { dismiss(id) }, timeoutMs)
  }, [dismiss, timeoutMs])
  const api = useMemo(() => ({ notify }), [notify])
  return (
    <ToastContext.Provider value={api}>
      {children}
      <div className='toasts' aria-live='polite'>
        {toasts.map(t => (
          <div key={t.id} className={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
            <span>{t.text}</span>
            <button type='button' aria-label='Dismiss' onClick={() => { dismiss(t.id) }}>×</button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  )
}
