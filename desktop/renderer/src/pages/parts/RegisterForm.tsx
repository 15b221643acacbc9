// The registrar's form: register a producer (with its generation meter), a consumer device or a
// utility (POST /actions/register).
import { useState, type FormEvent, type ReactNode } from 'react'
import { apiPost } from '../../data/api.ts'
import type { DeviceCategory, OpResult } from '../../data/types.ts'
import { categoryName } from '../../labels/index.ts'
import { ErrorNote } from './ui.tsx'

type Role = 'producer' | 'consumer' | 'utility'
const categories: DeviceCategory[] = ['household', 'street-light', 'stadium', 'public', 'business', 'other']
const ACCOUNT = /^mg1[02-9ac-hj-np-z]{20,}$/i

/** The request body for the chosen role, or a RangeError naming the field to fix. */
export function registerBody (role: Role, fields: Record<string, string>, signer: string | null): Record<string, unknown> {
  const text = (name: string): string => (fields[name] ?? '').trim()
  const account = (name: string, what: string): string => {
    if (!ACCOUNT.test(text(name))) throw new RangeError(`${what}: enter an account id starting with mg1`)
    return text(name)
  }
  const label = text('label')
  if (label === '') throw new RangeError('Name: enter a name people will recognise')
  const body: Record<string, unknown> = { role }
  if (role === 'producer') {
    body.account = account('account', 'Producer account')
    body.meter = account('meter', 'Generation meter')
    if (body.meter === body.account) throw new RangeError('Generation meter: must differ from the producer account')
    const kw = Number(text('capacityKw'))
    if (!(kw > 0) || !Number.isFinite(kw)) throw new RangeError('Panel size: enter the capacity in kW, more than 0')
    body.capacityW = Math.round(kw * 1000)
  } else if (role === 'consumer') {
    body.meter = account('meter', 'Device meter')
    body.category = text('category') === '' ? 'household' : text('category')
    const lat = text('lat')
    const lon = text('lon')
    if (lat === '' && lon === '') body.position = null
    else {
      const position = [Number(lat), Number(lon)]
      if (lat === '' || lon === '' || position.some(n => !Number.isFinite(n)) || Math.abs(position[0]!) > 90 || Math.abs(position[1]!) > 180) {
        throw new RangeError('Position: enter both latitude (−90 to 90) and longitude (−180 to 180), or neither')
      }
      body.position = position
    }
  } else {
    body.account = account('account', 'Utility account')
  }
  body.label = label
  if (signer !== null) body.as = signer
  return body
}

export function RegisterForm ({ signer }: { signer: string | null }): ReactNode {
  const [role, setRole] = useState<Role>('consumer')
  const [fields, setFields] = useState<Record<string, string>>({ category: 'household' })
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [done, setDone] = useState<string | null>(null)
  const field = (name: string, label: string, placeholder = ''): ReactNode => (
    <label>{label}
      <input type='text' value={fields[name] ?? ''} placeholder={placeholder} onChange={e => setFields(f => ({ ...f, [name]: e.target.value }))} />
    </label>
  )

  async function register (event: FormEvent): Promise<void> {
    event.preventDefault()
    setError(null); setDone(null)
    let body: Record<string, unknown>
    try { body = registerBody(role, fields, signer) } catch (err) { setError(err); return }
    setBusy(true)
    try {
      await apiPost<OpResult>('/actions/register', body)
      setDone(`${String(body.label)} is registered.`)
      setFields({ category: 'household' })
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form className='form' onSubmit={e => { void register(e) }}>
      <label>Register a
        <select value={role} onChange={e => { setRole(e.target.value as Role); setError(null) }}>
          <option value='consumer'>Device (a household, a street light, a stadium…)</option>
          <option value='producer'>Producer (with its generation meter)</option>
          <option value='utility'>Utility</option>
        </select>
      </label>
      {field('label', 'Name', role === 'consumer' ? 'Plaza lamp' : role === 'producer' ? 'Rooftop 3' : 'Co-op')}
      {role !== 'consumer' && field('account', role === 'producer' ? 'Producer account' : 'Utility account', 'mg1…')}
      {role === 'producer' && field('meter', 'Generation meter', 'mg1…')}
      {role === 'producer' && field('capacityKw', 'Panel size (kW)', '5')}
      {role === 'consumer' && field('meter', 'Device meter', 'mg1…')}
      {role === 'consumer' && (
        <label>Kind of device
          <select value={fields.category ?? 'household'} onChange={e => setFields(f => ({ ...f, category: e.target.value }))}>
            {categories.map(c => <option key={c} value={c}>{categoryName(c)}</option>)}
          </select>
        </label>
      )}
      {role === 'consumer' && <div className='row'>{field('lat', 'Latitude', '18.4655')}{field('lon', 'Longitude', '-66.1057')}</div>}
      <button type='submit' disabled={busy || signer === null}>{busy ? 'Registering…' : 'Register'}</button>
      {signer === null && <p className='hint'>This node holds no registrar key: only a registrar’s node can register.</p>}
      {done !== null && <p role='status' className='note note-ok'>{done}</p>}
      <ErrorNote error={error} />
    </form>
  )
}
