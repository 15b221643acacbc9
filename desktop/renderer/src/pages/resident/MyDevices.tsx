// The devices this account funded: what each burned, what came back, what is held, and how long the
// light stays on from its usable funds at its current power.
import type { ReactNode } from 'react'
import { kwh, untilAbout, when } from '../../data/format.ts'
import { useDevices } from '../../data/hooks.tsx'
import type { Device } from '../../data/types.ts'

export function lightText (device: Device, now: number): string {
  const meter = device.meter
  if (device.frozen) return 'Frozen: the registrar must settle a conflict first'
  if (meter === null) return device.funds.usableNowWh > 0 ? 'Funded; its meter has not reported here yet' : 'No funds to use now'
  if (!meter.relay) return device.funds.usableNowWh > 0 ? `Off (${meter.reason})` : 'Off: no funds to use now'
  const until = untilAbout(device.funds.usableNowWh, meter.watts, now)
  return until === null ? 'On, drawing nothing right now' : `Light on ${until}`
}

export function MyDevices ({ me, now = Date.now }: { me: string, now?: () => number }): ReactNode {
  const mine = useDevices().flatMap(d => {
    const share = d.funds.funders.find(f => f.funder === me)
    return share === undefined ? [] : [{ device: d, share }]
  })
  return (
    <section className='card' aria-labelledby='my-devices-title'>
      <h2 id='my-devices-title'>Devices you fund</h2>
      {mine.length === 0
        ? <p className='muted'>You have not funded any device yet.</p>
        : (
          <table>
            <thead>
              <tr><th>Device</th><th className='num'>Given</th><th className='num'>Burned</th><th className='num'>Came back</th><th className='num'>Held now</th><th>Light</th></tr>
            </thead>
            <tbody>
              {mine.map(({ device, share }) => (
                <tr key={device.id}>
                  <td>{device.label}</td>
                  <td className='num'>{kwh(share.putWh)}</td>
                  <td className='num'>{kwh(share.burnedWh)}</td>
                  <td className='num'>{kwh(share.returnedWh)}</td>
                  <td className='num'>{kwh(share.heldWh)}</td>
                  <td>
                    {lightText(device, now())}
                    {device.funds.windows.filter(w => w.funder === me && w.state !== 'ended').map(w => (
                      <div key={`${w.from}-${w.until}`} className='small muted'>
                        {kwh(w.remainingWh)} {w.state === 'open' ? 'usable' : 'waiting'} from {when(w.from, now())} until {when(w.until, now())}
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          )}
    </section>
  )
}
